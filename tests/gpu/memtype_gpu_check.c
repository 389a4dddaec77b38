/*
 * tests/gpu/memtype_gpu_check.c: where the buffers live does not change the
 * result.
 *
 * A plain MPI program run with libcompcoll.so preloaded (the runner sets
 * COMPCOLL_MIN_COUNT=64).  Compressed calls: the same sequence of gradients
 * goes through seven duplicates of MPI_COMM_WORLD, one per placement of the
 * buffers (host/host, device/device, host/device, device/host,
 * managed/managed, device in place, host in place); every output must have
 * the bits of the host/host one, step after step (the error-feedback memory
 * included, since it shapes the later steps).  Passthrough calls with device
 * buffers (MPI_DOUBLE, MPI_INT/MPI_MAX in place, small MPI_FLOAT, a strided
 * derived datatype whose gaps must keep their contents, mixed host and
 * device buffers) must give PMPI_Allreduce's bits on host copies.
 * Verdicts combined with PMPI; rank 0 prints them; exit 0 when all hold.
 */
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NVAR 7
enum { V_HH, V_DD, V_HD, V_DH, V_MM, V_DIN, V_HIN };
static const char *vname[NVAR] = {"host/host", "device/device",
                                  "host/device", "device/host",
                                  "managed/managed", "device in place",
                                  "host in place"};

static int rank, failed;

#define CK(_call)                                                            \
    do {                                                                     \
        cudaError_t _e = (_call);                                            \
        if (_e != cudaSuccess) {                                             \
            fprintf(stderr, "# rank %d: %s: %s\n", rank, #_call,             \
                    cudaGetErrorString(_e));                                 \
            PMPI_Abort(MPI_COMM_WORLD, 3);                                   \
        }                                                                    \
    } while (0)

static void expect(int cond, const char *what)
{
    int all = 0;

    PMPI_Allreduce(&cond, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("# memtype_gpu_check: %s: %s\n", all ? "ok" : "FAILED", what);
        fflush(stdout);
    }
    failed |= !all;
}

static void *dev_alloc(size_t bytes, int managed)
{
    void *p = NULL;

    if (managed) {
        CK(cudaMallocManaged(&p, bytes, cudaMemAttachGlobal));
    } else {
        CK(cudaMalloc(&p, bytes));
    }
    return p;
}

