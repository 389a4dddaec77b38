/*
 * Index lists on the wire (compcoll_icode.h): round trips of random sorted
 * index sets at several densities in both codings against the plain list,
 * the byte counts the coding promises, and every kind of damaged input
 * refused with its reason.
 */
#include <stdlib.h>
#include <string.h>

#include "../tap/tap.h"
#include "compcoll_icode.h"
#include "compcoll_kernels.h"

static uint64_t rng = 0x853c49e6748fea9bull;

static uint32_t rand32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* k distinct ascending indices below n, uniformly: selection sampling. */
static void random_set(uint32_t *idx, size_t n, size_t k)
{
    size_t i, got = 0;

    for (i = 0; i < n && got < k; i++) {
        if ((uint64_t)rand32() % (n - i) < k - got) {
            idx[got++] = (uint32_t)i;
        }
    }
}

/* One index in each chunk, at a random offset. */
static void random_chunks(uint32_t *idx, size_t n, size_t k)
{
    size_t j;

    for (j = 0; j < k; j++) {
        size_t lo = compcoll_chunk_lo(j, n, k);
        size_t hi = compcoll_chunk_lo(j + 1, n, k);

        idx[j] = (uint32_t)(lo + rand32() % (hi - lo));
    }
}

/* encode, decode, compare; *bytes gets the coded length. */
static int round_trip(int chunks, const uint32_t *idx, size_t n, size_t k,
                      compcoll_icode_t want, size_t *bytes)
{
    uint8_t         *code = malloc(COMPCOLL_ICODE_MAX * k);
    uint32_t        *back = malloc(k * sizeof(uint32_t));
    compcoll_icode_t coding;
    size_t           at;
    int              good;

    *bytes = compcoll_icode_encode(chunks, idx, n, k, code, &coding);
    good   = coding == want && *bytes >= k &&
           *bytes <= COMPCOLL_ICODE_MAX * k &&
           compcoll_icode_decode(coding, code, *bytes, n, k, back, &at) ==
               NULL &&
           at == k && memcmp(back, idx, k * sizeof(uint32_t)) == 0;
    free(code);
    free(back);
    return good;
}

/* EF over [lo, lo + u): encode, check the size the coding promises,
 * decode, compare. */
static int ef_round_trip(const uint32_t *idx, size_t q, size_t lo, size_t u)
{
    const size_t bytes = compcoll_icode_ef_bytes(u, q);
    uint8_t     *code  = malloc(bytes + 1);
    uint32_t    *back  = malloc((q + 1) * sizeof(uint32_t));
    size_t       at;
    int          good;

    code[bytes] = 0xa5; /* not written past */
    compcoll_icode_ef_encode(idx, q, lo, u, code);
    good = code[bytes] == 0xa5 && bytes <= COMPCOLL_ICODE_MAX * q &&
           compcoll_icode_ef_decode(code, bytes, lo, u, q, back, &at) ==
               NULL &&
           at == q && memcmp(back, idx, q * sizeof(uint32_t)) == 0;
    free(code);
    free(back);
    return good;
}

/* The reason decoding gives for these bytes (NULL: accepted). */
static const char *decode_bytes(compcoll_icode_t coding, const uint8_t *b,
                                size_t len, size_t n, size_t k)
{
    uint32_t idx[8];

    return compcoll_icode_decode(coding, b, len, n, k, idx, &(size_t){0});
}

static int says(const char *why, const char *what)
{
    return why != NULL && strstr(why, what) != NULL;
}

