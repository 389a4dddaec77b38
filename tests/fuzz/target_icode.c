/*
 * Fuzz target: the index-list decoder compcoll_icode_decode
 * (compcoll_icode.h), which every non-leader runs on the leader's bytes.
 *
 * Input: coding (1 byte, passed as it is: 1 GAP, 2 CHUNK, 3 EF over
 * [0, n), else unknown),
 * n (4 bytes, little-endian), k (2 bytes), then the coded indices.  Valid
 * inputs are encodings of random ascending index sets (and of one index
 * per chunk) over n from 1 to 2^32 - 1.  The decoder must never read past
 * the bytes or write past k indices (the sanitizer build's job), and
 * either refuse with a reason or return k ascending indices below n, each
 * in its chunk for CHUNK, that encode again to a list no longer than the
 * input (for EF: to the input's very bytes) and decode to themselves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll_icode.h"
#include "compcoll_kernels.h"
#include "fuzz.h"

#define HEAD  7   /* coding, n, k */
#define MAX_K 300 /* indices of a valid input */

static uint64_t get_le(const uint8_t *p, size_t bytes)
{
    uint64_t v = 0;
    size_t   i;

    for (i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

/* k distinct ascending indices below n; fewer if n < k.  Returns k. */
static size_t random_set(fuzz_rng_t *rng, uint32_t *idx, uint64_t n, size_t k)
{
    size_t got = 0, i, j;

    if (k > n) {
        k = (size_t)n;
    }
    if (n <= 4 * (uint64_t)k) { /* dense: selection sampling */
        for (i = 0; i < n && got < k; i++) {
            if (fuzz_below(rng, n - i) < k - got) {
                idx[got++] = (uint32_t)i;
            }
        }
        return got;
    }
    while (got < k) { /* sparse: draw, sort, drop duplicates, draw again */
        for (; got < k; got++) {
            idx[got] = (uint32_t)fuzz_below(rng, n);
        }
        qsort(idx, got, sizeof(idx[0]), cmp_u32);
        for (i = j = 0; i < got; i++) {
            if (j == 0 || idx[i] != idx[j - 1]) {
                idx[j++] = idx[i];
            }
        }
        got = j;
    }
    /* the edges now and then */
    if (fuzz_below(rng, 8) == 0) {
        idx[k - 1] = (uint32_t)(n - 1);
        if (k > 1 && idx[k - 2] >= idx[k - 1]) {
            idx[k - 2] = idx[k - 1] - 1; /* still ascending: n > 4k */
        }
    }
    if (fuzz_below(rng, 8) == 0 && idx[0] != 0) {
        idx[0] = 0;
    }
    return k;
}

static size_t icode_seed(fuzz_rng_t *rng, uint8_t *buf, size_t cap, int *bad)
{
    static uint32_t  idx[MAX_K], back[MAX_K];
    uint64_t         n;
    size_t           k, j, len, at;
    compcoll_icode_t coding;
    int              chunks = (int)fuzz_below(rng, 2);
    int              ef     = fuzz_below(rng, 3) == 0;

    /* n: log-uniform over [1, 2^32 - 1], sometimes the largest */
    n = fuzz_below(rng, 16) == 0
            ? UINT32_MAX
            : 1 + fuzz_below(rng, (uint64_t)1 << fuzz_below(rng, 33));
    if (n > UINT32_MAX) {
        n = UINT32_MAX;
    }
    /* k: n / ratio for a ratio from 1 to 10^6, at most MAX_K */
    {
        static const uint64_t ratios[] = {1,   2,    3,     10,     100,
                                          128, 1000, 65536, 1000000};
        uint64_t r = ratios[fuzz_below(rng, sizeof(ratios) / sizeof(ratios[0]))];

        k = (size_t)((n + r - 1) / r);
        if (k > MAX_K) {
            k = 1 + (size_t)fuzz_below(rng, MAX_K);
        }
    }
    if (chunks && !ef && fuzz_below(rng, 2)) {
        /* one index in each chunk: what COMPCOLL_SELECT=chunk sends */
        for (j = 0; j < k; j++) {
            size_t lo = compcoll_chunk_lo(j, n, k);
            size_t hi = compcoll_chunk_lo(j + 1, n, k);

            idx[j] = (uint32_t)(lo + fuzz_below(rng, hi - lo));
        }
    } else {
        k = random_set(rng, idx, n, k);
    }
    if (cap < HEAD + COMPCOLL_ICODE_MAX * k) {
        *bad = 1;
        return 0;
    }
    if (ef) {
        coding = COMPCOLL_ICODE_EF;
        len    = compcoll_icode_ef_bytes((size_t)n, k);
        compcoll_icode_ef_encode(idx, k, 0, (size_t)n, buf + HEAD);
    } else {
        len = compcoll_icode_encode(chunks, idx, n, k, buf + HEAD, &coding);
    }
    buf[0] = (uint8_t)coding;
    for (j = 0; j < 4; j++) {
        buf[1 + j] = (uint8_t)(n >> (8 * j));
    }
    buf[5] = (uint8_t)k;
    buf[6] = (uint8_t)(k >> 8);
    /* a valid list round-trips, every byte used */
    if (compcoll_icode_decode(coding, buf + HEAD, len, n, k, back, &at) != NULL ||
        at != k || memcmp(back, idx, k * sizeof(idx[0])) != 0) {
        *bad = 1;
    }
    return HEAD + len;
}

/* How often each reason was given: that the mutations reach every check. */
#define MAX_REASONS 16
static const char   *reasons[MAX_REASONS];
static unsigned long reason_count[MAX_REASONS];

static void tally(const char *why)
{
    size_t r;

    for (r = 0; r < MAX_REASONS; r++) {
        if (reasons[r] == NULL || strcmp(reasons[r], why) == 0) {
            reasons[r] = why;
            reason_count[r]++;
            return;
        }
    }
}

static void icode_summary(void)
{
    size_t r;

    for (r = 0; r < MAX_REASONS && reasons[r] != NULL; r++) {
        printf("# refused %lu times: %s\n", reason_count[r], reasons[r]);
    }
}

enum {
    P_ACCEPTED, /* accepted lists are ascending, below n, in their chunks */
    P_REFUSED,  /* a refusal gives a reason and where, at most k */
    P_AGAIN,    /* accepted lists encode again, no longer, to themselves */
};

static int icode_one(const uint8_t *data, size_t len, unsigned *broken)
{
    const uint8_t   *code;
    uint64_t         n;
    size_t           k, clen, at = (size_t)-1, j, relen, at2;
    uint32_t        *idx, *back;
    uint8_t         *again;
    const char      *why;
    compcoll_icode_t coding, recoding;

    if (len < HEAD) {
        return FUZZ_REJECTED;
    }
    coding = (compcoll_icode_t)data[0];
    n      = get_le(data + 1, 4);
    k      = (size_t)get_le(data + 5, 2);
    code   = data + HEAD;
    clen   = len - HEAD;
    /* exactly k indices of room, as the library allocates */
    idx = malloc(k ? k * sizeof(*idx) : 1);
    if (idx == NULL) {
        abort();
    }
    why = compcoll_icode_decode(coding, code, clen, (size_t)n, k, idx, &at);
    if (why != NULL) {
        tally(why);
        if (*why == '\0' || at > k) {
            *broken |= 1u << P_REFUSED;
        }
        free(idx);
        return FUZZ_REJECTED;
    }

    if (at != k) {
        *broken |= 1u << P_ACCEPTED;
    }
    for (j = 0; j < k; j++) {
        if (idx[j] >= n || (j > 0 && idx[j] <= idx[j - 1]) ||
            (coding == COMPCOLL_ICODE_CHUNK &&
             (idx[j] < compcoll_chunk_lo(j, n, k) ||
              idx[j] >= compcoll_chunk_lo(j + 1, n, k)))) {
            *broken |= 1u << P_ACCEPTED;
            break;
        }
    }
    if (k > 0 && !(*broken & (1u << P_ACCEPTED))) {
        again = malloc(COMPCOLL_ICODE_MAX * k);
        back  = malloc(k * sizeof(*back));
        if (again == NULL || back == NULL) {
            abort();
        }
        if (coding == COMPCOLL_ICODE_EF) {
            /* one list has one EF form */
            recoding = COMPCOLL_ICODE_EF;
            relen    = compcoll_icode_ef_bytes((size_t)n, k);
            compcoll_icode_ef_encode(idx, k, 0, (size_t)n, again);
            if (relen != clen || memcmp(again, code, clen) != 0) {
                *broken |= 1u << P_AGAIN;
            }
        } else {
            relen = compcoll_icode_encode(coding == COMPCOLL_ICODE_CHUNK, idx,
                                          n, k, again, &recoding);
        }
        if (recoding != coding || relen > clen ||
            compcoll_icode_decode(recoding, again, relen, n, k, back, &at2) !=
                NULL ||
            memcmp(back, idx, k * sizeof(*idx)) != 0) {
            *broken |= 1u << P_AGAIN;
        }
        free(again);
        free(back);
    }
    free(idx);
    return FUZZ_ACCEPTED;
}

const fuzz_target_t fuzz_target = {
    .name     = "icode",
    .max_len  = HEAD + COMPCOLL_ICODE_MAX * MAX_K + 64,
    .inputs   = 500000,
    .per_seed = 64,
    .props    = {"accepted lists are k indices, ascending, below n, each in "
                 "its chunk for CHUNK",
                 "a refusal says why, at an index no greater than k",
                 "accepted lists code again, no longer (EF: the same bytes), "
                 "to the same indices",
                 NULL},
    .seed = icode_seed,
    .one     = icode_one,
    .summary = icode_summary,
};
