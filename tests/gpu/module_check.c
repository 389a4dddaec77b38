/*
 * tests/gpu/module_check.c: how libcompcoll.so comes to load its GPU module,
 * and how it stages device buffers, on a machine without a GPU, with a
 * stand-in CUDA driver (stub_cuda.c).
 *
 * Run with libcompcoll.so preloaded, under mpiexec; argv[1] is the stub
 * libcuda.so.1, argv[2] the mode.  In order, on every rank:
 *   1. host buffers, no driver loaded: calls succeed; neither the driver
 *      nor the module is mapped;
 *   2. the program loads the driver (the stub): host-buffer calls succeed;
 *      the library asks the driver where buffers live and nothing else;
 *      the module is still not mapped;
 * then, by mode:
 *   module (the library finds the module beside it in the build tree):
 *   3. a compressed call on memory the driver calls device memory: the
 *      module is loaded; staging needs a context, which the stub cannot
 *      give: the call fails on every rank, without hanging (the ranks take
 *      part with zeros);
 *   4. host buffers again: the calls succeed and the sums are right (the
 *      ranks stayed in step);
 *   no-module (the library alone in a directory of its own: no module):
 *   3. a passthrough call (MPI_DOUBLE) on "device" memory succeeds with
 *      PMPI's sums, staged by the driver's cuMemcpy in the buffer's context
 *      (pushed, then popped); the module is not mapped;
 *   4. compressed calls on "device" memory (run with WARMUP=1): the first,
 *      dense, gives PMPI's sums of the same values in host memory; the
 *      second succeeds and every element is a multiple of the ranks;
 *   5. host buffers again succeed;
 *   abort (module present): a passthrough call on "device" memory that
 *      this rank cannot stage (no context) ends the job rather than give
 *      the others a result with a stand-in in it; run-module.sh checks the
 *      exit status and the message;
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
static int (*ctx_depth)(void);

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
        if (!good) {
            printf("# rank %d: host call of %d: element %d is %g\n", rank, n,
                   i, (double)out[i]);
        }
    }
    free(g);
    free(out);
    return good;
}

/* The no-module mode's steps 3 and 4 (see the top): all on this rank.  n
 * is a size no call has had yet: a new tensor, whose first call is dense. */
