/*
 * bench/gpu/gpu_bench.c: throughput of the CUDA module's passes against the
 * device's own copy bandwidth, on one GPU, without communication.
 *
 *   gpu_bench [--module PATH] [--sizes N,N,...] [--ratio R] [--beta B]
 *             [--repeats N] [--csv FILE]
 *
 * For each size n (default 1M, 4M, 16M, 25M, 64M, 100M floats), k = n/R:
 *   copy     cudaMemcpy device to device of 8n bytes (m and g's size): the
 *            reference, counted as 16n bytes moved (read + write);
 *   fused    the leader's chunk pass (select + compress in one sweep): reads
 *            m and g, writes m and out: 16n bytes;
 *   compress the follower's pass with given indices: 16n bytes (+ gathers);
 *   exact    the exact top-k selection (radix select + compaction);
 *   sample   the sampled selection (same result as exact);
 *   step_chunk, step_exact  one CLT-k step as a rank runs it on the GPU,
 *            less the communication: selection, compression and the
 *            scatter of k summed values (what bench/gpu/torch_cltk.py times
 *            in PyTorch).
 * Times are medians over the repeats of host wall time around the
 * operation and a stream synchronisation (launch costs included).  GB/s
 * counts the bytes above; "of copy" is that over the copy's GB/s.  The
 * CSV (default bench/results/gpu_kernels.csv, appended) carries the device
 * name.
 */
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compcoll_kernels.h"

#ifndef COMPCOLL_BUILD_MODULE
#define COMPCOLL_BUILD_MODULE "gpu_kernels/libcompcoll_cuda.so"
#endif

