/*
 * tests/gpu/cpu_only_check.c: a CPU-only job never loads CUDA.
 *
 * A plain MPI program, run with libcompcoll.so preloaded: compressed calls
 * (out of place and in place), passthrough calls (MPI_DOUBLE, small
 * counts), then MPI_Finalize.  Before and after MPI_Finalize no CUDA driver,
 * CUDA runtime, NVIDIA library or GPU module may be mapped into the
 * process; the library itself must be.  Each rank exits 1 when its check
 * fails (mpiexec then fails); rank 0 prints a summary.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "maps.h"

static const char *forbidden[] = {"libcuda", "libnvidia", "libcompcoll_cuda",
                                  "libnvrtc", "libcublas"};

static int check(int rank, const char *when)
{
    size_t i;
    int    bad = 0;

    if (maps_has("libcompcoll.so") != 1) {
        fprintf(stderr, "# rank %d %s: libcompcoll.so is not mapped: the "
                "test must run with it preloaded\n", rank, when);
        bad = 1;
    }
    for (i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        if (maps_has(forbidden[i]) != 0) {
            fprintf(stderr, "# rank %d %s: %s is mapped into a CPU-only "
                    "job\n", rank, when, forbidden[i]);
            bad = 1;
        }
    }
    return bad;
}

int main(int argc, char **argv)
{
    const int n = 20000;
    float    *g = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    double    d[100], dsum[100];
    int       rank = 0, i, step, bad = 0, anybad = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    for (step = 0; step < 4; step++) {
        for (i = 0; i < n; i++) {
            g[i] = (float)((i * 7919 + step * 31 + rank) % 1000) / 100.0f - 5;
        }
        bad |= MPI_Allreduce(g, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) !=
               MPI_SUCCESS;
        bad |= MPI_Allreduce(MPI_IN_PLACE, g, n, MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD) != MPI_SUCCESS;
        for (i = 0; i < 100; i++) {
            d[i] = i + rank;
        }
        bad |= MPI_Allreduce(d, dsum, 100, MPI_DOUBLE, MPI_SUM,
                             MPI_COMM_WORLD) != MPI_SUCCESS;
        bad |= MPI_Allreduce(MPI_IN_PLACE, g, 10, MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD) != MPI_SUCCESS;
    }
    bad |= check(rank, "before MPI_Finalize");
    PMPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    bad |= check(rank, "after MPI_Finalize");
    if (rank == 0) {
        printf("# cpu_only_check: %s\n", (bad || anybad) ? "FAILED" : "ok");
    }
    free(g);
    free(out);
    return bad ? 1 : 0;
}