static int no_module(double *dev, int n,
                     unsigned long (*calls)(const char *),
                     void (*pretend)(const void *, size_t))
{
    double *want = malloc(1000 * sizeof(double));
    float  *g = malloc(n * sizeof(float)), *fdev = malloc(n * sizeof(float));
    float  *fwant = malloc(n * sizeof(float));
    int     i, good = 1;

    srand(7 + (unsigned)rank);
    for (i = 0; i < 1000; i++) {
        dev[i] = (double)rand() / RAND_MAX - 0.5;
    }
    PMPI_Allreduce(dev, want, 1000, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    pretend(dev, 1000 * sizeof(double));
    good &= MPI_Allreduce(MPI_IN_PLACE, dev, 1000, MPI_DOUBLE, MPI_SUM,
                          MPI_COMM_WORLD) == MPI_SUCCESS;
    good &= memcmp(dev, want, 1000 * sizeof(double)) == 0;
    good &= calls("cuMemcpy") >= 2;
    /* in the buffer's context, left as found */
    good &= calls("cuCtxPushCurrent_v2") >= 2 &&
            calls("cuCtxPopCurrent_v2") == calls("cuCtxPushCurrent_v2") &&
            ctx_depth() == 0;
    good &= maps_has("libcompcoll_cuda") == 0;
    if (!good) {
        printf("# rank %d: passthrough staged by the driver: wrong\n", rank);
    }

    for (i = 0; i < n; i++) {
        g[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    PMPI_Allreduce(g, fwant, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    memcpy(fdev, g, n * sizeof(float));
    pretend(fdev, n * sizeof(float));
    good &= MPI_Allreduce(MPI_IN_PLACE, fdev, n, MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD) == MPI_SUCCESS;
    for (i = 0; good && i < n; i++) {
        good = fabsf(fdev[i] - fwant[i]) <= 1e-6f * (float)size;
    }
    if (!good) {
        printf("# rank %d: dense call staged by the driver: wrong at %d\n",
               rank, i - 1);
    }
    for (i = 0; i < n; i++) {
        fdev[i] = 1.0f;
    }
    good &= MPI_Allreduce(MPI_IN_PLACE, fdev, n, MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD) == MPI_SUCCESS;
    for (i = 0; good && i < n; i++) {
        good = fmodf(fdev[i], (float)size) == 0.0f;
    }
    good &= maps_has("libcompcoll_cuda") == 0;
    pretend(NULL, 0);
    free(want);
    free(g);
    free(fdev);
    free(fwant);
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
    const char *mode;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (argc < 3) {
        fprintf(stderr, "usage: module_check STUB_LIBCUDA "
                        "module|no-module|abort\n");
        PMPI_Abort(MPI_COMM_WORLD, 2);
    }
    mode = argv[2];

    expect(maps_has("libcompcoll.so") == 1, "libcompcoll.so is preloaded");
    expect(host_call(n), "1. host buffers without a driver: call succeeds");
    expect(maps_has("libcuda") == 0 && maps_has("libcompcoll_cuda") == 0,
           "1. neither the driver nor the GPU module is mapped");

    stub = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (stub == NULL) {
        fprintf(stderr, "module_check: %s\n", dlerror());
        PMPI_Abort(MPI_COMM_WORLD, 2);
    }
    *(void **)&calls     = dlsym(stub, "stub_cuda_calls");
    *(void **)&pretend   = dlsym(stub, "stub_cuda_pretend");
    *(void **)&ctx_depth = dlsym(stub, "stub_cuda_ctx_depth");
    expect(host_call(n), "2. host buffers with the driver loaded: succeeds");
    expect(calls("cuPointerGetAttributes") > 0,
           "2. the library asked the driver where the buffers live");
    expect(maps_has("libcompcoll_cuda") == 0,
           "2. no device buffer yet: the GPU module is not loaded");
    expect(calls("cuCtxPushCurrent_v2") + calls("cuDeviceGet") +
                   calls("cuDevicePrimaryCtxGetState") == 0,
           "2. nothing but the pointer query was asked of the driver");

    if (strcmp(mode, "module") == 0) {
        fdev = malloc(n * sizeof(float));
        pretend(fdev, n * sizeof(float));
        rc = MPI_Allreduce(MPI_IN_PLACE, fdev, n, MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD);
        expect(maps_has("libcompcoll_cuda") == 1,
               "3. a device buffer: the GPU module is loaded");
        expect(rc != MPI_SUCCESS,
               "3. compressed call with a device buffer and no usable GPU "
               "fails");
        pretend(NULL, 0);
        free(fdev);
        expect(host_call(n), "4. host buffers afterwards: succeeds, in step");
        expect(host_call(n + 1), "4. a new tensor afterwards: succeeds");
    } else if (strcmp(mode, "no-module") == 0) {
        expect(no_module(dev, n + 3, calls, pretend),
               "3-4. staged by the driver");
        expect(host_call(n + 1),
               "5. host buffers afterwards (a new tensor): succeeds");
    } else if (strcmp(mode, "abort") == 0) {
        pretend(dev, 1000 * sizeof(double));
        MPI_Allreduce(MPI_IN_PLACE, dev, 1000, MPI_DOUBLE, MPI_SUM,
                      MPI_COMM_WORLD);
        printf("# module_check: FAILED: rank %d returned from a passthrough "
               "call it could not stage\n", rank);
        return 1;
    } else {
        fprintf(stderr, "module_check: unknown mode %s\n", mode);
        PMPI_Abort(MPI_COMM_WORLD, 2);
    }
    expect(calls("cuInit") + calls("cuCtxCreate_v2") +
                   calls("cuDevicePrimaryCtxRetain") == 0,
           "no context was asked for (cuInit, cuCtxCreate, "
           "cuDevicePrimaryCtxRetain)");
    MPI_Finalize();
    free(dev);
    return failed ? 1 : 0;
}
