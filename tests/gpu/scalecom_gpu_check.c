/*
 * tests/gpu/scalecom_gpu_check.c: tests/mpi/scalecom_check.c with the
 * buffers of every MPI_Allreduce it makes in device memory.
 *
 * The program and its oracle are scalecom_check.c's, unchanged: its calls
 * to MPI_Allreduce go through gpu_allreduce below, which copies the host
 * buffers into device buffers (one per host buffer, so buffer identity and
 * COMPCOLL_KEY=address behave as with host memory; --fresh gets fresh ones),
 * calls MPI_Allreduce (the preloaded library) on the device buffers and
 * copies the result back for the oracle, which keeps using PMPI on host
 * memory.  It also checks that the send buffer came back unchanged.  Calls
 * below COMPCOLL_MIN_COUNT exercise the staged passthrough.
 *
 * Each rank uses device (node-local rank mod device count).
 *
 * Built with STUB_DEVICE it is scalecom_stub_check, for machines without a
 * GPU: the device buffers come from one arena that the stand-in driver
 * ($TEST_STUB_LIBCUDA, stub_cuda.c) reports as device memory, copies are
 * memcpy, and the library, which finds the stand-in module (stub_module.c)
 * beside it, runs its whole device path with the host kernels: the device
 * protocol against the oracle, on any machine.
 */
#ifdef STUB_DEVICE
#include "stub_arena.h"
#else
#include <cuda_runtime_api.h>
#endif
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gpu_allreduce(const void *sbuf, void *rbuf, int count,
                         MPI_Datatype dt, MPI_Op op, MPI_Comm comm);

#define MPI_Allreduce gpu_allreduce
#include "../mpi/scalecom_check.c"
#undef MPI_Allreduce

static int gpu_ready;

#ifdef STUB_DEVICE

static void stub_die(const char *what)
{
    fprintf(stderr, "# rank %d: scalecom_stub_check: %s\n", world_rank,
            what);
    PMPI_Abort(MPI_COMM_WORLD, 3);
    exit(3);
}

static void *dev_alloc(size_t bytes)
{
    void *p = stub_arena_alloc(bytes);

    if (p == NULL) {
        stub_die("the stand-in device arena is full");
    }
    return p;
}

static void dev_copy(void *dst, const void *src, size_t bytes,
                     const char *what)
{
    (void)what;
    memcpy(dst, src, bytes);
}

static void gpu_setup(void)
{
    const char *why = stub_arena_open();

    if (why != NULL) {
        stub_die(why);
    }
    gpu_ready = 1;
}

#else

static void gpu_die(const char *what, cudaError_t e)
{
    fprintf(stderr, "# rank %d: scalecom_gpu_check: %s: %s\n", world_rank,
            what, cudaGetErrorString(e));
    PMPI_Abort(MPI_COMM_WORLD, 3);
    exit(3);
}

static void *dev_alloc(size_t bytes)
{
    void       *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 4);

    if (e != cudaSuccess) {
        gpu_die("cudaMalloc", e);
    }
    return p;
}

static void dev_copy(void *dst, const void *src, size_t bytes,
                     const char *what)
{
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyDefault);

    if (e != cudaSuccess) {
        gpu_die(what, e);
    }
}

static void gpu_setup(void)
{
    MPI_Comm    node;
    int         local = 0, ndev = 0;
    cudaError_t e;

    PMPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                         MPI_INFO_NULL, &node);
    PMPI_Comm_rank(node, &local);
    PMPI_Comm_free(&node);
    e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        gpu_die("no CUDA device", e);
    }
    e = cudaSetDevice(local % ndev);
    if (e != cudaSuccess) {
        gpu_die("cudaSetDevice", e);
    }
    gpu_ready = 1;
}

#endif

typedef struct {
    const void *host;
    size_t      bytes;
    void       *dev;
} gpu_map_t;

static gpu_map_t *gpu_map;
static size_t     gpu_map_len, gpu_map_cap;

/* The device twin of a host buffer: the same one for the same buffer. */
static void *gpu_twin(const void *host, size_t bytes)
{
    size_t i;

    for (i = 0; i < gpu_map_len; i++) {
        if (gpu_map[i].host == host && gpu_map[i].bytes >= bytes) {
            return gpu_map[i].dev;
        }
    }
    if (gpu_map_len == gpu_map_cap) {
        gpu_map_cap = gpu_map_cap ? 2 * gpu_map_cap : 64;
        gpu_map     = realloc(gpu_map, gpu_map_cap * sizeof(*gpu_map));
        if (gpu_map == NULL) {
            die("out of memory");
        }
    }
    gpu_map[gpu_map_len].host  = host;
    gpu_map[gpu_map_len].bytes = bytes;
    gpu_map[gpu_map_len].dev   = dev_alloc(bytes);
    return gpu_map[gpu_map_len++].dev;
}

static int gpu_allreduce(const void *sbuf, void *rbuf, int count,
                         MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    size_t bytes;
    int    tsize = 0, rc;
    void  *ds = NULL, *dr;

    if (!gpu_ready) {
        gpu_setup();
    }
    PMPI_Type_size(dt, &tsize);
    bytes = (size_t)count * (size_t)tsize;
    dr    = gpu_twin(rbuf, bytes);
    /* the receive buffer as the host has it: the in-place gradient, or the
     * poison the oracle expects to be overwritten */
    dev_copy(dr, rbuf, bytes, "cudaMemcpy to the device");
    if (sbuf != MPI_IN_PLACE) {
        ds = gpu_twin(sbuf, bytes);
        dev_copy(ds, sbuf, bytes, "cudaMemcpy to the device");
    }
    rc = MPI_Allreduce(ds != NULL ? ds : MPI_IN_PLACE, dr, count, dt, op,
                       comm);
    dev_copy(rbuf, dr, bytes, "cudaMemcpy to the host");
    if (ds != NULL && bytes > 0) {
        void *back = xmalloc(bytes);

        dev_copy(back, ds, bytes, "cudaMemcpy to the host");
        if (memcmp(back, sbuf, bytes) != 0) {
            fail("MPI_Allreduce of %d elements changed its device send buffer",
                 count);
        }
        free(back);
    }
    return rc;
}
