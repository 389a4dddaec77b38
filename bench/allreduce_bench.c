/*
 * allreduce_bench: MPI_Allreduce (libcompcoll when preloaded) against
 * MPICH's own PMPI_Allreduce on the same data, in the same run.
 *
 *   mpiexec -n 2 -genv LD_PRELOAD .../libcompcoll.so allreduce_bench \
 *       [-n ELEMENTS] [-r REPEATS] [-w WARMUP] [-c CSV] [-d uniform|heavy]
 *
 * Data: uniform in [-1, 1), or heavy-tailed (a Gaussian whose scale is
 * itself log-normal, as gradient entries of deep networks tend to be).
 * Both are timed in alternation, each repeat preceded by a barrier; the
 * figure is the median over repeats of the slowest rank's time.  Printed:
 * the two medians and their ratio (compressed / MPICH; below 1 is faster).
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return (n % 2) ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    long          n = 25000000;
    int           repeats = 10, warmup = 3, rank, size, i, opt;
    const char   *csv = NULL;
    int           heavy = 0;
    float        *g, *out;
    double       *t_lib, *t_mpi, t0, t;
    unsigned int  seed;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (i = 1; i < argc; i++) {
        opt = (argv[i][0] == '-' && i + 1 < argc) ? argv[i][1] : 0;
        if (opt == 'n') {
            n = atol(argv[++i]);
        } else if (opt == 'r') {
            repeats = atoi(argv[++i]);
        } else if (opt == 'w') {
            warmup = atoi(argv[++i]);
        } else if (opt == 'c') {
            csv = argv[++i];
        } else if (opt == 'd' && (strcmp(argv[i + 1], "uniform") == 0 ||
                                  strcmp(argv[i + 1], "heavy") == 0)) {
            heavy = strcmp(argv[++i], "heavy") == 0;
        } else {
            if (rank == 0) {
                fprintf(stderr, "usage: allreduce_bench [-n ELEMENTS] "
                                "[-r REPEATS] [-w WARMUP] [-c CSV] "
                                "[-d uniform|heavy]\n");
            }
            MPI_Finalize();
            return 2;
        }
    }
    if (n < 1 || n > 2147483647L || repeats < 1 || warmup < 0) {
        if (rank == 0) {
            fprintf(stderr, "allreduce_bench: bad -n, -r or -w\n");
        }
        MPI_Finalize();
        return 2;
    }
    g     = malloc((size_t)n * sizeof(float));
    out   = malloc((size_t)n * sizeof(float));
    t_lib = malloc((size_t)repeats * sizeof(double));
    t_mpi = malloc((size_t)repeats * sizeof(double));
    seed  = 1234u + 77u * (unsigned)rank;
    for (i = 0; i < n; i++) {
        double u1, u2, u3;

        seed = seed * 1664525u + 1013904223u;
        u1   = ((seed >> 8) + 0.5) * 0x1p-24;
        if (!heavy) {
            g[i] = (float)(2.0 * u1 - 1.0);
            continue;
        }
        seed = seed * 1664525u + 1013904223u;
        u2   = ((seed >> 8) + 0.5) * 0x1p-24;
        seed = seed * 1664525u + 1013904223u;
        u3   = ((seed >> 8) + 0.5) * 0x1p-24;
        /* Box-Muller normal, times exp(normal) for the tails */
        g[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2) *
                       exp(sqrt(-2.0 * log(u3)) * cos(6.283185307179586 * u2 +
                                                      1.0)));
    }
    for (i = -warmup; i < repeats; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        MPI_Allreduce(g, out, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t = MPI_Wtime() - t0;
        PMPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX,
                       MPI_COMM_WORLD);
        if (i >= 0) {
            t_lib[i] = t;
        }
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        PMPI_Allreduce(g, out, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t = MPI_Wtime() - t0;
        PMPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX,
                       MPI_COMM_WORLD);
        if (i >= 0) {
            t_mpi[i] = t;
        }
    }
    if (rank == 0) {
        double ml = median(t_lib, repeats), mm = median(t_mpi, repeats);

        printf("%-10s %6s %12s %14s %14s %8s\n", "elements", "ranks",
               "bytes", "MPI_Allreduce", "PMPI_Allreduce", "ratio");
        printf("%-10ld %6d %12ld %12.6f s %12.6f s %8.3f\n", n, size,
               n * 4, ml, mm, ml / mm);
        if (csv != NULL) {
            FILE *f = fopen(csv, "a");

            if (f == NULL) {
                perror(csv);
            } else {
                fprintf(f, "%ld,%d,%.9f,%.9f,%.6f\n", n, size, ml, mm,
                        ml / mm);
                fclose(f);
            }
        }
    }
    free(g);
    free(out);
    free(t_lib);
    free(t_mpi);
    MPI_Finalize();
    return 0;
}
