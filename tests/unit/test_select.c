/*
 * Index selection against brute force on random data: exact and sample
 * against a full sort by (|a| descending, index ascending); chunk against a
 * plain per-chunk scan.  Data sets include heavy ties, infinities and NaNs,
 * with and without a memory term.  sample piece by piece: the quotas add
 * up to k and follow the pieces' true shares, each piece's selection is
 * the exact top of its own elements, and the whole keeps nearly all of the
 * top k's energy.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tap/tap.h"
#include "compcoll_kernels.h"

static uint64_t rng = 88172645463325252ull;

static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-53;
}

typedef struct {
    uint32_t key;
    uint32_t idx;
} pair_t;

static uint32_t key_of(float a)
{
    uint32_t u;

    memcpy(&u, &a, sizeof(u));
    return u & 0x7fffffffu;
}

static int by_key_desc(const void *x, const void *y)
{
    const pair_t *a = x, *b = y;

    if (a->key != b->key) {
        return a->key > b->key ? -1 : 1;
    }
    return a->idx < b->idx ? -1 : 1;
}

static int by_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return (a > b) - (a < b);
}

static void brute_topk(const float *m, const float *g, size_t n, size_t k,
                       uint32_t *out)
{
    pair_t *p = malloc(n * sizeof(*p));
    size_t  i;

    for (i = 0; i < n; i++) {
        p[i].key = key_of(m ? m[i] + g[i] : g[i]);
        p[i].idx = (uint32_t)i;
    }
    qsort(p, n, sizeof(*p), by_key_desc);
    for (i = 0; i < k; i++) {
        out[i] = p[i].idx;
    }
    qsort(out, k, sizeof(*out), by_u32);
    free(p);
}

static void brute_chunk(const float *m, const float *g, size_t n, size_t k,
                        uint32_t *out)
{
    size_t j, i;

    for (j = 0; j < k; j++) {
        size_t lo = j * n / k, hi = (j + 1) * n / k, best = lo;

        for (i = lo; i < hi; i++) {
            if (key_of(m ? m[i] + g[i] : g[i]) >
                key_of(m ? m[best] + g[best] : g[best])) {
                best = i;
            }
        }
        out[j] = (uint32_t)best;
    }
}

enum { DIST_UNIFORM, DIST_HEAVY, DIST_TIES, DIST_SPECIAL, DIST_EQUAL, NDIST };
static const char *const dist_name[] = {"uniform", "heavy-tailed", "ties",
                                        "inf/nan", "all-equal"};

static void fill(float *x, size_t n, int dist)
{
    size_t i;

    for (i = 0; i < n; i++) {
        double u = urand() * 2.0 - 1.0;

        switch (dist) {
        case DIST_UNIFORM:
            x[i] = (float)u;
            break;
        case DIST_HEAVY:
            x[i] = (float)(u * u * u * exp(8.0 * urand()));
            break;
        case DIST_TIES:
            x[i] = (float)(floor(u * 8.0) / 8.0); /* 16 values */
            break;
        case DIST_SPECIAL:
            x[i] = (float)u;
            if (urand() < 0.001) {
                x[i] = (urand() < 0.5) ? INFINITY : -INFINITY;
            } else if (urand() < 0.001) {
                x[i] = NAN;
            }
            break;
        case DIST_EQUAL:
            x[i] = (urand() < 0.5) ? 0.75f : -0.75f;
            break;
        }
    }
}

static int same(const uint32_t *a, const uint32_t *b, size_t k, size_t *at);

/*
 * fold_select (the leader with beta = 1) against the brute-force selection
 * of a = m + g: the same indices, their values a taken bit for bit, m left
 * holding a elsewhere and +0 at them, out zeroed; out is g itself when
 * inplace, else a buffer starting `skew` floats past an aligned one (the
 * streaming stores of large folds start at a 16-byte boundary).  *why says
 * what differed.
 */
