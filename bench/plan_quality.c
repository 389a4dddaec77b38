/*
 * plan_quality: how close sample's planned pieces come to the exact top k
 * (compcoll_host_sample_plan and compcoll_host_sample_piece, as a leader
 * that pipelines a call runs them), one process, no MPI.
 *
 *   plan_quality [-n ELEMENTS] [-k RATIO] [-p PIECES] [-s SEED]
 *
 * For each of three gradients (Gaussian; Student-t with 3 degrees of
 * freedom; Gaussian whose scale alternates between 1 and 10 in runs of
 * 700001 elements, as layers of different scales in one bucket) it
 * prints the energy (sum of squares) of the planned set over that of the
 * exact top k, the pieces' mean quota error against their share of the
 * exact top k, and the pieces that fell back to exact selection.
 * Defaults: 25M elements, ratio 100, 32 pieces (what a 25M call is cut
 * into), seed 1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll_kernels.h"

static uint64_t pq_rng;

static double pq_uniform(void)
{
    pq_rng ^= pq_rng << 13;
    pq_rng ^= pq_rng >> 7;
    pq_rng ^= pq_rng << 17;
    return ((double)(pq_rng >> 11) + 0.5) * 0x1p-53;
}

static double pq_gauss(void)
{
    return sqrt(-2.0 * log(pq_uniform())) *
           cos(6.283185307179586 * pq_uniform());
}

static float pq_value(int dist, size_t i)
{
    double x = pq_gauss();

    if (dist == 1) {
        const double a = pq_gauss(), b = pq_gauss(), c = pq_gauss();

        x /= sqrt((a * a + b * b + c * c) / 3.0);
    } else if (dist == 2) {
        x *= (i / 700001) % 2 ? 10.0 : 1.0;
    }
    return (float)x;
}

static void *pq_alloc(size_t bytes)
{
    void *p = calloc(1, bytes);

    if (p == NULL) {
        fprintf(stderr, "plan_quality: no memory for %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"gaussian", "student-t(3)",
                                        "two-scale"};
    size_t   n = 25000000, ratio = 100, k, i, t;
    unsigned pieces = 32, p;
    uint64_t seed = 1;
    int      opt, dist;

    for (opt = 1; opt + 1 < argc; opt += 2) {
        if (strcmp(argv[opt], "-n") == 0) {
            n = strtoull(argv[opt + 1], NULL, 10);
        } else if (strcmp(argv[opt], "-k") == 0) {
            ratio = strtoull(argv[opt + 1], NULL, 10);
        } else if (strcmp(argv[opt], "-p") == 0) {
            pieces = (unsigned)strtoul(argv[opt + 1], NULL, 10);
        } else if (strcmp(argv[opt], "-s") == 0) {
            seed = strtoull(argv[opt + 1], NULL, 10);
        } else {
            fprintf(stderr, "usage: plan_quality [-n ELEMENTS] [-k RATIO] "
                            "[-p PIECES] [-s SEED]\n");
            return 2;
        }
    }
    if (n == 0 || ratio == 0 || pieces == 0 ||
        pieces > COMPCOLL_SELECT_PIECES || n > UINT32_MAX) {
        fprintf(stderr, "plan_quality: need 0 < n < 2^32, a ratio and 1 to "
                        "%u pieces\n", COMPCOLL_SELECT_PIECES);
        return 2;
    }
    k = (n + ratio - 1) / ratio;
    printf("# %zu elements, k = %zu, %u pieces, seed %llu\n", n, k, pieces,
           (unsigned long long)seed);
    for (dist = 0; dist < 3; dist++) {
        float                    *m = pq_alloc(n * sizeof(float));
        float                    *g = pq_alloc(n * sizeof(float));
        float                    *out = pq_alloc(n * sizeof(float));
        float                    *vals = pq_alloc(k * sizeof(float));
        uint32_t                 *idx = pq_alloc(k * sizeof(uint32_t));
        uint32_t                 *top = pq_alloc(k * sizeof(uint32_t));
        uint32_t                  quota[COMPCOLL_SELECT_PIECES], thresh;
        compcoll_select_scratch_t s;
        double                    e_top = 0.0, e_got = 0.0, q_err = 0.0;

        memset(&s, 0, sizeof(s));
        pq_rng = 0x9e3779b97f4a7c15ull ^ (seed * 0x2545f4914f6cdd1dull);
        for (i = 0; i < n; i++) {
            g[i] = pq_value(dist, i);
        }
        if (compcoll_host_select(COMPCOLL_SELECT_EXACT, NULL, g, n, k, top,
                                 &s) != COMPCOLL_OK ||
            compcoll_host_sample_plan(m, g, n, k, pieces, quota, &thresh,
                                      &s) != COMPCOLL_OK) {
            fprintf(stderr, "plan_quality: selection failed\n");
            return 1;
        }
        for (i = 0; i < k; i++) {
            e_top += (double)g[top[i]] * g[top[i]];
        }
        for (p = 0, t = 0; p < pieces; p++) {
            const size_t lo = (size_t)((uint64_t)p * n / pieces);
            const size_t hi = (size_t)((uint64_t)(p + 1) * n / pieces);
            size_t       share = 0;

            for (; t < k && top[t] < hi; t++) {
                share++;
            }
            q_err += fabs((double)quota[p] - (double)share) /
                     (double)(share > 0 ? share : 1);
            if (compcoll_host_sample_piece(m, g, out, n, lo, hi, quota[p],
                                           thresh, idx, vals, &s) !=
                COMPCOLL_OK) {
                fprintf(stderr, "plan_quality: piece %u failed\n", p);
                return 1;
            }
            for (i = 0; i < quota[p]; i++) {
                e_got += (double)vals[i] * vals[i];
            }
        }
        printf("%-13s energy %.5f of the exact top k, quota error %.3f, "
               "%llu of %u pieces exact\n",
               names[dist], e_got / e_top, q_err / pieces,
               (unsigned long long)s.sample_fallbacks, pieces);
        free(m);
        free(g);
        free(out);
        free(vals);
        free(idx);
        free(top);
        compcoll_select_scratch_release(&s);
    }
    return 0;
}