int main(void)
{
    static const size_t ns[]     = {1, 2, 100, 1000, 65536, 1000003};
    static const size_t ratios[] = {1, 2, 10, 100, 1000, 100000};
    size_t              a, b, bytes;

    for (a = 0; a < sizeof(ns) / sizeof(ns[0]); a++) {
        for (b = 0; b < sizeof(ratios) / sizeof(ratios[0]); b++) {
            size_t    n = ns[a], k = (n + ratios[b] - 1) / ratios[b];
            uint32_t *idx = malloc(k * sizeof(uint32_t));
            int       good;

            random_set(idx, n, k);
            good = round_trip(0, idx, n, k, COMPCOLL_ICODE_GAP, &bytes);
            random_chunks(idx, n, k);
            good = good && round_trip(1, idx, n, k, COMPCOLL_ICODE_CHUNK,
                                      &bytes);
            /* chunks of at most 128 elements: one byte an index */
            good = good && (n / k + (n % k != 0) > 128 || bytes == k);
            ok(good, "n=%zu k=%zu: gap and chunk codings round-trip", n, k);
            free(idx);
        }
    }

    {
        /* the figures the man page gives: ratio 100, random sets */
        size_t    n = 2500000, k = 25000, gap_bytes = 0, chunk_bytes = 0;
        uint32_t *idx = malloc(k * sizeof(uint32_t));
        int       good;

        random_set(idx, n, k);
        good = round_trip(0, idx, n, k, COMPCOLL_ICODE_GAP, &gap_bytes);
        random_chunks(idx, n, k);
        good = good &&
               round_trip(1, idx, n, k, COMPCOLL_ICODE_CHUNK, &chunk_bytes);
        ok(good && gap_bytes > k && gap_bytes < k * 3 / 2 &&
               chunk_bytes == k,
           "ratio 100: %.3f bytes an index as gaps, %.3f as chunk offsets",
           (double)gap_bytes / (double)k, (double)chunk_bytes / (double)k);
        /* indices outside their chunks fall back to gaps */
        random_set(idx, n, k);
        idx[0] = (uint32_t)(compcoll_chunk_lo(1, n, k)); /* in chunk 1 */
        if (idx[1] <= idx[0]) {
            idx[1] = idx[0] + 1;
        }
        ok(round_trip(1, idx, n, k, COMPCOLL_ICODE_GAP, &gap_bytes),
           "a list not one-per-chunk is sent as gaps");
        free(idx);
    }

    {
        /* the largest gap and the largest index */
        uint32_t idx[2] = {0, UINT32_MAX - 1};
        size_t   n      = (size_t)UINT32_MAX;

        ok(round_trip(0, idx, n, 2, COMPCOLL_ICODE_GAP, &bytes) && bytes == 6,
           "a gap of 2^32 - 2 takes 5 bytes and round-trips");
    }

    {
        /* EF: random sets in a range that starts anywhere, at every
         * density, then the size at ratio 100 */
        static const size_t us[] = {1, 7, 100, 4096, 262144, 1000003};
        size_t              c, good = 1;

        for (a = 0; a < sizeof(us) / sizeof(us[0]); a++) {
            for (b = 0; b < sizeof(ratios) / sizeof(ratios[0]); b++) {
                const size_t u = us[a], q = (u + ratios[b] - 1) / ratios[b];
                const size_t lo = rand32() % 100000;
                uint32_t    *idx = malloc((q + 1) * sizeof(uint32_t));

                random_set(idx, u, q);
                for (c = 0; c < q; c++) {
                    idx[c] += (uint32_t)lo;
                }
                good = good && ef_round_trip(idx, q, lo, u);
                free(idx);
            }
        }
        ok(good && compcoll_icode_ef_bytes(1000, 0) == 0,
           "EF lists of every density round-trip in their bytes");
    }

    {
        size_t    u = 2500000, q = 25000, bytes = compcoll_icode_ef_bytes(u, q);
        uint32_t *idx = malloc(q * sizeof(uint32_t));
        /* the whole range, the first and the last element */
        uint32_t ends[3] = {0, 1, UINT32_MAX - 1};

        random_set(idx, u, q);
        ok(ef_round_trip(idx, q, 0, u) && bytes > q && bytes < q * 11 / 10,
           "EF at ratio 100: %.3f bytes an index, fixed by the range and "
           "count", (double)bytes / (double)q);
        ok(ef_round_trip(ends, 3, 0, (size_t)UINT32_MAX) &&
               ef_round_trip(ends, 2, 0, 2),
           "EF: the range's edges, a range of 2^32 - 1 and a full range");
        free(idx);
    }

    {
        /* EF damage.  [2, 5, 9] over [0, 12): l = 2; the lows 2, 1, 1
         * at bits 0-5, the highs 0, 1, 2 as bits 6, 8, 10; 11 bits */
        static const uint8_t good[]  = {0x56, 0x05};
        static const uint8_t extra[] = {0xe4, 0x05}; /* [0, 1, 2] + bit 10 */
        static const uint8_t past[]  = {0x56, 0x04}; /* highs 0, 3 */
        static const uint8_t twice[] = {0xd6, 0x04}; /* offsets 2, 1 */
        static const uint8_t tail[]  = {0x56, 0x0d}; /* bit 11 */
        static const uint32_t set[] = {2, 5, 9};
        uint8_t               code[2];
        uint32_t              back[4];
        size_t                at;

        compcoll_icode_ef_encode(set, 3, 0, 12, code);
        ok(compcoll_icode_ef_bytes(12, 3) == 2 && memcmp(code, good, 2) == 0,
           "EF lays [2, 5, 9] over 12 out as its definition says");
        ok(compcoll_icode_ef_decode(good, 2, 0, 12, 3, back, &at) == NULL &&
               back[0] == 2 && back[1] == 5 && back[2] == 9 &&
               decode_bytes(COMPCOLL_ICODE_EF, good, 2, 12, 3) == NULL,
           "a well-formed EF list is accepted, by both entry points");
        ok(compcoll_icode_ef_decode(good, 2, 100, 12, 3, back, &at) == NULL &&
               back[0] == 102 && back[2] == 109,
           "EF offsets count from the range's start");
        {
            /* each damage, the reason it must be refused with */
            static const struct {
                const uint8_t *bytes;
                size_t         len, u;
                const char    *reason, *what;
            } bad[] = {
                {good, 1, 12, "end before", "a list cut short"},
                {good, 3, 12, "bytes left", "a list with a byte left over"},
                {extra, 2, 12, "more high parts", "an extra high part"},
                {past, 2, 12, "not below its range", "an index past the range"},
                {twice, 2, 12, "not ascending", "a list that does not ascend"},
                {tail, 2, 12, "after the last index", "a list with bits set past its end"},
                {good, 2, 2, "more indices than", "a count larger than the range"},
            };
            size_t d;

            for (d = 0; d < sizeof(bad) / sizeof(bad[0]); d++) {
                ok(says(compcoll_icode_ef_decode(bad[d].bytes, bad[d].len, 0,
                                                 bad[d].u, 3, back, &at),
                        bad[d].reason),
                   "EF: %s is refused (%s)", bad[d].what, bad[d].reason);
            }
        }
    }

    {
        /* damaged input: every reason, and nothing accepted by accident */
        static const uint8_t two[]      = {3, 4};       /* 3, 8 */
        static const uint8_t cont_end[] = {3, 0x84};    /* ends mid-number */
        static const uint8_t big[]      = {0x80, 0x80, 0x80, 0x80, 0x10}; /* 2^32 */
        static const uint8_t huge[]     = {0x80, 0x80, 0x80, 0x80, 0x80, 1};
        static const uint8_t extra[]    = {3, 4, 0};
        static const uint8_t off[]      = {5, 0};       /* chunk 0 of [0,5) */

        ok(decode_bytes(COMPCOLL_ICODE_GAP, two, 2, 10, 2) == NULL,
           "a well-formed gap list is accepted");
        ok(says(decode_bytes(COMPCOLL_ICODE_GAP, two, 2, 8, 2), "not below n"),
           "an index at n is refused");
        ok(says(decode_bytes(COMPCOLL_ICODE_GAP, two, 1, 10, 2),
                "end before the last"),
           "a list cut short is refused");
        ok(says(decode_bytes(COMPCOLL_ICODE_GAP, cont_end, 2, 100, 2),
                "end before the last"),
           "a list ending inside a number is refused");
        ok(says(decode_bytes(COMPCOLL_ICODE_GAP, big, 5, (size_t)1 << 40, 1),
                "more than 32 bits") &&
               says(decode_bytes(COMPCOLL_ICODE_GAP, huge, 6,
                                 (size_t)1 << 40, 1),
                    "more than 32 bits"),
           "numbers beyond the index range are refused");
        ok(says(decode_bytes(COMPCOLL_ICODE_GAP, extra, 3, 10, 2),
                "bytes left"),
           "trailing bytes are refused");
        ok(says(decode_bytes(COMPCOLL_ICODE_CHUNK, off, 2, 10, 2),
                "outside its chunk") &&
               decode_bytes(COMPCOLL_ICODE_CHUNK, two, 2, 10, 2) == NULL,
           "a chunk offset past its chunk is refused, one inside accepted");
        ok(says(decode_bytes((compcoll_icode_t)7, two, 2, 10, 2),
                "unknown coding"),
           "an unknown coding is refused");
    }
    return tap_done();
}
