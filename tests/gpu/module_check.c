/*
 * tests/gpu/module_check.c: how libcompcoll.so comes to load its GPU module,
 * on a machine without a GPU, with a stand-in CUDA driver (stub_cuda.c).
 *
 * Run with libcompcoll.so preloaded, under mpiexec; argv[1] is the stub
 * libcuda.so.1.  In order, on every rank:
 *   1. host buffers, no driver loaded: calls succeed; neither the driver
 *      nor the module is mapped;
 *   2. the program loads the driver (the stub): host-buffer calls succeed;
 *      the library asks the driver where buffers live and nothing else;
 *      the module is still not mapped;
 *   3. a passthrough call (MPI_DOUBLE) on memory the driver calls device
 *      memory: the module is loaded (found beside the library in the build
 *      tree); staging needs a context, which the stub cannot give: the call
 *      fails with an error, on every rank, without hanging;
 *   4. a compressed call on such memory: it fails on every rank, without
 *      hanging (the ranks take part with zeros);
 *   5. host buffers again: the calls succeed and the sums are right (the
 *      ranks stayed in step);
 * and at no point did anything ask the stub for a context (cuInit,
 * cuCtxCreate, cuDevicePrimaryCtxRetain: 0 calls).
 * Verdicts are combined with PMPI; rank 0 prints them; exit 0 when all hold.
 */
#include <dlfcn.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"

static int rank, size, failed;

static void expect(int cond, const char *what)
{
    int all = 0;

    PMPI_Allreduce(&cond, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("# module_check: %s: %s\n", all ? "ok" : "FAILED", what);
        fflush(stdout);
    }
    failed |= !all;
}

/* A compressed call on host memory; the sum is checked where it is exact
 * (g = 1 everywhere: every returned element is a whole multiple of size). */
static int host_call(int n)
{
    float *g = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    int    i, good;

    for (i = 0; i < n; i++) {
        g[i] = 1.0f;
    }
    good = MPI_Allreduce(g, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) ==
           MPI_SUCCESS;
    for (i = 0; good && i < n; i++) {
        good = out[i] == 0.0f || fmodf(out[i], (float)size) == 0.0f;
    }
    free(g);
    free(out);
    return good;
}

int main(int argc, char **argv)
{
    unsigned long (*calls)(const char *);
    void (*pretend)(const void *, size_t);
    const int n   = 5000;
    double   *dev = malloc(1000 * sizeof(double));
    float    *fdev;
    void     *stub;
    int       rc;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (argc < 2) {
        fprintf(stderr, "usage: module_check STUB_LIBCUDA\n");
        PMPI_Abort(MPI_COMM_WORLD, 2);
    }

    expect(maps_has("libcompcoll.so") == 1, "libcompcoll.so is preloaded");
    expect(host_call(n), "1. host buffers without a driver: call succeeds");
    expect(maps_has("libcuda") == 0 && maps_has("libcompcoll_cuda") == 0,
           "1. neither the driver nor the GPU module is mapped");

    stub = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (stub == NULL) {
        fprintf(stderr, "module_check: %s\n", dlerror());
        PMPI_Abort(MPI_COMM_WORLD, 2);
    }
    *(void **)&calls   = dlsym(stub, "stub_cuda_calls");
    *(void **)&pretend = dlsym(stub, "stub_cuda_pretend");
    expect(host_call(n), "2. host buffers with the driver loaded: succeeds");
    expect(calls("cuPointerGetAttributes") > 0,
           "2. the library asked the driver where the buffers live");
    expect(maps_has("libcompcoll_cuda") == 0,
           "2. no device buffer yet: the GPU module is not loaded");
    expect(calls("cuCtxPushCurrent_v2") + calls("cuDeviceGet") +
                   calls("cuDevicePrimaryCtxGetState") == 0,
           "2. nothing but the pointer query was asked of the driver");

    pretend(dev, 1000 * sizeof(double));
    rc = MPI_Allreduce(MPI_IN_PLACE, dev, 1000, MPI_DOUBLE, MPI_SUM,
                       MPI_COMM_WORLD);
    expect(maps_has("libcompcoll_cuda") == 1,
           "3. a device buffer: the GPU module is loaded");
    expect(rc != MPI_SUCCESS,
           "3. passthrough with a device buffer and no usable GPU fails");

    fdev = malloc(n * sizeof(float));
    pretend(fdev, n * sizeof(float));
    rc = MPI_Allreduce(MPI_IN_PLACE, fdev, n, MPI_FLOAT, MPI_SUM,
                       MPI_COMM_WORLD);
    expect(rc != MPI_SUCCESS,
           "4. compressed call with a device buffer and no usable GPU fails");
    pretend(NULL, 0);

    expect(host_call(n), "5. host buffers afterwards: succeeds, in step");
    expect(host_call(n + 1), "5. a new tensor afterwards: succeeds");
    expect(calls("cuInit") + calls("cuCtxCreate_v2") +
                   calls("cuDevicePrimaryCtxRetain") == 0,
           "no context was asked for (cuInit, cuCtxCreate, "
           "cuDevicePrimaryCtxRetain)");
    MPI_Finalize();
    free(dev);
    free(fdev);
    return failed ? 1 : 0;
}
