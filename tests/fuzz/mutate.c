/*
 * The generator and the mutator every fuzz target shares (fuzz.h).
 */
#include <string.h>

#include "fuzz.h"

uint64_t fuzz_rand(fuzz_rng_t *rng)
{
    uint64_t z = (rng->s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t fuzz_below(fuzz_rng_t *rng, uint64_t n)
{
    return n == 0 ? 0 : fuzz_rand(rng) % n;
}

/* Values at the edges of what decoders parse: LEB128 continuation bits,
 * fp16/bf16/fp32 infinities, NaNs (quiet and signalling), subnormals,
 * signed zeros, the ends of the integer ranges. */
static const uint8_t interesting8[] = {0x00, 0x01, 0x02, 0x7e, 0x7f, 0x80,
                                       0x81, 0xfe, 0xff, 0x3c, 0x40, 0x10};
static const uint16_t interesting16[] = {
    0x0000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0x7c00, 0x7c01,
    0x7d00, 0x7e00, 0x7fff, 0x8000, 0x8001, 0xfc00, 0xfc01, 0xffff,
    0x7f80, 0x7f81, 0x7fc0, 0xff80, 0x0080, 0x8080};
static const uint32_t interesting32[] = {
    0x00000000u, 0x00000001u, 0x0000007fu, 0x00000080u, 0x00003fffu,
    0x00004000u, 0x0000ffffu, 0x00010000u, 0x7fffffffu, 0x80000000u,
    0xfffffffeu, 0xffffffffu, 0x007fffffu, 0x00800000u, 0x33000000u,
    0x38800000u, 0x477fe000u, 0x477ff000u, 0x7f7fffffu, 0x7f800000u,
    0x7f800001u, 0x7fa00000u, 0x7fc00000u, 0xff800000u, 0x80808080u};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void put_le(uint8_t *p, uint64_t v, size_t bytes)
{
    size_t i;

    for (i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* One edit; returns the new length. */
static size_t mutate_once(fuzz_rng_t *rng, uint8_t *buf, size_t len,
                          size_t cap)
{
    size_t at, n, from;

    switch (fuzz_below(rng, 12)) {
    case 0: /* flip a bit */
        if (len == 0) {
            break;
        }
        buf[fuzz_below(rng, len)] ^= (uint8_t)(1u << fuzz_below(rng, 8));
        break;
    case 1: /* a random byte */
        if (len == 0) {
            break;
        }
        buf[fuzz_below(rng, len)] = (uint8_t)fuzz_rand(rng);
        break;
    case 2: /* an interesting byte */
        if (len == 0) {
            break;
        }
        buf[fuzz_below(rng, len)] =
            interesting8[fuzz_below(rng, COUNT(interesting8))];
        break;
    case 3: /* an interesting 16-bit value, little-endian */
        if (len < 2) {
            break;
        }
        put_le(buf + fuzz_below(rng, len - 1),
               interesting16[fuzz_below(rng, COUNT(interesting16))], 2);
        break;
    case 4: /* an interesting 32-bit value, little-endian */
        if (len < 4) {
            break;
        }
        put_le(buf + fuzz_below(rng, len - 3),
               interesting32[fuzz_below(rng, COUNT(interesting32))], 4);
        break;
    case 5: /* add or subtract a little */
        if (len == 0) {
            break;
        }
        at = fuzz_below(rng, len);
        buf[at] = (uint8_t)(buf[at] + (fuzz_below(rng, 2) ? 1 : -1) *
                                          (int)(1 + fuzz_below(rng, 16)));
        break;
    case 6: /* truncate */
        len = fuzz_below(rng, len + 1);
        break;
    case 7: /* extend with random or interesting bytes */
        n = 1 + fuzz_below(rng, 16);
        if (n > cap - len) {
            n = cap - len;
        }
        for (at = len; at < len + n; at++) {
            buf[at] = fuzz_below(rng, 2)
                          ? (uint8_t)fuzz_rand(rng)
                          : interesting8[fuzz_below(rng, COUNT(interesting8))];
        }
        len += n;
        break;
    case 8: /* insert a byte */
        if (len == cap) {
            break;
        }
        at = fuzz_below(rng, len + 1);
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = (uint8_t)fuzz_rand(rng);
        len++;
        break;
    case 9: /* delete a run */
        if (len == 0) {
            break;
        }
        at = fuzz_below(rng, len);
        n  = 1 + fuzz_below(rng, len - at < 8 ? len - at : 8);
        memmove(buf + at, buf + at + n, len - at - n);
        len -= n;
        break;
    case 10: /* copy a run over another place */
        if (len < 2) {
            break;
        }
        from = fuzz_below(rng, len);
        at   = fuzz_below(rng, len);
        n    = 1 + fuzz_below(rng, 8);
        if (n > len - from) {
            n = len - from;
        }
        if (n > len - at) {
            n = len - at;
        }
        memmove(buf + at, buf + from, n);
        break;
    default: /* a byte with its top (continuation) bit set or cleared */
        if (len == 0) {
            break;
        }
        at = fuzz_below(rng, len);
        buf[at] = fuzz_below(rng, 2) ? (uint8_t)(buf[at] | 0x80)
                                     : (uint8_t)(buf[at] & 0x7f);
        break;
    }
    return len;
}

size_t fuzz_mutate(fuzz_rng_t *rng, uint8_t *buf, size_t len, size_t cap)
{
    unsigned edits = 1u << fuzz_below(rng, 3); /* 1, 2 or 4 */

    if (len > cap) {
        len = cap;
    }
    while (edits-- > 0) {
        len = mutate_once(rng, buf, len, cap);
    }
    return len;
}
