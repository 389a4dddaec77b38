/*
 * Host index selection for the leader of a ScaleCom call.
 *
 * Keys are the bits of |a| (see compcoll_kernels.h), so selection is an
 * integer problem and never needs a sort:
 *
 *  exact:  radix select.  Pass 1 histograms the top 16 key bits of every
 *          element; the bucket holding the k-th largest key is found from the
 *          top.  Pass 2 lists the indices of the buckets above it (all taken)
 *          and the (index, key) pairs of that bucket (candidates).  A second
 *          histogram on the low 15 bits of the candidates fixes the exact
 *          threshold key and how many elements equal to it are taken; ties
 *          go to the lower index.  Two passes over m and g, no full sort.
 *  chunk:  the arg-max key of each of k near-equal chunks [j n/k, (j+1) n/k).
 *          One pass.
 *  sample: the threshold of the top k/n fraction of a random sample (runs
 *          of 16 neighbours at random places), lowered by a safety margin,
 *          collects candidates in one pass; exact top-k among them trims
 *          to k.  When the candidates do not cover k (or
 *          overflow their bound) it falls back to exact, so its result is
 *          always the exact set; it is the cheaper way there for large n.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(HAVE_TARGET_AVX2) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#endif
/* Loops with an AVX2 version, taken where the CPU has AVX2 (configure
 * checks that the compiler builds functions for that target). */
#if defined(HAVE_TARGET_AVX2) && (defined(__x86_64__) || defined(__i386__))
#define SEL_AVX2 1
#endif

#define SEL_HI_BITS  16
#define SEL_LO_BITS  15
#define SEL_HI_SIZE  (1u << SEL_HI_BITS)
#define SEL_LO_SIZE  (1u << SEL_LO_BITS)
#define SEL_LO_MASK  (SEL_LO_SIZE - 1u)

/* Below this many elements sampling cannot beat exact: use exact. */
#define SEL_SAMPLE_MIN_N 65536
/* Samples come in runs of this many neighbours: n / 128 of them, within
 * these bounds. */
#define SEL_SAMPLE_RUN   16
#define SEL_SAMPLE_MIN   32768
#define SEL_SAMPLE_MAX   65536
#define SEL_SAMPLE_AHEAD 8
/* From this many elements up, the histogram pass counts into this many
 * histograms in turn. */
#define SEL_HIST_WAYS_MIN_N (1u << 20)
#define SEL_HIST_WAYS       4

typedef struct {
    uint32_t idx;
    uint32_t key;
} sel_cand_t;

/* Whether the AVX2 loops run: -1 until asked (then the CPU's answer), 0
 * when the unit tests turn them off. */
static int sel_avx2 = -1;

void compcoll_host_allow_avx2(int allow)
{
    sel_avx2 = allow ? -1 : 0;
}

static int sel_use_avx2(void)
{
#ifdef SEL_AVX2
    if (sel_avx2 < 0) {
        __builtin_cpu_init();
        sel_avx2 = __builtin_cpu_supports("avx2") != 0;
    }
    return sel_avx2;
#else
    return 0;
#endif
}

static inline uint32_t sel_key(const float *m, const float *g, size_t i)
{
    return compcoll_abs_key(m ? m[i] + g[i] : g[i]);
}

/* Buckets sel_hist_find adds up at a time (nbuckets is a multiple). */
#define SEL_FIND_BLOCK 32u
_Static_assert(SEL_LO_SIZE % SEL_FIND_BLOCK == 0 && SEL_HI_SIZE % SEL_FIND_BLOCK == 0,
               "histograms are whole blocks");

/*
 * The bucket b with count(> b) < q <= count(>= b), scanning from the top;
 * *above = count(> b).  Requires 0 < q <= total count.  Most buckets above
 * the data's largest key are empty, and a small call's scan would be most
 * of its selection one bucket at a time: whole blocks are passed over
 * while their sum stays below what is missing (a sum the compiler
 * vectorises; no block sums to more than the count, which fits 32 bits),
 * and only the block where q is reached is walked bucket by bucket.
 */
static uint32_t sel_hist_find(const uint32_t *hist, uint32_t nbuckets,
                              size_t q, size_t *above)
{
    size_t   cum = 0;
    uint32_t b   = nbuckets; /* cum counts the buckets [b, nbuckets) */

    while (b >= SEL_FIND_BLOCK) {
        const uint32_t *blk = hist + b - SEL_FIND_BLOCK;
        uint32_t        sum = 0;
        unsigned        j;

        for (j = 0; j < SEL_FIND_BLOCK; j++) {
            sum += blk[j];
        }
        if (cum + sum >= q) {
            break;
        }
        cum += sum;
        b -= SEL_FIND_BLOCK;
    }
    do {
        b--;
        cum += hist[b];
    } while (cum < q);
    *above = cum - hist[b];
    return b;
}

/*
 * Candidates (ascending idx) whose keys share their top SEL_HI_BITS: the
 * threshold key T and how many elements equal to T to take so that exactly
 * q are taken.
 */
static void sel_lo_threshold(const sel_cand_t *cand, size_t nc, size_t q,
                             uint32_t *hist, uint32_t hi, uint32_t *thresh,
                             size_t *ties)
{
    size_t   above, j;
    uint32_t b;

    memset(hist, 0, SEL_LO_SIZE * sizeof(*hist));
    for (j = 0; j < nc; j++) {
        hist[cand[j].key & SEL_LO_MASK]++;
    }
    b       = sel_hist_find(hist, SEL_LO_SIZE, q, &above);
    *thresh = (hi << SEL_LO_BITS) | b;
    *ties   = q - above;
}

/*
 * Merge the surely-taken indices (ascending) with the candidates above the
 * threshold and the first `ties` candidates equal to it.
 */
static size_t sel_merge(const uint32_t *sure, size_t ns, const sel_cand_t *cand,
                        size_t nc, uint32_t thresh, size_t ties, uint32_t *idx)
{
    size_t i = 0, j = 0, out = 0;

    while (j < nc) {
        uint32_t key = cand[j].key;

        if (key > thresh || (key == thresh && ties > 0)) {
            ties -= (key == thresh);
            while (i < ns && sure[i] < cand[j].idx) {
                idx[out++] = sure[i++];
            }
            idx[out++] = cand[j].idx;
        }
        j++;
    }
    while (i < ns) {
        idx[out++] = sure[i++];
    }
    return out;
}

/*
 * Append the elements of m[lo, hi) whose key is at least thresh to cand
 * (ascending); returns the new count, or cap + 1 when they do not fit.
 * With SSE2 four keys are compared at a time and only the hits are looked
 * at; keys are below 2^31, so the signed compare orders them.
 */