#define CK(_call)                                                            \
    do {                                                                     \
        cudaError_t _e = (_call);                                            \
        if (_e != cudaSuccess) {                                             \
            fprintf(stderr, "gpu_bench: %s: %s\n", #_call,                   \
                    cudaGetErrorString(_e));                                 \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#define MOD(_call)                                                           \
    do {                                                                     \
        if ((_call) != COMPCOLL_OK) {                                        \
            fprintf(stderr, "gpu_bench: %s failed\n", #_call);               \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

static const compcoll_gpu_module_t *mod;
static compcoll_gpu_stream_t       *S;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof(double), by_double);
    return (n % 2) ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void log_cb(int level, const char *file, int line, const char *msg)
{
    fprintf(stderr, "gpu_bench: module: %s:%d %s\n", file, line, msg);
}

typedef struct {
    float    *m, *g, *out, *vals, *m0, *copy;
    uint32_t *idx;
    size_t    n, k;
    float     beta;
} bench_t;

enum { OP_COPY, OP_FUSED, OP_COMPRESS, OP_EXACT, OP_SAMPLE, OP_STEP_CHUNK,
       OP_STEP_EXACT, OP_COUNT };
static const char *op_name[OP_COUNT] = {"copy", "fused", "compress", "exact",
                                        "sample", "step_chunk", "step_exact"};

static void run_op(bench_t *b, int op)
{
    switch (op) {
    case OP_COPY:
        CK(cudaMemcpy(b->copy, b->m0, 2 * b->n * sizeof(float),
                      cudaMemcpyDeviceToDevice));
        return;
    case OP_FUSED:
        MOD(mod->chunk_compress(S, b->m, b->g, b->out, b->n, b->k, b->beta,
                                b->idx, b->vals));
        break;
    case OP_COMPRESS:
        MOD(mod->compress(S, b->m, b->g, b->out, b->n, b->idx, b->k, b->beta,
                          b->vals));
        break;
    case OP_EXACT:
        MOD(mod->select(S, COMPCOLL_SELECT_EXACT, b->m, b->g, b->n, b->k,
                        b->idx));
        break;
    case OP_SAMPLE:
        MOD(mod->select(S, COMPCOLL_SELECT_SAMPLE, b->m, b->g, b->n, b->k,
                        b->idx));
        break;
    case OP_STEP_CHUNK:
        MOD(mod->chunk_compress(S, b->m, b->g, b->out, b->n, b->k, b->beta,
                                b->idx, b->vals));
        MOD(mod->scatter(S, b->out, b->idx, b->vals, b->k));
        break;
    case OP_STEP_EXACT:
        MOD(mod->select(S, COMPCOLL_SELECT_EXACT, b->m, b->g, b->n, b->k,
                        b->idx));
        MOD(mod->compress(S, b->m, b->g, b->out, b->n, b->idx, b->k, b->beta,
                          b->vals));
        MOD(mod->scatter(S, b->out, b->idx, b->vals, b->k));
        break;
    }
    MOD(mod->stream_sync(S));
}

/* bytes an operation must move at the least */
static double op_bytes(const bench_t *b, int op)
{
    switch (op) {
    case OP_EXACT:
    case OP_SAMPLE:
        return 8.0 * (double)b->n; /* read m and g once */
    default:
        return 16.0 * (double)b->n; /* read m, g; write m, out */
    }
}

int main(int argc, char **argv)
{
    const char *path = COMPCOLL_BUILD_MODULE, *csv = NULL;
    char        sizes_buf[512] = "1000000,4000000,16000000,25000000,64000000,100000000";
    char       *tok, *save = NULL;
    unsigned    ratio = 100;
    float       beta = 1.0f;
    int         repeats = 20, i, op;
    compcoll_gpu_module_get_fn get;
    compcoll_mem_info_t where = {COMPCOLL_MEM_DEVICE, 0, NULL};
    struct cudaDeviceProp prop;
    FILE       *out;
    void       *h;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--module") && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            snprintf(sizes_buf, sizeof(sizes_buf), "%s", argv[++i]);
        } else if (!strcmp(argv[i], "--ratio") && i + 1 < argc) {
            ratio = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--beta") && i + 1 < argc) {
            beta = strtof(argv[++i], NULL);
        } else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) {
            repeats = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
            csv = argv[++i];
        } else {
            fprintf(stderr, "usage: gpu_bench [--module PATH] [--sizes N,...] "
                    "[--ratio R] [--beta B] [--repeats N] [--csv FILE]\n");
            return 2;
        }
    }
    if (repeats < 1 || ratio < 1) {
        fprintf(stderr, "gpu_bench: --repeats and --ratio must be positive\n");
        return 2;
    }
    CK(cudaSetDevice(0));
    CK(cudaFree(NULL));
    CK(cudaGetDeviceProperties(&prop, 0));
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "gpu_bench: %s\n", dlerror());
        return 1;
    }
    *(void **)&get = dlsym(h, COMPCOLL_GPU_MODULE_SYMBOL);
    mod = get != NULL ? get(COMPCOLL_GPU_ABI_VERSION, log_cb) : NULL;
    if (mod == NULL) {
        fprintf(stderr, "gpu_bench: the module did not start\n");
        return 1;
    }
    MOD(mod->stream_create(&where, &S));
    out = csv != NULL ? fopen(csv, "a") : NULL;
    if (csv != NULL && out == NULL) {
        perror(csv);
        return 1;
    }
    if (out != NULL && ftell(out) == 0) {
        fprintf(out, "device,n,k,ratio,op,seconds,gbps,copy_gbps,of_copy\n");
    }
    printf("# %s (sm_%d%d, %d SMs), %s; ratio %u, beta %g, median of %d\n",
           prop.name, prop.major, prop.minor, prop.multiProcessorCount,
           mod->description, ratio, beta, repeats);
    printf("%12s %10s %-11s %12s %9s %8s\n", "n", "k", "op", "seconds", "GB/s",
           "of copy");
    for (tok = strtok_r(sizes_buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        bench_t b;
        double  copy_gbps = 0, *t = malloc((size_t)repeats * sizeof(double));
        float  *host;
        size_t  j;

        memset(&b, 0, sizeof(b));
        b.n    = strtoull(tok, NULL, 10);
        b.k    = (b.n + ratio - 1) / ratio;
        b.beta = beta;
        if (b.n == 0 || b.n > UINT32_MAX) {
            continue;
        }
        host = malloc(b.n * sizeof(float));
        for (j = 0; j < b.n; j++) {
            host[j] = (float)((double)((j * 2654435761u) % 100003u) / 50001.5 -
                              1.0);
        }
        CK(cudaMalloc((void **)&b.m, b.n * sizeof(float)));
        CK(cudaMalloc((void **)&b.g, b.n * sizeof(float)));
        CK(cudaMalloc((void **)&b.out, b.n * sizeof(float)));
        CK(cudaMalloc((void **)&b.m0, 2 * b.n * sizeof(float)));
        CK(cudaMalloc((void **)&b.copy, 2 * b.n * sizeof(float)));
        CK(cudaMalloc((void **)&b.vals, b.k * sizeof(float)));
        CK(cudaMalloc((void **)&b.idx, b.k * sizeof(uint32_t)));
        CK(cudaMemcpy(b.g, host, b.n * sizeof(float), cudaMemcpyHostToDevice));
        for (j = 0; j < b.n; j++) {
            host[j] *= 0.25f;
        }
        CK(cudaMemcpy(b.m, host, b.n * sizeof(float), cudaMemcpyHostToDevice));
        CK(cudaMemset(b.m0, 0, 2 * b.n * sizeof(float)));
        /* the follower's pass needs valid indices: the leader's */
        MOD(mod->select(S, COMPCOLL_SELECT_CHUNK, b.m, b.g, b.n, b.k, b.idx));
        MOD(mod->stream_sync(S));
        for (op = 0; op < OP_COUNT; op++) {
            double sec, gbps;
            int    r;

            run_op(&b, op); /* warm-up: lazy module loading, pool growth */
            for (r = 0; r < repeats; r++) {
                double t0 = now();

                run_op(&b, op);
                t[r] = now() - t0;
            }
            sec  = median(t, repeats);
            gbps = op_bytes(&b, op) / sec * 1e-9;
            if (op == OP_COPY) {
                copy_gbps = gbps;
            }
            printf("%12zu %10zu %-11s %12.6f %9.1f %7.0f%%\n", b.n, b.k,
                   op_name[op], sec, gbps, 100.0 * gbps / copy_gbps);
            if (out != NULL) {
                fprintf(out, "\"%s\",%zu,%zu,%u,%s,%.9f,%.3f,%.3f,%.4f\n",
                        prop.name, b.n, b.k, ratio, op_name[op], sec, gbps,
                        copy_gbps, gbps / copy_gbps);
            }
        }
        fflush(stdout);
        cudaFree(b.m);
        cudaFree(b.g);
        cudaFree(b.out);
        cudaFree(b.m0);
        cudaFree(b.copy);
        cudaFree(b.vals);
        cudaFree(b.idx);
        free(host);
        free(t);
    }
    if (out != NULL) {
        fclose(out);
    }
    mod->stream_destroy(S);
    mod->finalize();
    return 0;
}