static int fold_select_ok(compcoll_select_t mode, const float *m,
                          const float *g, size_t n, size_t k, int inplace,
                          const uint32_t *want, compcoll_select_scratch_t *s,
                          char *why, size_t len)
{
    const size_t skew = 1 + n % 3;
    float    *mf  = malloc(n * sizeof(float)), *gf = malloc(n * sizeof(float));
    float    *ob  = malloc((n + skew) * sizeof(float));
    uint32_t *got = malloc(k * sizeof(uint32_t));
    float    *v   = malloc(k * sizeof(float));
    float    *out = inplace ? gf : ob + skew;
    size_t    i, j = 0, at = 0;
    int       good;

    memcpy(mf, m, n * sizeof(float));
    memcpy(gf, g, n * sizeof(float));
    for (i = 0; i < n; i++) {
        ob[skew + i] = 9.0f; /* poison */
    }
    for (i = 0; i < k; i++) {
        v[i] = -7.0f;
    }
    good = compcoll_host_fold_select(mode, mf, gf, out, n, k, got, v, s) ==
               COMPCOLL_OK &&
           same(got, want, k, &at);
    if (!good) {
        snprintf(why, len, "fold_select mode %d k=%zu: indices at %zu",
                 (int)mode, k, at);
    }
    for (i = 0; good && i < n; i++) {
        float a = m[i] + g[i];

        if (j < k && want[j] == i) {
            /* taken: the value is a, the memory keeps +0 */
            if (memcmp(&v[j], &a, sizeof(float)) != 0 || mf[i] != 0.0f ||
                signbit(mf[i])) {
                snprintf(why, len, "fold_select mode %d k=%zu: value or "
                         "memory of taken index %zu", (int)mode, k, i);
                good = 0;
            }
            j++;
        } else if (memcmp(&mf[i], &a, sizeof(float)) != 0) {
            snprintf(why, len, "fold_select mode %d k=%zu: m at %zu",
                     (int)mode, k, i);
            good = 0;
        }
        if (out[i] != 0.0f || signbit(out[i])) {
            snprintf(why, len, "fold_select mode %d k=%zu: out at %zu",
                     (int)mode, k, i);
            good = 0;
        }
    }
    free(mf);
    free(gf);
    free(ob);
    free(got);
    free(v);
    return good;
}

static int same(const uint32_t *a, const uint32_t *b, size_t k, size_t *at)
{
    size_t i;

    for (i = 0; i < k; i++) {
        if (a[i] != b[i]) {
            *at = i;
            return 0;
        }
    }
    return 1;
}

/* Every size, distribution and k against brute force, with and without
 * memory, folded or not; `isa` names the pass (0: no AVX2). */
static void check_sizes(compcoll_select_scratch_t *sp, int isa)
{
    static const size_t sizes[] = {1, 2, 7, 100, 1000, 4097, 70001, 300000};
    size_t              si, ki, at = 0;
    int                 d, withm;

    for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        size_t    n = sizes[si];
        size_t    ks[4] = {1, (n + 99) / 100, (n + 6) / 7, n};
        float    *g = malloc(n * sizeof(float)), *m = malloc(n * sizeof(float));
        uint32_t *want = malloc(n * sizeof(uint32_t));
        uint32_t *got  = malloc(n * sizeof(uint32_t));

        for (d = 0; d < NDIST; d++) {
            for (withm = 0; withm < 2; withm++) {
                int ok_exact = 1, ok_sample = 1, ok_chunk = 1, ok_fold = 1;
                char why[160] = "";

                fill(g, n, d);
                fill(m, n, d == DIST_EQUAL ? DIST_UNIFORM : d);
                if (d == DIST_EQUAL) {
                    memset(m, 0, n * sizeof(float)); /* keep the ties */
                }
                for (ki = 0; ki < 4; ki++) {
                    size_t       k  = ks[ki];
                    const float *mm = withm ? m : NULL;

                    brute_topk(mm, g, n, k, want);
                    if (compcoll_host_select(COMPCOLL_SELECT_EXACT, mm, g, n,
                                             k, got, sp) != COMPCOLL_OK ||
                        !same(got, want, k, &at)) {
                        ok_exact = 0;
                        snprintf(why, sizeof(why), "exact k=%zu at %zu", k, at);
                    }
                    if (compcoll_host_select(COMPCOLL_SELECT_SAMPLE, mm, g, n,
                                             k, got, sp) != COMPCOLL_OK ||
                        !same(got, want, k, &at)) {
                        ok_sample = 0;
                        snprintf(why, sizeof(why), "sample k=%zu at %zu", k,
                                 at);
                    }
                    if (withm &&
                        (!fold_select_ok(COMPCOLL_SELECT_EXACT, m, g, n, k,
                                         (int)(ki & 1), want, sp, why,
                                         sizeof(why)) ||
                         !fold_select_ok(COMPCOLL_SELECT_SAMPLE, m, g, n, k,
                                         (int)(~ki & 1), want, sp, why,
                                         sizeof(why)))) {
                        ok_fold = 0;
                    }
                    brute_chunk(mm, g, n, k, want);
                    if (compcoll_host_select(COMPCOLL_SELECT_CHUNK, mm, g, n,
                                             k, got, sp) != COMPCOLL_OK ||
                        !same(got, want, k, &at)) {
                        ok_chunk = 0;
                        snprintf(why, sizeof(why), "chunk k=%zu at %zu", k, at);
                    }
                    if (withm && !fold_select_ok(COMPCOLL_SELECT_CHUNK, m, g,
                                                 n, k, (int)(ki & 1), want, sp,
                                                 why, sizeof(why))) {
                        ok_fold = 0;
                    }
                }
                ok(ok_exact && ok_sample && ok_chunk && ok_fold,
                   "n=%zu %s%s: exact, sample and chunk match brute force%s%s%s%s",
                   n, dist_name[d], withm ? " with memory" : "",
                   withm ? ", folded or not" : "",
                   isa ? "" : " (no AVX2)", why[0] ? ": " : "", why);
            }
        }
        free(g);
        free(m);
        free(want);
        free(got);
    }
}

