/*
 * allreduce_example: an ordinary MPI program that sums synthetic gradients
 * with MPI_Allreduce, as a data-parallel trainer does, and measures how far
 * the sums it got are from exact ones.  It knows nothing of libcompcoll: run
 * it plain for dense sums, or under compcoll-run for compressed ones.
 *
 * Each step every rank makes a gradient per tensor: a slowly drifting
 * signal shared by all ranks (a few large coordinates, many small ones)
 * plus rank-local noise with heavy tails.  The
 * exact sum comes from an MPI_Allreduce in double (which libcompcoll never
 * touches).  Reported: the mean relative error of one step's sum, and the
 * relative error of the sum over all steps, which error feedback keeps
 * small even when each step sends 1 % of the values.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double rnd(unsigned long long *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) * 0x1p-53;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: allreduce_example [-s STEPS] [-n ELEMENTS]\n"
                 "  -s STEPS     steps (default 50)\n"
                 "  -n ELEMENTS  elements of the largest tensor (default 1048576)\n");
}

int main(int argc, char **argv)
{
    int        steps = 50, rank, size, i, t;
    long       nmax  = 1 << 20;
    int        ntens = 3;
    long       counts[3];
    double     step_err = 0.0, t0, tcomm = 0.0;
    double     cum_num = 0.0, cum_den = 0.0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            steps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            nmax = atol(argv[++i]);
        } else {
            if (rank == 0) {
                usage(strcmp(argv[i], "-h") == 0 ? stdout : stderr);
            }
            MPI_Finalize();
            return strcmp(argv[i], "-h") == 0 ? 0 : 2;
        }
    }
    if (steps < 1 || nmax < 64 || nmax > (1L << 28)) {
        if (rank == 0) {
            fprintf(stderr, "allreduce_example: need STEPS >= 1 and 64 <= "
                            "ELEMENTS <= 2^28\n");
        }
        MPI_Finalize();
        return 2;
    }
    counts[0] = nmax;
    counts[1] = nmax / 4 + 3;
    counts[2] = 1000; /* a bias-sized tensor */

    {
        float  *g[3], *sum[3];
        double *gd, *exact, *acc_out[3], *acc_exact[3];
        unsigned long long seed = 12345ull + 7919ull * (unsigned)rank;

        gd    = malloc(nmax * sizeof(double));
        exact = malloc(nmax * sizeof(double));
        for (i = 0; i < ntens; i++) {
            g[i]         = malloc(counts[i] * sizeof(float));
            sum[i]       = malloc(counts[i] * sizeof(float));
            acc_out[i]   = calloc(counts[i], sizeof(double));
            acc_exact[i] = calloc(counts[i], sizeof(double));
        }
        for (t = 0; t < steps; t++) {
            for (i = 0; i < ntens; i++) {
                long   j, n = counts[i];
                double num = 0.0, den = 0.0;

                for (j = 0; j < n; j++) {
                    double signal = (j % 97 == 0 ? 2.0 : 0.1) *
                                    (1.0 + 0.5 * sin(0.001 * j + 0.05 * t));
                    double u      = rnd(&seed) - 0.5;

                    g[i][j] = (float)(signal + u * u * u * 8.0);
                    gd[j]   = g[i][j];
                }
                t0 = MPI_Wtime();
                MPI_Allreduce(g[i], sum[i], (int)n, MPI_FLOAT, MPI_SUM,
                              MPI_COMM_WORLD);
                tcomm += MPI_Wtime() - t0;
                MPI_Allreduce(gd, exact, (int)n, MPI_DOUBLE, MPI_SUM,
                              MPI_COMM_WORLD);
                for (j = 0; j < n; j++) {
                    double d = sum[i][j] - exact[j];

                    num += d * d;
                    den += exact[j] * exact[j];
                    acc_out[i][j] += sum[i][j];
                    acc_exact[i][j] += exact[j];
                }
                step_err += sqrt(num / den);
            }
        }
        for (i = 0; i < ntens; i++) {
            long j;

            for (j = 0; j < counts[i]; j++) {
                double d = acc_out[i][j] - acc_exact[i][j];

                cum_num += d * d;
                cum_den += acc_exact[i][j] * acc_exact[i][j];
            }
        }
        if (rank == 0) {
            printf("allreduce_example: %d ranks, %d steps, tensors of %ld, "
                   "%ld and %ld floats\n", size, steps, counts[0], counts[1],
                   counts[2]);
            printf("  mean relative error of one step's sum: %.3e\n",
                   step_err / (steps * ntens));
            printf("  relative error of the sum over all steps: %.3e\n",
                   sqrt(cum_num / cum_den));
            printf("  time in MPI_Allreduce (float): %.3f s\n", tcomm);
        }
        for (i = 0; i < ntens; i++) {
            free(g[i]);
            free(sum[i]);
            free(acc_out[i]);
            free(acc_exact[i]);
        }
        free(gd);
        free(exact);
    }
    MPI_Finalize();
    return 0;
}
