/*
 * hostpass_bench: the host pass of a ScaleCom call, one process, no MPI
 * traffic, against one memcpy of the gradient.
 *
 *   hostpass_bench [-n ELEMENTS] [-r REPEATS] [-k RATIO] [-c CSV]
 *
 * Times (median of REPEATS, after one untimed round; default 25M floats,
 * 10 repeats, ratio 100), per selection mode, the host kernels of
 * libcompcoll_core exactly as scalecom.c calls them:
 *
 *   beta = 1 (the default): every rank folds (m <- m + g, out <- 0) before
 *   the header arrives, the leader in the same pass as its selection and
 *   take (fold_select); the others take their k values once the header is
 *   there; every rank scatters the k sums.
 *     leader = fold_select + scatter: the critical path of a call
 *     (the other ranks fold at the same time and wait for the header).
 *     other  = fold + take + scatter.
 *   beta < 1: the leader selects from m and g, then every rank makes the
 *   fused compress pass and scatters.
 *     leader = select + compress + scatter; other = compress + scatter.
 *
 * With beta = 1 and N large enough for a pipelined call (two pieces or
 * more), also the leader of sample's planned pieces ("planned"): the plan
 * from a sample, then each piece folded and selected (it sends each piece
 * as it goes, so the pass overlaps the exchange in a call).
 *
 * and prints each against the memcpy of the same N floats (4N bytes read,
 * 4N written, into a buffer written before, so no page faults are timed).
 * With -c, appends CSV lines: mode,beta,role,elements,k,seconds,memcpy_s,
 * over_memcpy.  Gradients are heavy-tailed (a product of a uniform and an
 * exponential of a uniform), as bench/allreduce_bench.c's "heavy" data.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compcoll_kernels.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *t, int r)
{
    qsort(t, (size_t)r, sizeof(double), cmp_double);
    return (r % 2) ? t[r / 2] : 0.5 * (t[r / 2 - 1] + t[r / 2]);
}

static uint64_t rng = 0x243f6a8885a308d3ull;

static double urand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 0x2545f4914f6cdd1dull) >> 11) * 0x1p-53;
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes);

    if (p == NULL) {
        fprintf(stderr, "hostpass_bench: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    memset(p, 0, bytes); /* fault the pages in now */
    return p;
}

typedef struct {
    size_t    n, k;
    float    *g, *m, *out, *vals;
    uint32_t *idx;
    compcoll_select_scratch_t scratch;
} bench_t;

/* One call's host work for one role; returns seconds. */
static double one(bench_t *b, compcoll_select_t mode, float beta, int leader)
{
    const compcoll_kernel_ops_t *ker = &compcoll_host_kernels;
    double                       t0  = now();

    if (beta == 1.0f) {
        if (!leader) {
            ker->fold(b->m, b->g, b->out, b->n);
            ker->take(b->m, b->idx, b->k, b->vals);
        } else if (ker->fold_select(mode, b->m, b->g, b->out, b->n, b->k,
                                    b->idx, b->vals, &b->scratch) !=
                   COMPCOLL_OK) {
            fprintf(stderr, "hostpass_bench: selection failed\n");
            exit(1);
        }
    } else {
        if (leader && ker->select(mode, b->m, b->g, b->n, b->k, b->idx,
                                  &b->scratch) != COMPCOLL_OK) {
            fprintf(stderr, "hostpass_bench: selection failed\n");
            exit(1);
        }
        ker->compress(b->m, b->g, b->out, b->n, b->idx, b->k, beta, b->vals);
    }
    ker->scatter(b->out, b->idx, b->vals, b->k);
    return now() - t0;
}

/* The pieces a pipelined call of k of n is cut into (scalecom.c's rule
 * for two ranks or more), 0 when it is not pipelined. */
static unsigned planned_pieces(size_t n, size_t k)
{
    size_t pieces = n / 262144;

    if (pieces > k / 512) {
        pieces = k / 512;
    }
    if (pieces < 2) {
        return 0;
    }
    return pieces > COMPCOLL_SELECT_PIECES ? COMPCOLL_SELECT_PIECES
                                           : (unsigned)pieces;
}

