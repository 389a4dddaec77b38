/*
 * nonfinite_check: a NaN or an infinity in one rank's gradient behaves as a
 * dense sum's would, whatever the method (libcompcoll(7), OUTPUT
 * SEMANTICS): it reaches the output of the call it was given to or of the
 * tensor's next call, on every rank alike, and no later output is
 * non-finite (nothing lingers in an error-feedback memory).
 *
 *   nonfinite_check [--rank R] [--step S] [--steps N] [--count N] [--inf]
 *
 * One tensor of --count floats (default 4096) is summed --steps times
 * (default 8) with random finite gradients; at step --step (default 2) rank
 * --rank (default 1) puts a NaN at element 17 (with --inf: +Inf at 17 and
 * -Inf at 18, which a dense sum gives as +Inf and -Inf).  Checks, on every
 * rank, by PMPI: the outputs' bits agree between ranks; element 17 (and 18)
 * is non-finite, as the dense sum's is, at step S or S + 1; every element of
 * every other output from step S + 2 on is finite.  Prints TAP-free verdict
 * lines ("# nonfinite_check: ok" or FAILED) and exits 0 or 1.
 */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size;

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    int       bad_rank = 1, bad_step = 2, steps = 8, count = 4096, inf = 0;
    int       i, step, ok = 1, all_ok, seen[2] = {0, 0};
    float    *g, *lo, *hi;
    uint64_t  seed;
    char      why[256] = "";

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rank") == 0 && i + 1 < argc) {
            bad_rank = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--step") == 0 && i + 1 < argc) {
            bad_step = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
            steps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--inf") == 0) {
            inf = 1;
        } else {
            fprintf(stderr, "nonfinite_check: unknown option %s\n", argv[i]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    }
    if (count < 64 || bad_step + 2 >= steps) {
        fprintf(stderr, "nonfinite_check: --count >= 64, --step + 2 < "
                        "--steps\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    g  = malloc((size_t)count * sizeof(float));
    lo = malloc((size_t)count * sizeof(float));
    hi = malloc((size_t)count * sizeof(float));
    if (g == NULL || lo == NULL || hi == NULL) {
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    seed = 12345u + (uint64_t)rank * 7919u;
    for (step = 0; step < steps; step++) {
        for (i = 0; i < count; i++) {
            /* finite, in [-1, 1), a few large ones */
            g[i] = (float)((double)(mix(&seed) >> 11) * 0x1p-52 - 1.0);
            if (i % 97 == 0) {
                g[i] *= 50.0f;
            }
        }
        if (step == bad_step && rank == bad_rank) {
            g[17] = inf ? INFINITY : NAN;
            if (inf) {
                g[18] = -INFINITY;
            }
        }
        if (MPI_Allreduce(MPI_IN_PLACE, g, count, MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS) {
            snprintf(why, sizeof(why), "step %d: MPI_Allreduce failed", step);
            ok = 0;
            break;
        }
        /* every rank the same bits */
        PMPI_Allreduce(g, lo, count, MPI_UINT32_T, MPI_MIN, MPI_COMM_WORLD);
        PMPI_Allreduce(g, hi, count, MPI_UINT32_T, MPI_MAX, MPI_COMM_WORLD);
        if (memcmp(lo, hi, (size_t)count * sizeof(float)) != 0 && ok) {
            snprintf(why, sizeof(why), "step %d: ranks' outputs differ",
                     step);
            ok = 0;
        }
        if (step == bad_step || step == bad_step + 1) {
            if (inf) {
                seen[0] |= isinf(g[17]) && g[17] > 0;
                seen[1] |= isinf(g[18]) && g[18] < 0;
            } else {
                seen[0] |= isnan(g[17]);
                seen[1] = 1;
            }
            for (i = 0; i < count; i++) {
                if (!isfinite(g[i]) && i != 17 && !(inf && i == 18) && ok) {
                    snprintf(why, sizeof(why), "step %d: element %d is "
                             "non-finite (%g), its inputs were finite", step,
                             i, g[i]);
                    ok = 0;
                }
            }
        }
        if (step >= bad_step + 2) {
            for (i = 0; i < count; i++) {
                if (!isfinite(g[i]) && ok) {
                    snprintf(why, sizeof(why), "step %d: element %d is still "
                             "%g (it lingers)", step, i, g[i]);
                    ok = 0;
                }
            }
        }
    }
    if (ok && !(seen[0] && seen[1])) {
        snprintf(why, sizeof(why), "element 17%s never came out %s at steps "
                 "%d or %d", inf ? " or 18" : "",
                 inf ? "as +Inf / -Inf" : "as NaN", bad_step, bad_step + 1);
        ok = 0;
    }
    if (!ok) {
        printf("# rank %d: %s\n", rank, why);
    }
    PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("# nonfinite_check: %s (P=%d, %s on rank %d at step %d)\n",
               all_ok ? "ok" : "FAILED", size, inf ? "+Inf/-Inf" : "NaN",
               bad_rank, bad_step);
    }
    free(g);
    free(lo);
    free(hi);
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