static size_t sel_collect(const float *m, size_t lo, size_t hi,
                          uint32_t thresh, sel_cand_t *cand, size_t nc,
                          size_t cap)
{
    size_t i = lo;

#if defined(__SSE2__)
    const __m128i lim = _mm_set1_epi32((int32_t)thresh - 1);
    const __m128i mag = _mm_set1_epi32(0x7fffffff);

    for (; i + 4 <= hi; i += 4) {
        const __m128i key =
            _mm_and_si128(_mm_loadu_si128((const __m128i *)(m + i)), mag);
        unsigned bits = (unsigned)_mm_movemask_ps(
            _mm_castsi128_ps(_mm_cmpgt_epi32(key, lim)));

        while (bits != 0) {
            const size_t at = i + (size_t)__builtin_ctz(bits);

            bits &= bits - 1;
            if (nc == cap) {
                return cap + 1;
            }
            cand[nc].idx   = (uint32_t)at;
            cand[nc++].key = compcoll_abs_key(m[at]);
        }
    }
#endif
    for (; i < hi; i++) {
        const uint32_t key = compcoll_abs_key(m[i]);

        if (key >= thresh) {
            if (nc == cap) {
                return cap + 1;
            }
            cand[nc].idx   = (uint32_t)i;
            cand[nc++].key = key;
        }
    }
    return nc;
}

/*
 * Histograms of the top SEL_HI_BITS of the keys.  Large arrays count into
 * SEL_HIST_WAYS histograms in turn, so that runs of keys in one bucket do
 * not wait on each other's increments, and add them up at the end: `way`
 * (SEL_HIST_WAYS x SEL_HI_SIZE counters) where that pays, else NULL and
 * everything goes straight into hist.
 */
static compcoll_status_t sel_hist_begin(size_t n, uint32_t *hist,
                                        uint32_t **way,
                                        compcoll_select_scratch_t *s)
{
    *way = NULL;
    memset(hist, 0, SEL_HI_SIZE * sizeof(uint32_t));
    if (n >= SEL_HIST_WAYS_MIN_N) {
        *way = compcoll_buf_reserve(&s->hist, SEL_HIST_WAYS * SEL_HI_SIZE *
                                                  sizeof(uint32_t));
        if (*way == NULL) {
            return COMPCOLL_ERR_NO_MEMORY;
        }
        memset(*way, 0, SEL_HIST_WAYS * SEL_HI_SIZE * sizeof(uint32_t));
    }
    return COMPCOLL_OK;
}

/* Count the keys of [lo, hi). */
static void sel_hist_add(const float *m, const float *g, size_t lo, size_t hi,
                         uint32_t *hist, uint32_t *way)
{
    size_t i = lo;

    if (way != NULL) {
        for (; i + SEL_HIST_WAYS <= hi; i += SEL_HIST_WAYS) {
            size_t w;

            for (w = 0; w < SEL_HIST_WAYS; w++) {
                way[w * SEL_HI_SIZE + (sel_key(m, g, i + w) >> SEL_LO_BITS)]++;
            }
        }
    }
    for (; i < hi; i++) {
        hist[sel_key(m, g, i) >> SEL_LO_BITS]++;
    }
}

static void sel_hist_end(uint32_t *hist, const uint32_t *way)
{
    size_t b, w;

    if (way == NULL) {
        return;
    }
    for (b = 0; b < SEL_HI_SIZE; b++) {
        for (w = 0; w < SEL_HIST_WAYS; w++) {
            hist[b] += way[w * SEL_HI_SIZE + b];
        }
    }
}

/* The exact selection once hist counts every key of a (m + g, or g alone
 * when m is NULL): one more pass lists the elements from the k-th largest
 * key's bucket up. */