/* sample's planned leader: the plan, then every piece; returns seconds. */
static double one_planned(bench_t *b, unsigned pieces)
{
    uint32_t quota[COMPCOLL_SELECT_PIECES], thresh;
    size_t   c0 = 0;
    unsigned s;
    double   t0 = now();

    if (compcoll_host_sample_plan(b->m, b->g, b->n, b->k, pieces, quota,
                                  &thresh, &b->scratch) != COMPCOLL_OK) {
        fprintf(stderr, "hostpass_bench: the plan failed\n");
        exit(1);
    }
    for (s = 0; s < pieces; s++) {
        const size_t lo = (size_t)((uint64_t)s * b->n / pieces);
        const size_t hi = (size_t)((uint64_t)(s + 1) * b->n / pieces);

        if (compcoll_host_sample_piece(b->m, b->g, b->out, b->n, lo, hi,
                                       quota[s], thresh, b->idx + c0,
                                       b->vals + c0, &b->scratch) !=
            COMPCOLL_OK) {
            fprintf(stderr, "hostpass_bench: piece %u failed\n", s);
            exit(1);
        }
        c0 += quota[s];
    }
    compcoll_host_kernels.scatter(b->out, b->idx, b->vals, b->k);
    return now() - t0;
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"exact", "chunk", "sample"};
    static const float       betas[] = {1.0f, 0.5f};
    size_t                   n = 25000000, ratio = 100, i;
    int                      repeats = 10, r, a, bi, role;
    const char              *csv = NULL;
    FILE                    *out = NULL;
    double                  *t, tmem;
    float                   *src, *dst;
    bench_t                  b;

    for (r = 1; r < argc; r++) {
        if (strcmp(argv[r], "-n") == 0 && r + 1 < argc) {
            n = strtoul(argv[++r], NULL, 10);
        } else if (strcmp(argv[r], "-r") == 0 && r + 1 < argc) {
            repeats = atoi(argv[++r]);
        } else if (strcmp(argv[r], "-k") == 0 && r + 1 < argc) {
            ratio = strtoul(argv[++r], NULL, 10);
        } else if (strcmp(argv[r], "-c") == 0 && r + 1 < argc) {
            csv = argv[++r];
        } else {
            fprintf(stderr, "usage: hostpass_bench [-n ELEMENTS] [-r REPEATS] "
                            "[-k RATIO] [-c CSV]\n");
            return 2;
        }
    }
    if (n < 1 || n > UINT32_MAX || repeats < 1 || ratio < 1) {
        fprintf(stderr, "hostpass_bench: -n must be 1 to 2^32-1, -r and -k "
                        "at least 1\n");
        return 2;
    }
    if (csv != NULL && (out = fopen(csv, "a")) == NULL) {
        perror(csv);
        return 1;
    }

    memset(&b, 0, sizeof(b));
    b.n    = n;
    b.k    = (n + ratio - 1) / ratio;
    b.g    = xmalloc(n * sizeof(float));
    b.m    = xmalloc(n * sizeof(float));
    b.out  = xmalloc(n * sizeof(float));
    b.vals = xmalloc(b.k * sizeof(float));
    b.idx  = xmalloc(b.k * sizeof(uint32_t));
    t      = xmalloc((size_t)repeats * sizeof(double));
    for (i = 0; i < n; i++) {
        b.g[i] = (float)((urand() - 0.5) * exp(6.0 * urand() - 3.0));
    }

    src = b.g;
    dst = b.out;
    memcpy(dst, src, n * sizeof(float));
    for (r = 0; r < repeats; r++) {
        double t0 = now();

        memcpy(dst, src, n * sizeof(float));
        t[r] = now() - t0;
    }
    tmem = median(t, repeats);
    printf("memcpy of %zu floats: %.6f s (%.2f GB/s copied)\n", n, tmem,
           4.0 * (double)n / tmem * 1e-9);
    printf("%-7s %-5s %-7s %10s %9s\n", "select", "beta", "role", "seconds",
           "/memcpy");

    for (a = 0; a < 3; a++) {
        for (bi = 0; bi < 2; bi++) {
            for (role = 1; role >= 0; role--) {
                one(&b, (compcoll_select_t)a, betas[bi], 1); /* untimed */
                for (r = 0; r < repeats; r++) {
                    t[r] = one(&b, (compcoll_select_t)a, betas[bi], role);
                }
                t[0] = median(t, repeats);
                printf("%-7s %-5g %-7s %10.6f %9.2f\n", names[a], betas[bi],
                       role ? "leader" : "other", t[0], t[0] / tmem);
                if (out != NULL) {
                    fprintf(out, "%s,%g,%s,%zu,%zu,%.6f,%.6f,%.3f\n", names[a],
                            betas[bi], role ? "leader" : "other", n, b.k, t[0],
                            tmem, t[0] / tmem);
                }
            }
        }
    }
    if (planned_pieces(n, b.k) != 0) {
        const unsigned pieces = planned_pieces(n, b.k);

        one_planned(&b, pieces); /* untimed */
        for (r = 0; r < repeats; r++) {
            t[r] = one_planned(&b, pieces);
        }
        t[0] = median(t, repeats);
        printf("%-7s %-5g %-7s %10.6f %9.2f  (%u pieces)\n", "planned", 1.0,
               "leader", t[0], t[0] / tmem, pieces);
        if (out != NULL) {
            fprintf(out, "planned,1,leader,%zu,%zu,%.6f,%.6f,%.3f\n", n, b.k,
                    t[0], tmem, t[0] / tmem);
        }
    }
    if (out != NULL) {
        fclose(out);
    }
    return 0;
}