/* fold_select_ok out of place, then in place. */
static int fold_both_ok(compcoll_select_t mode, const float *m, const float *g,
                        size_t n, size_t k, const uint32_t *want,
                        compcoll_select_scratch_t *s, char *why, size_t len)
{
    return fold_select_ok(mode, m, g, n, k, 0, want, s, why, len) &&
           fold_select_ok(mode, m, g, n, k, 1, want, s, why, len);
}

/*
 * sample's plan and pieces (compcoll_host_sample_plan, _piece) on n
 * elements in `pieces` runs: quotas adding up to k, none past its run's
 * room and each within a third (and 64) of the run's share of the exact
 * top k; each piece's indices the brute-force top q of its own a, with a
 * taken bit for bit, m holding a elsewhere, out zeroed (out is g itself
 * when inplace); and the whole set holding 99 % of the exact top k's
 * energy (finite data).  force: 0 the plan's threshold, 1 one that no
 * element reaches, 2 one every element passes (both: exact in the piece).
 */
static int check_pieces(compcoll_select_scratch_t *s, size_t n,
                        unsigned pieces, size_t k, int dist, int inplace,
                        int force, char *why, size_t len)
{
    float    *m = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float    *a = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    float    *vals = malloc(k * sizeof(float));
    uint32_t *idx = malloc(k * sizeof(uint32_t));
    uint32_t *want = malloc(k * sizeof(uint32_t)), *top = malloc(k * 4);
    uint32_t  quota[COMPCOLL_SELECT_PIECES], thresh;
    size_t    i, j, sum = 0, at = 0;
    double    e_top = 0.0, e_got = 0.0;
    unsigned  p;
    int       good = 1;

    fill(m, n, DIST_UNIFORM);
    fill(g, n, dist);
    for (i = 0; i < n; i++) {
        a[i] = m[i] + g[i];
    }
    if (inplace) {
        free(out);
        out = g;
    }
    brute_topk(NULL, a, n, k, top);
    for (i = 0; i < k; i++) {
        e_top += (double)a[top[i]] * a[top[i]];
    }
    if (compcoll_host_sample_plan(m, g, n, k, pieces, quota, &thresh, s) !=
        COMPCOLL_OK) {
        snprintf(why, len, "the plan failed");
        good = 0;
    }
    /* (no finite element's key reaches 2^31 - 1: a NaN's at most) */
    thresh = force == 1 ? 0x7fffffffu : force == 2 ? 0 : thresh;
    for (p = 0; good && p < pieces; p++) {
        const size_t lo = (size_t)p * n / pieces, hi = (size_t)(p + 1) * n / pieces;
        size_t       share = 0;

        for (i = 0; i < k; i++) {
            share += (top[i] >= lo && top[i] < hi);
        }
        sum += quota[p];
        if (quota[p] > hi - lo ||
            (double)quota[p] > share + share / 3.0 + 64.0 ||
            (double)quota[p] + share / 3.0 + 64.0 < share) {
            snprintf(why, len, "piece %u: quota %u for a share of %zu", p,
                     quota[p], share);
            good = 0;
            break;
        }
        if (compcoll_host_sample_piece(m, g, out, n, lo, hi, quota[p], thresh,
                                       idx, vals, s) != COMPCOLL_OK) {
            snprintf(why, len, "piece %u failed", p);
            good = 0;
            break;
        }
        brute_topk(NULL, a + lo, hi - lo, quota[p], want);
        for (j = 0; j < quota[p]; j++) {
            want[j] += (uint32_t)lo;
            e_got += (double)a[want[j]] * a[want[j]];
        }
        if (!same(idx, want, quota[p], &at)) {
            snprintf(why, len, "piece %u: index %zu is %u, want %u", p, at,
                     idx[at], want[at]);
            good = 0;
            break;
        }
        for (j = 0; j < quota[p] && good; j++) {
            good = key_of(vals[j]) == key_of(a[idx[j]]) && m[idx[j]] == 0.0f;
        }
        for (i = lo, j = 0; i < hi && good; i++) {
            const int taken = j < quota[p] && idx[j] == i;

            j += taken;
            good = out[i] == 0.0f &&
                   (taken || memcmp(&m[i], &a[i], sizeof(float)) == 0);
        }
        if (!good) {
            snprintf(why, len, "piece %u: values, memory or out wrong", p);
        }
    }
    if (good && sum != k) {
        snprintf(why, len, "quotas add up to %zu", sum);
        good = 0;
    }
    if (good && dist != DIST_SPECIAL && e_got < 0.99 * e_top) {
        snprintf(why, len, "energy %.4f of the top k's", e_got / e_top);
        good = 0;
    }
    free(m);
    free(g);
    free(a);
    if (!inplace) {
        free(out);
    }
    free(vals);
    free(idx);
    free(want);
    free(top);
    return good;
}