static compcoll_status_t sel_exact_from_hist(const float *m, const float *g,
                                             size_t n, size_t k, uint32_t *idx,
                                             uint32_t                  *hist,
                                             compcoll_select_scratch_t *s)
{
    uint32_t   *sure, thresh, b;
    sel_cand_t *cand;
    size_t      above, nc = 0, ns = 0, ties, i;

    b    = sel_hist_find(hist, SEL_HI_SIZE, k, &above);
    sure = compcoll_buf_reserve(&s->above, (above + 1) * sizeof(uint32_t));
    cand = compcoll_buf_reserve(&s->cand, (above + hist[b] + 1) *
                                              sizeof(sel_cand_t));
    if (sure == NULL || cand == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    if (m == NULL) {
        /* one array: gather everything from bucket b up four at a time,
         * then split it into the sure and the candidates */
        size_t j, got = sel_collect(g, 0, n, b << SEL_LO_BITS, cand, 0,
                                    above + hist[b]);

        for (j = 0; j < got; j++) {
            if ((cand[j].key >> SEL_LO_BITS) > b) {
                sure[ns++] = cand[j].idx;
            } else {
                cand[nc++] = cand[j];
            }
        }
    } else {
        for (i = 0; i < n; i++) {
            uint32_t key = sel_key(m, g, i);
            uint32_t hi  = key >> SEL_LO_BITS;

            if (hi > b) {
                sure[ns++] = (uint32_t)i;
            } else if (hi == b) {
                cand[nc].idx   = (uint32_t)i;
                cand[nc++].key = key;
            }
        }
    }
    sel_lo_threshold(cand, nc, k - above, hist, b, &thresh, &ties);
    return (sel_merge(sure, ns, cand, nc, thresh, ties, idx) == k)
               ? COMPCOLL_OK
               : COMPCOLL_ERR_PROTOCOL;
}

static compcoll_status_t sel_exact(const float *m, const float *g, size_t n,
                                   size_t k, uint32_t *idx,
                                   compcoll_select_scratch_t *s)
{
    uint32_t *hist, *way;

    hist = compcoll_buf_reserve(&s->keys, SEL_HI_SIZE * sizeof(uint32_t));
    if (hist == NULL || sel_hist_begin(n, hist, &way, s) != COMPCOLL_OK) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    sel_hist_add(m, g, 0, n, hist, way);
    sel_hist_end(hist, way);
    return sel_exact_from_hist(m, g, n, k, idx, hist, s);
}

/* The trim of a candidate list to its exact top q: the threshold key and
 * how many candidates equal to it are taken (the first ones, so ties go to
 * the lower index). */
static compcoll_status_t sel_cand_threshold(sel_cand_t *cand, size_t nc,
                                            size_t q, uint32_t *thresh,
                                            size_t *ties,
                                            compcoll_select_scratch_t *s)
{
    uint32_t   *hist, b;
    size_t      above, j, nb = 0;
    sel_cand_t *bucket;

    hist = compcoll_buf_reserve(&s->keys, SEL_HI_SIZE * sizeof(uint32_t));
    if (hist == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    memset(hist, 0, SEL_HI_SIZE * sizeof(uint32_t));
    for (j = 0; j < nc; j++) {
        hist[cand[j].key >> SEL_LO_BITS]++;
    }
    b = sel_hist_find(hist, SEL_HI_SIZE, q, &above);
    /* Compact the boundary bucket behind the list; keep the rest in place
     * by threshold: keys with hi > b are surely taken. */
    bucket = cand + nc;
    for (j = 0; j < nc; j++) {
        if ((cand[j].key >> SEL_LO_BITS) == b) {
            bucket[nb++] = cand[j];
        }
    }
    sel_lo_threshold(bucket, nb, q - above, hist, b, thresh, ties);
    return COMPCOLL_OK;
}

/* Exact top-q of an arbitrary candidate list (ascending idx), into idx. */
static compcoll_status_t sel_from_candidates(sel_cand_t *cand, size_t nc,
                                             size_t q, uint32_t *idx,
                                             compcoll_select_scratch_t *s)
{
    uint32_t          thresh;
    size_t            ties;
    compcoll_status_t status = sel_cand_threshold(cand, nc, q, &thresh,
                                                  &ties, s);

    if (status != COMPCOLL_OK) {
        return status;
    }
    return (sel_merge(NULL, 0, cand, nc, thresh, ties, idx) == q)
               ? COMPCOLL_OK
               : COMPCOLL_ERR_PROTOCOL;
}

static void sel_chunk(const float *m, const float *g, size_t n, size_t k,
                      uint32_t *idx)
{
    size_t j;

    for (j = 0; j < k; j++) {
        size_t   lo   = compcoll_chunk_lo(j, n, k);
        size_t   hi   = compcoll_chunk_lo(j + 1, n, k);
        size_t   best = lo, i;
        uint32_t bk   = sel_key(m, g, lo);

        for (i = lo + 1; i < hi; i++) {
            uint32_t key = sel_key(m, g, i);

            if (key > bk) {
                bk   = key;
                best = i;
            }
        }
        idx[j] = (uint32_t)best;
    }
}

static uint64_t sel_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/*
 * The keys of `runs` runs of SEL_SAMPLE_RUN elements (a cache line) at
 * random places in [lo, hi) (hi - lo >= SEL_SAMPLE_RUN) into cand, each
 * with idx `tag`: a few thousand memory accesses instead of one per
 * sample, each prefetched SEL_SAMPLE_AHEAD runs before it is read (pass i
 * reads run i - SEL_SAMPLE_AHEAD from its slot, then starts run i there).
 */
static void sel_sample_runs(const float *m, const float *g, size_t lo,
                            size_t hi, size_t runs, uint32_t tag,
                            sel_cand_t *cand, uint64_t *rng)
{
    size_t i, base[SEL_SAMPLE_AHEAD];

    for (i = 0; i < runs + SEL_SAMPLE_AHEAD; i++) {
        size_t *slot = &base[i % SEL_SAMPLE_AHEAD];

        if (i >= SEL_SAMPLE_AHEAD) {
            const size_t run = i - SEL_SAMPLE_AHEAD;
            size_t       j;

            for (j = 0; j < SEL_SAMPLE_RUN; j++) {
                cand[run * SEL_SAMPLE_RUN + j].idx = tag;
                cand[run * SEL_SAMPLE_RUN + j].key = sel_key(m, g, *slot + j);
            }
        }
        if (i < runs) {
            *slot = lo + (size_t)(sel_rand(rng) % ((hi - lo) / SEL_SAMPLE_RUN)) *
                             SEL_SAMPLE_RUN;
            __builtin_prefetch(g + *slot);
            if (m != NULL) {
                __builtin_prefetch(m + *slot);
            }
        }
    }
}

/* How many of ns samples the threshold lets through when `expect` of them
 * are expected in the top k: 25 % and four standard deviations more, so
 * that the candidates cover k with high probability. */
static size_t sel_sample_margin(double expect, size_t ns)
{
    const size_t r = (size_t)(1.25 * expect + 4.0 * sqrt(expect) + 8.0);

    return r < ns ? r : ns;
}

/*
 * The sampled threshold: the key of the top r of a random sample of a, r
 * the expected count of the top k/n fraction plus 25 % and four standard
 * deviations of margin, so that the candidates at or above it cover k with
 * high probability; *cap bounds how many candidates are kept (s->cand holds
 * twice that).
 */
static compcoll_status_t sel_sample_threshold(const float *m, const float *g,
                                              size_t n, size_t k,
                                              compcoll_select_scratch_t *s,
                                              uint32_t *thresh, size_t *cap)
{
    size_t      ns, runs, r, nc = 0, i, above, ties;
    double      expect;
    sel_cand_t *cand;
    uint32_t   *hist, b;

    if (s->rng == 0) {
        s->rng = 0x9e3779b97f4a7c15ull;
    }
    ns = n / 128;
    ns = ns < SEL_SAMPLE_MIN ? SEL_SAMPLE_MIN
         : ns > SEL_SAMPLE_MAX ? SEL_SAMPLE_MAX
                               : ns;
    ns -= ns % SEL_SAMPLE_RUN; /* whole runs; ns <= n as n >= SEL_SAMPLE_MIN_N */
    runs = ns / SEL_SAMPLE_RUN;
    expect = (double)k * (double)ns / (double)n;
    r      = sel_sample_margin(expect, ns);
    *cap = 2 * k + (size_t)(16.0 * sqrt((double)k)) + 1024;
    cand = compcoll_buf_reserve(&s->cand,
                                (*cap > ns ? *cap : ns) * 2 * sizeof(sel_cand_t));
    hist = compcoll_buf_reserve(&s->keys, SEL_HI_SIZE * sizeof(uint32_t));
    if (cand == NULL || hist == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    sel_sample_runs(m, g, 0, n, runs, 0, cand, &s->rng);
    memset(hist, 0, SEL_HI_SIZE * sizeof(uint32_t));
    for (i = 0; i < ns; i++) {
        hist[cand[i].key >> SEL_LO_BITS]++;
    }
    b = sel_hist_find(hist, SEL_HI_SIZE, r, &above);
    for (i = 0; i < ns; i++) {
        if ((cand[i].key >> SEL_LO_BITS) == b) {
            cand[nc++] = cand[i];
        }
    }
    sel_lo_threshold(cand, nc, r - above, hist, b, thresh, &ties);
    return COMPCOLL_OK;
}

static compcoll_status_t sel_sample(const float *m, const float *g, size_t n,
                                    size_t k, uint32_t *idx,
                                    compcoll_select_scratch_t *s)
{
    size_t            cap, nc = 0, i;
    sel_cand_t       *cand;
    uint32_t          thresh;
    compcoll_status_t status;

    if (n < SEL_SAMPLE_MIN_N) {
        return sel_exact(m, g, n, k, idx, s);
    }
    status = sel_sample_threshold(m, g, n, k, s, &thresh, &cap);
    if (status != COMPCOLL_OK) {
        return status;
    }
    /* One pass: everything at or above the threshold, bounded by cap. */
    cand = s->cand.ptr;
    for (i = 0; i < n; i++) {
        uint32_t key = sel_key(m, g, i);

        if (key >= thresh) {
            if (nc == cap) {
                break;
            }
            cand[nc].idx   = (uint32_t)i;
            cand[nc++].key = key;
        }
    }
    if (i < n || nc < k) {
        s->sample_fallbacks++;
        return sel_exact(m, g, n, k, idx, s);
    }
    return sel_from_candidates(cand, nc, k, idx, s);
}

/* ------------------------------------------------ fold and select in one */

/*
 * The fused passes fold a block, then look at it again while it is in
 * cache: this many elements (16 KB of m) per block.
 */
#define SEL_FOLD_BLOCK 4096

/*
 * exact, fused with the fold: each block is folded, then its keys counted;
 * the pass that lists the candidates reads the folded m.
 */
static compcoll_status_t sel_exact_fold(float *m, const float *g, float *out,
                                        size_t n, size_t k, uint32_t *idx,
                                        compcoll_select_scratch_t *s)
{
    const int stream = compcoll_host_fold_streams(g, out, n);
    uint32_t *hist, *way;
    size_t    lo;

    hist = compcoll_buf_reserve(&s->keys, SEL_HI_SIZE * sizeof(uint32_t));
    if (hist == NULL || sel_hist_begin(n, hist, &way, s) != COMPCOLL_OK) {
        /* the fold is this call's whatever the selection does */
        compcoll_host_kernels.fold(m, g, out, n);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    for (lo = 0; lo < n; lo += SEL_FOLD_BLOCK) {
        size_t hi = (n - lo > SEL_FOLD_BLOCK) ? lo + SEL_FOLD_BLOCK : n;

        compcoll_host_fold_range(m, g, out, lo, hi, stream);
        sel_hist_add(NULL, m, lo, hi, hist, way);
    }
    compcoll_host_stream_fence(stream);
    sel_hist_end(hist, way);
    return sel_exact_from_hist(NULL, m, n, k, idx, hist, s);
}

/* The plain fold and collect of [lo, hi), continuing a list of nc
 * candidates (cap + 1: overflowed, the fold goes on). */
static size_t sel_fold_collect_tail(float *m, const float *g, float *out,
                                    size_t lo, size_t hi, uint32_t thresh,
                                    sel_cand_t *cand, float *cval, size_t nc,
                                    size_t cap)
{
    size_t i;
    int    nf = 0;

    for (i = lo; i < hi; i++) {
        const float a = m[i] + g[i];

        m[i]   = a;
        out[i] = 0.0f; /* after g's read: may alias */
        nf |= compcoll_nonfinite(a);
        if (compcoll_abs_key(a) >= thresh) {
            if (nc < cap) {
                cand[nc].idx = (uint32_t)i;
                cand[nc].key = compcoll_abs_key(a);
                cval[nc]     = a;
                m[i]         = 0.0f;
            }
            nc += (nc <= cap);
        }
    }
    compcoll_host_nonfinite |= nf;
    return nc;
}

/* The hits of a vector at i (bits: its lanes at or above the threshold),
 * one by one: appended and taken while the list has room (m there to +0),
 * counted past it; the new count, cap + 1 once they overflowed. */
static inline size_t sel_take_hits(float *m, size_t i, unsigned bits,
                                   sel_cand_t *cand, float *cval, size_t nc,
                                   size_t cap)
{
    while (bits != 0) {
        const size_t at = i + (size_t)__builtin_ctz(bits);

        bits &= bits - 1;
        if (nc < cap) {
            cand[nc].idx = (uint32_t)at;
            cand[nc].key = compcoll_abs_key(m[at]);
            cval[nc]     = m[at];
            m[at]        = 0.0f;
        }
        nc += (nc <= cap);
    }
    return nc;
}

#ifdef SEL_AVX2
/* For a 4-bit mask of hit lanes: the lanes to move to the front, in order
 * (the rest of a row fills lanes stored past the hits: any value does). */
static const int32_t sel_pack4[16][4] = {
    {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0},
    {2, 0, 0, 0}, {0, 2, 0, 0}, {1, 2, 0, 0}, {0, 1, 2, 0},
    {3, 0, 0, 0}, {0, 3, 0, 0}, {1, 3, 0, 0}, {0, 1, 3, 0},
    {2, 3, 0, 0}, {0, 2, 3, 0}, {1, 2, 3, 0}, {0, 1, 2, 3},
};

/* Four lanes' hits (mask bits) appended at cand + nc, cval + nc: all four
 * lanes are written, the count moves by the hits. */
__attribute__((target("avx2"))) static inline size_t
sel_pack_hits(sel_cand_t *cand, float *cval, size_t nc, __m128i key,
              __m128 a, size_t at, unsigned bits)
{
    const __m128i order =
        _mm_loadu_si128((const __m128i *)(const void *)sel_pack4[bits]);
    const __m128i keys = _mm_castps_si128(
        _mm_permutevar_ps(_mm_castsi128_ps(key), order));
    const __m128i where = _mm_add_epi32(_mm_set1_epi32((int32_t)at), order);

    _mm_storeu_si128((__m128i *)(void *)(cand + nc),
                     _mm_unpacklo_epi32(where, keys));
    _mm_storeu_si128((__m128i *)(void *)(cand + nc + 2),
                     _mm_unpackhi_epi32(where, keys));
    _mm_storeu_ps(cval + nc, _mm_permutevar_ps(a, order));
    return nc + (size_t)__builtin_popcount(bits);
}

/*
 * sel_fold_collect's loop, eight elements a time, from *at while eight are
 * left (out 32-byte aligned when streamed).  Eight elements with a hit
 * (about one in ten at ratio 100) have their hits packed to the front of
 * each half by a lane permutation and stored whatever their number: one
 * branch per eight elements, none per hit.  (Storing the packed lanes of
 * every eight, hit or not, costs more in stores than the branch does.)
 * Near the bound the hits are looked at one by one.
 */
__attribute__((target("avx2"))) static size_t
sel_fold_collect_avx2(float *m, const float *g, float *out, size_t *at,
                      size_t n, uint32_t thresh, sel_cand_t *cand, float *cval,
                      size_t nc, size_t cap, int stream)
{
    const __m256i lim  = _mm256_set1_epi32((int32_t)thresh - 1);
    const __m256i mag  = _mm256_set1_epi32(0x7fffffff);
    const __m256  zero = _mm256_setzero_ps();
    __m256        bad  = zero;
    size_t        i    = *at;

    for (; i + 8 <= n; i += 8) {
        const __m256  a = _mm256_add_ps(_mm256_loadu_ps(m + i),
                                        _mm256_loadu_ps(g + i));
        const __m256i key = _mm256_and_si256(_mm256_castps_si256(a), mag);
        const __m256i hit = _mm256_cmpgt_epi32(key, lim);
        unsigned      bits =
            (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(hit));

        if (stream) {
            _mm256_stream_ps(out + i, zero);
        } else {
            _mm256_storeu_ps(out + i, zero); /* after g's load: may alias */
        }
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_sub_ps(a, a), zero,
                                              _CMP_NEQ_UQ));
        if (bits == 0) {
            _mm256_storeu_ps(m + i, a);
            continue;
        }
        if (nc + 8 <= cap) {
            /* taken on the spot: m <- +0 at the hits */
            _mm256_storeu_ps(m + i,
                             _mm256_andnot_ps(_mm256_castsi256_ps(hit), a));
            nc = sel_pack_hits(cand, cval, nc, _mm256_castsi256_si128(key),
                               _mm256_castps256_ps128(a), i, bits & 15u);
            nc = sel_pack_hits(cand, cval, nc,
                               _mm256_extracti128_si256(key, 1),
                               _mm256_extractf128_ps(a, 1), i + 4, bits >> 4);
            continue;
        }
        _mm256_storeu_ps(m + i, a);
        nc = sel_take_hits(m, i, bits, cand, cval, nc, cap);
    }
    compcoll_host_nonfinite |= (_mm256_movemask_ps(bad) != 0);
    *at = i;
    return nc;
}
#endif

/*
 * Fold [lo, hi) (m <- m + g, out <- 0; out may be g; streamed when
 * `stream`, not fenced) and append the indices
 * whose folded key is at least thresh to cand (ascending); returns their
 * count, or cap + 1 when they overflowed (the fold still completes).  The
 * candidates kept are taken on the spot, while their memory is in cache:
 * their values a go to cval and m there to +0, so that afterwards only the
 * few that lose the trim need their memory back (sel_trim_take).  With
 * AVX2 eight elements are folded at a time and their hits packed without
 * branches (sel_fold_collect_avx2); with SSE2 four at a time and only the
 * hits are looked at.  Keys are below 2^31, so the signed compare orders
 * them.
 */
static size_t sel_fold_collect_range(float *m, const float *g, float *out,
                                     size_t lo, size_t hi, int stream,
                                     uint32_t thresh, sel_cand_t *cand,
                                     float *cval, size_t cap)
{
    size_t nc = 0, i = lo;

    (void)stream; /* no streaming stores without SSE2 */

#ifdef SEL_AVX2
    if (sel_use_avx2()) {
        if (stream) {
            /* up to out's first 32-byte boundary: the plain loop */
            while (i < hi && ((uintptr_t)(out + i) % 32) != 0) {
                i++;
            }
            nc = sel_fold_collect_tail(m, g, out, lo, i, thresh, cand, cval,
                                       nc, cap);
        }
        nc = sel_fold_collect_avx2(m, g, out, &i, hi, thresh, cand, cval, nc,
                                   cap, stream);
        return sel_fold_collect_tail(m, g, out, i, hi, thresh, cand, cval, nc,
                                     cap);
    }
#endif
#if defined(__SSE2__)
    const __m128i lim  = _mm_set1_epi32((int32_t)thresh - 1);
    const __m128  mag  = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
    const __m128  zero = _mm_setzero_ps();
    __m128        bad  = zero;

    if (stream) {
        /* up to out's first 16-byte boundary: the plain loop below */
        while (i < hi && ((uintptr_t)(out + i) % 16) != 0) {
            i++;
        }
        nc = sel_fold_collect_tail(m, g, out, lo, i, thresh, cand, cval, nc,
                                   cap);
    }
    for (; i + 4 <= hi; i += 4) {
        const __m128 a = _mm_add_ps(_mm_loadu_ps(m + i), _mm_loadu_ps(g + i));
        unsigned     bits;

        _mm_storeu_ps(m + i, a);
        if (stream) {
            _mm_stream_ps(out + i, zero);
        } else {
            _mm_storeu_ps(out + i, zero); /* after g's load: may alias */
        }
        bad = _mm_or_ps(bad, _mm_cmpneq_ps(_mm_sub_ps(a, a), zero));
        bits = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(
            _mm_cmpgt_epi32(_mm_castps_si128(_mm_and_ps(a, mag)), lim)));
        nc = sel_take_hits(m, i, bits, cand, cval, nc, cap);
    }
    compcoll_host_nonfinite |= (_mm_movemask_ps(bad) != 0);
#endif
    return sel_fold_collect_tail(m, g, out, i, hi, thresh, cand, cval, nc,
                                 cap);
}

/* sel_fold_collect_range over [0, n), fenced. */
static size_t sel_fold_collect(float *m, const float *g, float *out, size_t n,
                               uint32_t thresh, sel_cand_t *cand, float *cval,
                               size_t cap)
{
    const int    stream = compcoll_host_fold_streams(g, out, n);
    const size_t nc     = sel_fold_collect_range(m, g, out, 0, n, stream,
                                                 thresh, cand, cval, cap);

    compcoll_host_stream_fence(stream);
    return nc;
}

/* The memory of the first nc taken candidates back from cval. */
static void sel_give_back(float *m, const sel_cand_t *cand, const float *cval,
                          size_t nc)
{
    size_t j;

    for (j = 0; j < nc; j++) {
        m[cand[j].idx] = cval[j];
    }
}

/*
 * The trim and the take in one walk over the taken candidates: those above
 * the threshold (and the first `ties` equal to it) go to idx and vals in
 * order, the others' memory back from cval.  Returns how many were taken.
 */
static size_t sel_trim_take(float *m, const sel_cand_t *cand,
                            const float *cval, size_t nc, uint32_t thresh,
                            size_t ties, size_t k, uint32_t *idx, float *vals)
{
    size_t j, t = 0;

    for (j = 0; j < nc; j++) {
        const uint32_t key = cand[j].key;

        if (t < k && (key > thresh || (key == thresh && ties > 0))) {
            ties -= (key == thresh);
            idx[t]    = cand[j].idx;
            vals[t++] = cval[j];
        } else {
            m[cand[j].idx] = cval[j];
        }
    }
    return t;
}

/*
 * The end of a fused sample pass over [lo, hi) that collected and took nc
 * candidates (cap + 1: they overflowed their bound): the exact top q of
 * the folded a there, into idx and vals, m there +0.  The candidates are
 * trimmed to q and the memory of those that lost goes back, in one walk;
 * when they do not cover q or overflowed, the memory of those collected
 * goes back and exact selection runs on the folded a (counted as a
 * fallback), so the result is the exact set either way.
 */
static compcoll_status_t sel_sample_finish(float *m, size_t lo, size_t hi,
                                           size_t q, sel_cand_t *cand,
                                           const float *cval, size_t nc,
                                           size_t cap, uint32_t *idx,
                                           float                     *vals,
                                           compcoll_select_scratch_t *s)
{
    compcoll_status_t status;
    uint32_t          thresh;
    size_t            ties, j;

    if (nc > cap || nc < q) {
        sel_give_back(m, cand, cval, nc < cap ? nc : cap);
        s->sample_fallbacks++;
        status = sel_exact(NULL, m + lo, hi - lo, q, idx, s);
        if (status == COMPCOLL_OK) {
            for (j = 0; j < q; j++) {
                idx[j] += (uint32_t)lo;
            }
            compcoll_host_take(m, idx, q, vals);
        }
        return status;
    }
    status = sel_cand_threshold(cand, nc, q, &thresh, &ties, s);
    if (status == COMPCOLL_OK &&
        sel_trim_take(m, cand, cval, nc, thresh, ties, q, idx, vals) != q) {
        status = COMPCOLL_ERR_PROTOCOL; /* a threshold that does not trim
                                           to q: cannot happen */
    }
    if (status != COMPCOLL_OK) {
        /* every candidate's memory back: m holds a, as after a fold */
        sel_give_back(m, cand, cval, nc);
    }
    return status;
}

/*
 * sample, fused with the fold and the take: the threshold comes from a
 * sample of a = m + g before the pass; the pass folds, collects the
 * candidates at or above it and takes them; they are trimmed to the exact
 * top k, and the memory of those that lost goes back, in one walk.  When
 * they do not cover k or overflow their bound, the memory of those
 * collected goes back and exact selection runs on the folded memory (which
 * holds a), so the result is always the exact set.
 */
static compcoll_status_t sel_sample_fold(float *m, const float *g, float *out,
                                         size_t n, size_t k, uint32_t *idx,
                                         float                     *vals,
                                         compcoll_select_scratch_t *s)
{
    uint32_t          thresh;
    size_t            cap, nc;
    float            *cval;
    sel_cand_t       *cand;
    compcoll_status_t status;

    status = sel_sample_threshold(m, g, n, k, s, &thresh, &cap);
    cval   = compcoll_buf_reserve(&s->cval, cap * sizeof(float));
    if (status == COMPCOLL_OK && cval == NULL) {
        status = COMPCOLL_ERR_NO_MEMORY;
    }
    if (status != COMPCOLL_OK) {
        compcoll_host_kernels.fold(m, g, out, n);
        return status;
    }
    cand = s->cand.ptr;
    nc   = sel_fold_collect(m, g, out, n, thresh, cand, cval, cap);
    return sel_sample_finish(m, 0, n, k, cand, cval, nc, cap, idx, vals, s);
}

/* ------------------------------------------- sample, piece by piece */

/* Samples a piece of a planned call has at least: about 80 of them in the
 * top k at ratio 100, so that its quota is off by some 10 %, not 20. */
#define SEL_PLAN_PER_PIECE 8192

/* Piece s of `pieces` over n: [s n / pieces, (s + 1) n / pieces). */
static size_t sel_piece_lo(size_t s, size_t n, unsigned pieces)
{
    return (size_t)((uint64_t)s * n / pieces);
}

/*
 * k split in proportion to the sample's hits per piece (largest
 * remainders, ties to the lower piece), no piece given more than it
 * holds: what one piece cannot hold goes to the next with room (k <= n,
 * so there is one).
 */
static void sel_plan_quotas(const size_t *hits, size_t total, size_t n,
                            size_t k, unsigned pieces, uint32_t *quota)
{
    double   frac[COMPCOLL_SELECT_PIECES];
    size_t   given = 0, over = 0;
    unsigned s, t;

    for (s = 0; s < pieces; s++) {
        const double share = (double)k * (double)hits[s] / (double)total;

        quota[s] = (uint32_t)share;
        frac[s]  = share - (double)quota[s];
        given += quota[s];
    }
    while (given < k) { /* fewer than pieces left: one each, largest first */
        unsigned best = 0;

        for (s = 1; s < pieces; s++) {
            best = frac[s] > frac[best] ? s : best;
        }
        quota[best]++;
        frac[best] = -1.0;
        given++;
    }
    for (s = 0; s < pieces; s++) {
        const size_t room = sel_piece_lo(s + 1, n, pieces) -
                            sel_piece_lo(s, n, pieces);

        if (quota[s] > room) {
            over += quota[s] - room;
            quota[s] = (uint32_t)room;
        }
    }
    for (t = 0; over > 0; t = (t + 1) % pieces) {
        const size_t room = sel_piece_lo(t + 1, n, pieces) -
                            sel_piece_lo(t, n, pieces) - quota[t];
        const size_t add  = room < over ? room : over;

        quota[t] += (uint32_t)add;
        over -= add;
    }
}

compcoll_status_t compcoll_host_sample_plan(const float *m, const float *g,
                                            size_t n, size_t k,
                                            unsigned pieces, uint32_t *quota,
                                            uint32_t                  *thresh,
                                            compcoll_select_scratch_t *s)
{
    size_t      hits[COMPCOLL_SELECT_PIECES] = {0};
    size_t      per, ns, r, i, ties, total = 0;
    double      expect; /* of the sample in the top k */
    uint32_t    top;
    sel_cand_t *cand;
    unsigned    p;

    if (pieces == 0 || pieces > COMPCOLL_SELECT_PIECES || k == 0 || k > n ||
        n > UINT32_MAX || n / pieces < SEL_PLAN_PER_PIECE) {
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    if (s->rng == 0) {
        s->rng = 0x9e3779b97f4a7c15ull;
    }
    per = SEL_PLAN_PER_PIECE;
    if (per * pieces < SEL_SAMPLE_MIN) {
        per = SEL_SAMPLE_MIN / pieces;
    }
    per -= per % SEL_SAMPLE_RUN;
    ns   = per * pieces;
    cand = compcoll_buf_reserve(&s->cand, 2 * ns * sizeof(sel_cand_t));
    if (cand == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    /* stratified: every piece sampled alike, each sample tagged with it */
    for (p = 0; p < pieces; p++) {
        sel_sample_runs(m, g, sel_piece_lo(p, n, pieces),
                        sel_piece_lo(p + 1, n, pieces), per / SEL_SAMPLE_RUN,
                        p, cand + (size_t)p * per, &s->rng);
    }
    /* the quotas: each piece's samples among the sample's top k/n */
    expect = (double)k * (double)ns / (double)n;
    r      = (size_t)(expect + 0.5);
    r = r < 1 ? 1 : r;
    if (sel_cand_threshold(cand, ns, r, &top, &ties, s) != COMPCOLL_OK) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    for (i = 0; i < ns; i++) {
        if (cand[i].key >= top) {
            hits[cand[i].idx]++;
            total++;
        }
    }
    sel_plan_quotas(hits, total, n, k, pieces, quota);
    /* the candidates' threshold, with sample's margin */
    r = sel_sample_margin(expect, ns);
    return sel_cand_threshold(cand, ns, r, thresh, &ties, s);
}

compcoll_status_t compcoll_host_sample_piece(float *m, const float *g,
                                             float *out, size_t n, size_t lo,
                                             size_t hi, size_t q,
                                             uint32_t thresh, uint32_t *idx,
                                             float                     *vals,
                                             compcoll_select_scratch_t *s)
{
    const int    stream = compcoll_host_fold_streams(g, out, n);
    const size_t cap    = 2 * q + (size_t)(16.0 * sqrt((double)q)) + 1024;
    sel_cand_t  *cand;
    float       *cval;
    size_t       nc;

    if (lo > hi || hi > n || q > hi - lo) {
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    if (thresh > 0x7fffffffu) {
        thresh = 0x7fffffffu; /* keys are below 2^31: the vector compares
                                 are signed */
    }
    cand = compcoll_buf_reserve(&s->cand, 2 * cap * sizeof(sel_cand_t));
    cval = compcoll_buf_reserve(&s->cval, cap * sizeof(float));
    if (q == 0 || cand == NULL || cval == NULL) {
        /* m must hold a whatever comes of the selection */
        compcoll_host_fold_range(m, g, out, lo, hi, stream);
        compcoll_host_stream_fence(stream);
        return q == 0 ? COMPCOLL_OK : COMPCOLL_ERR_NO_MEMORY;
    }
    nc = sel_fold_collect_range(m, g, out, lo, hi, stream, thresh, cand, cval,
                                cap);
    compcoll_host_stream_fence(stream);
    return sel_sample_finish(m, lo, hi, q, cand, cval, nc, cap, idx, vals, s);
}

/* The largest key of m[lo, hi); written for the vectoriser. */
static inline __attribute__((always_inline)) uint32_t sel_max_key(const float *restrict m, size_t lo, size_t hi)
{
    int32_t top = 0; /* keys are below 2^31: a signed maximum is cheaper */
    size_t  i;

    for (i = lo; i < hi; i++) {
        const int32_t key = (int32_t)compcoll_abs_key(m[i]);

        top = key > top ? key : top;
    }
    return (uint32_t)top;
}

/* The first index of m[lo, hi) whose key is `key`; there is one. */
static inline __attribute__((always_inline)) size_t sel_find_key(const float *m, size_t lo, size_t hi, uint32_t key)
{
    size_t i = lo;

#if defined(__SSE2__)
    const __m128i want = _mm_set1_epi32((int32_t)key);
    const __m128i mag  = _mm_set1_epi32(0x7fffffff);

    for (; i + 4 <= hi; i += 4) {
        const __m128i k =
            _mm_and_si128(_mm_loadu_si128((const __m128i *)(m + i)), mag);
        const unsigned bits = (unsigned)_mm_movemask_ps(
            _mm_castsi128_ps(_mm_cmpeq_epi32(k, want)));

        if (bits != 0) {
            return i + (size_t)__builtin_ctz(bits);
        }
    }
#endif
    while (compcoll_abs_key(m[i]) != key) {
        i++;
    }
    return i;
}

/*
 * The arg-max (the first maximum, as sel_chunk) of each of chunks [j0, j1),
 * taken: idx, vals, and m there <- +0.  The maximum is the hot loop; where
 * the compiler can clone it for AVX2 (a signed 32-bit maximum, eight at a
 * time), the loader picks the clone the CPU runs.
 */
/*
 * The first index of the largest key of m[lo, hi) without a branch on the
 * data, W keys a time (hi - lo >= W): each lane keeps its largest key and
 * where it first saw it; the last W are read again as one more vector (an
 * element seen twice keeps its index, so ties still go to the lowest);
 * then the largest key over the lanes, and the lowest index holding it.
 * Keys are below 2^31, so signed compares order them.  Where the compiler
 * cannot shuffle vectors, the two-pass sel_find_key(sel_max_key()) does.
 */
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define SEL_ARGMAX_VECTOR 1
#endif
#endif

#ifdef SEL_ARGMAX_VECTOR
/* v <- the lanewise larger (rel >) or smaller (rel <) of v and v with its
 * lanes shuffled. */
#define SEL_V_STEP(T, v, rel, ...)                                             \
    do {                                                                       \
        const T o_ = __builtin_shufflevector(v, v, __VA_ARGS__);               \
        const T c_ = (v rel o_);                                               \
        v          = (c_ & v) | (~c_ & o_);                                    \
    } while (0)

#define SEL_ARGMAX_BODY(T, W, LANES)                                           \
    const T lane = LANES;                                                      \
    T       top  = lane - lane - 1, at = lane - lane, key, gt, best;           \
    size_t  i    = lo;                                                         \
                                                                               \
    for (;;) {                                                                 \
        memcpy(&key, m + i, sizeof(key));                                      \
        key &= 0x7fffffff;                                                     \
        gt  = key > top;                                                       \
        top = (gt & key) | (~gt & top);                                        \
        at  = (gt & (lane + (int32_t)(i - lo))) | (~gt & at);                  \
        if (i + (W) == hi) {                                                   \
            break;                                                             \
        }                                                                      \
        i = (hi - i - (W) >= (W)) ? i + (W) : hi - (W);                        \
    }                                                                          \
    best = top

/* SSE2: four keys a time. */
typedef int32_t sel_v4_t __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) size_t
sel_argmax4(const float *m, size_t lo, size_t hi)
{
    SEL_ARGMAX_BODY(sel_v4_t, 4, ((sel_v4_t){0, 1, 2, 3}));
    SEL_V_STEP(sel_v4_t, best, >, 2, 3, 0, 1);
    SEL_V_STEP(sel_v4_t, best, >, 1, 0, 3, 2);
    gt = top == best;
    at = (gt & at) | (~gt & (sel_v4_t){INT32_MAX, INT32_MAX, INT32_MAX,
                                        INT32_MAX});
    SEL_V_STEP(sel_v4_t, at, <, 2, 3, 0, 1);
    SEL_V_STEP(sel_v4_t, at, <, 1, 0, 3, 2);
    return lo + (size_t)at[0];
}

#ifdef SEL_AVX2
#define SEL_ARGMAX_AVX2 1
/* AVX2: eight keys a time, in one register. */
typedef int32_t sel_v8_t __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) size_t
sel_argmax8(const float *m, size_t lo, size_t hi)
{
    SEL_ARGMAX_BODY(sel_v8_t, 8, ((sel_v8_t){0, 1, 2, 3, 4, 5, 6, 7}));
    SEL_V_STEP(sel_v8_t, best, >, 4, 5, 6, 7, 0, 1, 2, 3);
    SEL_V_STEP(sel_v8_t, best, >, 2, 3, 0, 1, 6, 7, 4, 5);
    SEL_V_STEP(sel_v8_t, best, >, 1, 0, 3, 2, 5, 4, 7, 6);
    gt = top == best;
    at = (gt & at) | (~gt & (sel_v8_t){INT32_MAX, INT32_MAX, INT32_MAX,
                                        INT32_MAX, INT32_MAX, INT32_MAX,
                                        INT32_MAX, INT32_MAX});
    SEL_V_STEP(sel_v8_t, at, <, 4, 5, 6, 7, 0, 1, 2, 3);
    SEL_V_STEP(sel_v8_t, at, <, 2, 3, 0, 1, 6, 7, 4, 5);
    SEL_V_STEP(sel_v8_t, at, <, 1, 0, 3, 2, 5, 4, 7, 6);
    return lo + (size_t)at[0];
}
#endif
#endif

/* The same in two passes: the largest key, then where it first is. */
static inline __attribute__((always_inline)) size_t
sel_argmax1(const float *m, size_t lo, size_t hi)
{
    return sel_find_key(m, lo, hi, sel_max_key(m, lo, hi));
}

/* Each chunk j's arg-max (chunks shorter than W: the two passes), taken:
 * idx, vals, and m there <- +0. */
#define SEL_CHUNK_TAKE_LOOP(ARGMAX, W)                                         \
    for (j = j0; j < j1; j++) {                                                \
        const size_t lo   = compcoll_chunk_lo(j, n, k);                        \
        const size_t hi   = compcoll_chunk_lo(j + 1, n, k);                    \
        const size_t best = hi - lo >= (W) ? ARGMAX(m, lo, hi)                 \
                                           : sel_argmax1(m, lo, hi);           \
                                                                               \
        idx[j]  = (uint32_t)best;                                              \
        vals[j] = m[best];                                                     \
        m[best] = 0.0f;                                                        \
    }

#ifdef SEL_ARGMAX_AVX2
__attribute__((target("avx2"))) static void
sel_chunk_take_avx2(float *m, size_t n, size_t k, size_t j0, size_t j1,
                    uint32_t *idx, float *vals)
{
    size_t j;

    SEL_CHUNK_TAKE_LOOP(sel_argmax8, 8)
}
#endif

/*
 * The arg-max (the first maximum, as sel_chunk) of each of chunks [j0, j1),
 * taken: idx, vals, and m there <- +0.  Eight keys a time where the CPU has
 * AVX2 (asked once), four otherwise.
 */
static void sel_chunk_take(float *m, size_t n, size_t k, size_t j0, size_t j1,
                           uint32_t *idx, float *vals)
{
    size_t j;

#ifdef SEL_ARGMAX_AVX2
    if (sel_use_avx2()) {
        sel_chunk_take_avx2(m, n, k, j0, j1, idx, vals);
        return;
    }
#endif
#ifdef SEL_ARGMAX_VECTOR
    SEL_CHUNK_TAKE_LOOP(sel_argmax4, 4)
#else
    SEL_CHUNK_TAKE_LOOP(sel_argmax1, 1)
#endif
}

/*
 * chunk, fused with the fold and the take, for chunks [c0, c1) (their
 * elements; idx and vals at [c0, c1)): a block of whole chunks is folded,
 * then each chunk's arg-max found and taken while the block is still in
 * cache.
 */
void compcoll_host_chunk_fold(float *m, const float *g, float *out, size_t n,
                              size_t k, size_t c0, size_t c1, uint32_t *idx,
                              float *vals)
{
    const int    stream = compcoll_host_fold_streams(g, out, n);
    const size_t per    = n / k; /* the shortest chunk's length */
    const size_t group  = per < SEL_FOLD_BLOCK ? SEL_FOLD_BLOCK / per : 1;
    size_t       j0;

    for (j0 = c0; j0 < c1; j0 += group) {
        const size_t j1 = (c1 - j0 > group) ? j0 + group : c1;

        compcoll_host_fold_range(m, g, out, compcoll_chunk_lo(j0, n, k),
                                 compcoll_chunk_lo(j1, n, k), stream);
        sel_chunk_take(m, n, k, j0, j1, idx, vals);
    }
    compcoll_host_stream_fence(stream);
}

compcoll_status_t compcoll_host_fold_select(compcoll_select_t mode, float *m,
                                            const float *g, float *out,
                                            size_t n, size_t k, uint32_t *idx,
                                            float                     *vals,
                                            compcoll_select_scratch_t *scratch)
{
    compcoll_status_t status;

    if (k == 0 || k > n || n > UINT32_MAX || m == NULL) {
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    switch (mode) {
    case COMPCOLL_SELECT_EXACT:
        status = sel_exact_fold(m, g, out, n, k, idx, scratch);
        break;
    case COMPCOLL_SELECT_CHUNK:
        compcoll_host_chunk_fold(m, g, out, n, k, 0, k, idx, vals);
        return COMPCOLL_OK;
    case COMPCOLL_SELECT_SAMPLE:
        if (n >= SEL_SAMPLE_MIN_N) {
            return sel_sample_fold(m, g, out, n, k, idx, vals, scratch);
        }
        status = sel_exact_fold(m, g, out, n, k, idx, scratch);
        break;
    default:
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    if (status == COMPCOLL_OK) {
        compcoll_host_take(m, idx, k, vals);
    }
    return status;
}

compcoll_status_t compcoll_host_select(compcoll_select_t mode, const float *m,
                                       const float *g, size_t n, size_t k,
                                       uint32_t *idx,
                                       compcoll_select_scratch_t *scratch)
{
    if (k == 0 || k > n || n > UINT32_MAX) {
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    switch (mode) {
    case COMPCOLL_SELECT_EXACT:
        return sel_exact(m, g, n, k, idx, scratch);
    case COMPCOLL_SELECT_CHUNK:
        sel_chunk(m, g, n, k, idx);
        return COMPCOLL_OK;
    case COMPCOLL_SELECT_SAMPLE:
        return sel_sample(m, g, n, k, idx, scratch);
    }
    return COMPCOLL_ERR_INVALID_PARAM;
}