static void put(void *dst, const void *src, size_t bytes)
{
    CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

static void compressed_calls(int n, int steps)
{
    const size_t bytes = (size_t)n * sizeof(float);
    MPI_Comm     comm[NVAR];
    float       *sb[NVAR], *rb[NVAR];
    float       *g = malloc(bytes), *ref = malloc(bytes), *got = malloc(bytes);
    int          v, s, i, bad[NVAR] = {0};
    char         what[160];

    for (v = 0; v < NVAR; v++) {
        const int d_send = v == V_DD || v == V_DH || v == V_DIN;
        const int d_recv = v == V_DD || v == V_HD || v == V_DIN;

        MPI_Comm_dup(MPI_COMM_WORLD, &comm[v]);
        sb[v] = (v == V_MM) ? dev_alloc(bytes, 1)
                : d_send    ? dev_alloc(bytes, 0)
                            : malloc(bytes);
        rb[v] = (v == V_MM) ? dev_alloc(bytes, 1)
                : d_recv    ? dev_alloc(bytes, 0)
                            : malloc(bytes);
    }
    for (s = 0; s < steps; s++) {
        for (i = 0; i < n; i++) {
            uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(s * 40503u) ^
                         (uint32_t)(rank * 977u);

            g[i] = ((float)(h % 20001) - 10000.0f) / 1024.0f;
        }
        for (v = 0; v < NVAR; v++) {
            const int inplace = v == V_DIN || v == V_HIN;
            float    *out     = inplace ? sb[v] : rb[v];

            put(sb[v], g, bytes);
            if (!inplace) {
                for (i = 0; i < n; i++) {
                    got[i] = -777.0f;
                }
                put(rb[v], got, bytes);
            }
            if (MPI_Allreduce(inplace ? MPI_IN_PLACE : sb[v], out, n,
                              MPI_FLOAT, MPI_SUM, comm[v]) != MPI_SUCCESS) {
                bad[v] = 1;
            }
            put(v == V_HH ? ref : got, out, bytes);
            if (v != V_HH && memcmp(ref, got, bytes) != 0) {
                for (i = 0; i < n && memcmp(&ref[i], &got[i], 4) == 0; i++) {
                }
                if (!bad[v]) {
                    fprintf(stderr, "# rank %d step %d %s: out[%d] = %.9g, "
                            "host/host has %.9g\n", rank, s, vname[v], i,
                            got[i], ref[i]);
                }
                bad[v] = 1;
            }
        }
    }
    for (v = 1; v < NVAR; v++) {
        snprintf(what, sizeof(what), "compressed, %d elements, %d steps: %s "
                 "gives the bits of host/host", n, steps, vname[v]);
        expect(!bad[v], what);
    }
    for (v = 0; v < NVAR; v++) {
        const int d_send = v == V_DD || v == V_DH || v == V_DIN;
        const int d_recv = v == V_DD || v == V_HD || v == V_DIN;

        if (v == V_MM || d_send) {
            cudaFree(sb[v]);
        } else {
            free(sb[v]);
        }
        if (v == V_MM || d_recv) {
            cudaFree(rb[v]);
        } else {
            free(rb[v]);
        }
        MPI_Comm_free(&comm[v]);
    }
    free(g);
    free(ref);
    free(got);
}

/* One passthrough case: PMPI on host copies is the oracle. */
static void pass_case(const char *what, MPI_Datatype dt, MPI_Op op, int count,
                      size_t span, int d_send, int d_recv, int inplace)
{
    unsigned char *hs = malloc(span), *hr = malloc(span), *want = malloc(span);
    unsigned char *got = malloc(span);
    void          *s, *r;
    size_t         i;
    int            rc;

    for (i = 0; i < span; i++) {
        hs[i] = (unsigned char)(i * 13 + (size_t)rank * 7);
        hr[i] = (unsigned char)(0xa5 ^ i);
    }
    /* plain numbers, so that MPI_SUM is exact in every datatype */
    if (dt == MPI_DOUBLE || dt == MPI_FLOAT) {
        for (i = 0; i + 8 <= span; i += (dt == MPI_DOUBLE) ? 8 : 4) {
            if (dt == MPI_DOUBLE) {
                double x = (double)((i / 8) % 97) + rank;

                memcpy(hs + i, &x, 8);
            } else {
                float x = (float)((i / 4) % 97) + rank;

                memcpy(hs + i, &x, 4);
            }
        }
    }
    memcpy(want, inplace ? hs : hr, span);
    PMPI_Allreduce(inplace ? MPI_IN_PLACE : hs, want, count, dt, op,
                   MPI_COMM_WORLD);
    s = d_send ? dev_alloc(span, 0) : malloc(span);
    r = d_recv ? dev_alloc(span, 0) : malloc(span);
    put(s, hs, span);
    put(r, inplace ? hs : hr, span);
    rc = MPI_Allreduce(inplace ? MPI_IN_PLACE : s, inplace ? s : r, count, dt,
                       op, MPI_COMM_WORLD);
    put(got, inplace ? s : r, span);
    expect(rc == MPI_SUCCESS && memcmp(got, want, span) == 0, what);
    if (d_send) {
        cudaFree(s);
    } else {
        free(s);
    }
    if (d_recv) {
        cudaFree(r);
    } else {
        free(r);
    }
    free(hs);
    free(hr);
    free(want);
    free(got);
}

int main(int argc, char **argv)
{
    MPI_Comm     node;
    MPI_Datatype vec;
    int          local = 0, ndev = 0, size;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    PMPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                         MPI_INFO_NULL, &node);
    PMPI_Comm_rank(node, &local);
    PMPI_Comm_free(&node);
    CK(cudaGetDeviceCount(&ndev));
    CK(cudaSetDevice(local % ndev));

    compressed_calls(20011, 6);
    compressed_calls(100003, 3); /* past the sampling threshold */

    pass_case("passthrough MPI_DOUBLE sum, device buffers", MPI_DOUBLE,
              MPI_SUM, 777, 777 * 8, 1, 1, 0);
    pass_case("passthrough MPI_INT max, device buffer in place", MPI_INT,
              MPI_MAX, 1000, 4000, 1, 1, 1);
    pass_case("passthrough small MPI_FLOAT sum, device buffers", MPI_FLOAT,
              MPI_SUM, 10, 40, 1, 1, 0);
    pass_case("passthrough MPI_DOUBLE, host send and device receive buffer",
              MPI_DOUBLE, MPI_SUM, 333, 333 * 8, 0, 1, 0);
    pass_case("passthrough MPI_DOUBLE, device send and host receive buffer",
              MPI_DOUBLE, MPI_SUM, 333, 333 * 8, 1, 0, 0);
    /* 4 blocks of 2 floats, stride 3: gaps of one float that must survive */
    MPI_Type_vector(4, 2, 3, MPI_FLOAT, &vec);
    MPI_Type_commit(&vec);
    pass_case("passthrough strided datatype, device buffers, gaps kept", vec,
              MPI_SUM, 5, (4 * 3 - 1) * 4 + (5 - 1) * 11 * 4, 1, 1, 0);
    MPI_Type_free(&vec);
    if (rank == 0) {
        printf("# memtype_gpu_check: %s (P=%d)\n", failed ? "FAILED" : "ok",
               size);
    }
    MPI_Finalize();
    return failed ? 1 : 0;
}