int main(void)
{
    compcoll_select_scratch_t s;
    size_t                    at = 0;
    int                       isa;

    memset(&s, 0, sizeof(s));
    /* every case twice: with the AVX2 loops where the CPU has them, then
     * without (the baseline loops) */
    for (isa = 1; isa >= 0; isa--) {
        compcoll_host_allow_avx2(isa);
        check_sizes(&s, isa);
    }
    compcoll_host_allow_avx2(1);

    {
        /* sample piece by piece: (n, pieces, ratio) as a pipelined call
         * cuts them, every distribution, in place or not, and the
         * fallback both ways */
        static const struct {
            size_t   n;
            unsigned pieces;
            size_t   ratio;
        } cut[] = {{600000, 2, 100}, {2000003, 7, 100}, {2100000, 8, 10}};
        char     why[160];
        size_t   c;
        int      dist, force;
        uint64_t before = s.sample_fallbacks;

        for (c = 0; c < sizeof(cut) / sizeof(cut[0]); c++) {
            for (dist = 0; dist < NDIST; dist++) {
                const size_t k = (cut[c].n + cut[c].ratio - 1) / cut[c].ratio;

                why[0] = '\0';
                ok(check_pieces(&s, cut[c].n, cut[c].pieces, k, dist,
                                (int)(c + (size_t)dist) % 2, 0, why,
                                sizeof(why)),
                   "sample by pieces, n = %zu in %u, k = %zu, %s: %s",
                   cut[c].n, cut[c].pieces, k, dist_name[dist],
                   why[0] ? why : "quotas, pieces and energy as planned");
            }
        }
        before = s.sample_fallbacks;
        for (force = 1; force <= 2; force++) {
            why[0] = '\0';
            compcoll_host_allow_avx2(force == 2);
            ok(check_pieces(&s, 600000, 2, 6000, DIST_HEAVY, force == 1,
                            force, why, sizeof(why)) &&
                   s.sample_fallbacks == before + 2 * (uint64_t)force,
               "sample by pieces falls back to exact in the piece when the "
               "threshold lets %s through%s%s", force == 1 ? "none" : "all",
               why[0] ? ": " : "", why);
        }
        compcoll_host_allow_avx2(1);
        {
            uint32_t quota[COMPCOLL_SELECT_PIECES], thresh;
            float    x[64] = {0};

            ok(compcoll_host_sample_plan(NULL, x, 64, 1, 2, quota, &thresh,
                                         &s) == COMPCOLL_ERR_INVALID_PARAM &&
                   compcoll_host_sample_plan(NULL, x, 1u << 20, 1,
                                             COMPCOLL_SELECT_PIECES + 1, quota,
                                             &thresh, &s) ==
                       COMPCOLL_ERR_INVALID_PARAM,
               "a plan of runs too short or too many is refused");
        }
    }

    {
        /* Equal magnitudes overflow the sample's candidate bound: it must
         * fall back to exact and still be right. */
        size_t    n = 200000, k = 2000;
        float    *g = malloc(n * sizeof(float));
        uint32_t *want = malloc(k * sizeof(uint32_t)), *got = malloc(k * 4);
        uint64_t  before = s.sample_fallbacks;

        fill(g, n, DIST_EQUAL);
        brute_topk(NULL, g, n, k, want);
        ok(compcoll_host_select(COMPCOLL_SELECT_SAMPLE, NULL, g, n, k, got,
                                &s) == COMPCOLL_OK &&
               same(got, want, k, &at) && s.sample_fallbacks == before + 1,
           "sample falls back to exact when candidates overflow");
        {
            float *zero = calloc(n, sizeof(float));
            char   why[160] = "";

            before = s.sample_fallbacks;
            ok(fold_select_ok(COMPCOLL_SELECT_SAMPLE, zero, g, n, k, 0, want,
                              &s, why, sizeof(why)) &&
                   s.sample_fallbacks == before + 1,
               "sample fused with the fold falls back to exact on the folded "
               "memory when candidates overflow%s%s", why[0] ? ": " : "", why);
            free(zero);
        }
        {
            /* large enough for the exact pass's interleaved histograms and
             * for the folds' streaming stores (out of 8 MB and more) */
            size_t    big = 2500007, kk = big / 100;
            float    *x = malloc(big * sizeof(float)), *y = malloc(big * 4);
            uint32_t *w = malloc(kk * sizeof(uint32_t));
            uint32_t *o = malloc(kk * sizeof(uint32_t));
            char      why[160] = "";
            int       good;

            fill(x, big, DIST_TIES);
            fill(y, big, DIST_HEAVY);
            brute_topk(y, x, big, kk, w);
            good = compcoll_host_select(COMPCOLL_SELECT_EXACT, y, x, big, kk,
                                        o, &s) == COMPCOLL_OK &&
                   same(o, w, kk, &at) &&
                   fold_select_ok(COMPCOLL_SELECT_EXACT, y, x, big, kk, 0, w,
                                  &s, why, sizeof(why)) &&
                   fold_both_ok(COMPCOLL_SELECT_SAMPLE, y, x, big, kk, w, &s,
                                why, sizeof(why));
            brute_chunk(y, x, big, kk, w);
            good = good && fold_both_ok(COMPCOLL_SELECT_CHUNK, y, x, big, kk,
                                        w, &s, why, sizeof(why));
            /* and without the AVX2 loops, where the CPU has them (the
             * SSE2 fold and collect streams out at this size) */
            compcoll_host_allow_avx2(0);
            good = good && fold_select_ok(COMPCOLL_SELECT_CHUNK, y, x, big,
                                          kk, 0, w, &s, why, sizeof(why));
            brute_topk(y, x, big, kk, w);
            good = good && fold_both_ok(COMPCOLL_SELECT_SAMPLE, y, x, big, kk,
                                        w, &s, why, sizeof(why));
            compcoll_host_allow_avx2(1);
            ok(good, "exact, and fold_select in every mode, on n = %zu "
               "match brute force%s%s", big, why[0] ? ": " : "", why);
            free(x);
            free(y);
            free(w);
            free(o);
        }
        {
            /* k = n with a sample whose size is not a whole number of runs:
             * every index, in order */
            size_t    big = 4194432, i2;
            float    *x   = malloc(big * sizeof(float));
            uint32_t *all = malloc(big * sizeof(uint32_t));
            int       good;

            fill(x, big, DIST_HEAVY);
            good = compcoll_host_select(COMPCOLL_SELECT_SAMPLE, NULL, x, big,
                                        big, all, &s) == COMPCOLL_OK;
            for (i2 = 0; good && i2 < big; i2++) {
                good = all[i2] == i2;
            }
            ok(good, "sample with k = n = %zu selects every index", big);
            free(x);
            free(all);
        }
        ok(compcoll_host_select(COMPCOLL_SELECT_EXACT, NULL, g, n, 0, got,
                                &s) == COMPCOLL_ERR_INVALID_PARAM &&
               compcoll_host_select(COMPCOLL_SELECT_EXACT, NULL, g, 10, 11,
                                    got, &s) == COMPCOLL_ERR_INVALID_PARAM,
           "k = 0 and k > n are refused");
        free(g);
        free(want);
        free(got);
    }
    compcoll_select_scratch_release(&s);
    return tap_done();
}
