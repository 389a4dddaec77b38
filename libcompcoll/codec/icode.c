/*
 * libcompcoll: index lists on the wire (compcoll_icode.h).
 */
#include <string.h>

#include "compcoll_icode.h"

static size_t icode_put(uint8_t *out, uint32_t x)
{
    size_t at = 0;

    while (x >= 0x80) {
        out[at++] = (uint8_t)(x | 0x80);
        x >>= 7;
    }
    out[at++] = (uint8_t)x;
    return at;
}

size_t compcoll_icode_encode(int chunks, const uint32_t *idx, size_t n,
                             size_t k, uint8_t *out, compcoll_icode_t *coding)
{
    size_t j, at = 0;

    if (chunks) {
        for (j = 0; j < k; j++) {
            const size_t lo = compcoll_chunk_lo(j, n, k);

            if (idx[j] < lo || idx[j] >= compcoll_chunk_lo(j + 1, n, k)) {
                break;
            }
            at += icode_put(out + at, (uint32_t)(idx[j] - lo));
        }
        if (j == k) {
            *coding = COMPCOLL_ICODE_CHUNK;
            return at;
        }
    }
    *coding = COMPCOLL_ICODE_GAP;
    at      = icode_put(out, idx[0]);
    for (j = 1; j < k; j++) {
        at += icode_put(out + at, idx[j] - idx[j - 1] - 1);
    }
    return at;
}

const char *compcoll_icode_decode(compcoll_icode_t coding, const uint8_t *in,
                                  size_t len, size_t n, size_t k,
                                  uint32_t *idx, size_t *at)
{
    size_t pos = 0, next = 0, j;

    if (coding == COMPCOLL_ICODE_EF) {
        return compcoll_icode_ef_decode(in, len, 0, n, k, idx, at);
    }
    if (coding != COMPCOLL_ICODE_GAP && coding != COMPCOLL_ICODE_CHUNK) {
        *at = 0;
        return "an unknown coding";
    }
    for (j = 0; j < k; j++) {
        uint64_t x     = 0;
        unsigned shift = 0;
        uint8_t  b;

        *at = j;
        do {
            if (pos == len) {
                return "the bytes end before the last index";
            }
            if (shift > 28) {
                return "a number of more than 32 bits";
            }
            b = in[pos++];
            x |= (uint64_t)(b & 0x7f) << shift;
            shift += 7;
        } while (b & 0x80);
        if (x > UINT32_MAX) {
            return "a number of more than 32 bits";
        }
        if (coding == COMPCOLL_ICODE_CHUNK) {
            const size_t lo = compcoll_chunk_lo(j, n, k);

            if (x >= compcoll_chunk_lo(j + 1, n, k) - lo) {
                return "an offset outside its chunk";
            }
            idx[j] = (uint32_t)(lo + x);
        } else {
            if (x >= n - next) {
                return "an index not below n";
            }
            idx[j] = (uint32_t)(next + x);
            next   = (size_t)idx[j] + 1;
        }
    }
    *at = k;
    return pos == len ? NULL : "bytes left after the last index";
}

/* ------------------------------------------------------- Elias-Fano */

/* The low bits of each offset: floor(log2(u / q)), 0 while u < 2 q. */
static unsigned ef_low(size_t u, size_t q)
{
    size_t   r = u / q;
    unsigned l = 0;

    while (r >= 2) {
        r >>= 1;
        l++;
    }
    return l;
}

/* The bits of the list: q low parts of l bits, then the unary high parts
 * (q ones among q + ((u - 1) >> l) bits). */
static uint64_t ef_bits(size_t u, size_t q, unsigned l)
{
    return (uint64_t)q * l + q + ((u - 1) >> l);
}

size_t compcoll_icode_ef_bytes(size_t u, size_t q)
{
    return q == 0 ? 0 : (size_t)((ef_bits(u, q, ef_low(u, q)) + 7) / 8);
}

/* OR the l (< 32) low bits of v into out at bit pos (bits low first). */
static void ef_put(uint8_t *out, uint64_t pos, uint32_t v, unsigned l)
{
    uint64_t x    = ((uint64_t)v & ((UINT64_C(1) << l) - 1)) << (pos & 7);
    unsigned bits = l + (unsigned)(pos & 7);
    uint8_t *p    = out + (pos >> 3);

    for (; bits > 0; bits = bits > 8 ? bits - 8 : 0) {
        *p++ |= (uint8_t)x;
        x >>= 8;
    }
}

/* The l (< 32) bits of in at bit pos. */
static uint32_t ef_get(const uint8_t *in, uint64_t pos, unsigned l)
{
    const unsigned shift = (unsigned)(pos & 7);
    const uint8_t *p     = in + (pos >> 3);
    uint64_t       x     = 0;
    unsigned       i;

    for (i = 0; 8 * i < l + shift; i++) {
        x |= (uint64_t)p[i] << (8 * i);
    }
    return (uint32_t)((x >> shift) & ((UINT64_C(1) << l) - 1));
}

void compcoll_icode_ef_encode(const uint32_t *idx, size_t q, size_t lo,
                              size_t u, uint8_t *out)
{
    unsigned l;
    uint64_t base;
    size_t   j;

    if (q == 0) {
        return;
    }
    l    = ef_low(u, q);
    base = (uint64_t)q * l;
    memset(out, 0, compcoll_icode_ef_bytes(u, q));
    for (j = 0; j < q; j++) {
        const size_t off = idx[j] - lo;

        ef_put(out, (uint64_t)j * l, (uint32_t)off, l);
        ef_put(out, base + (off >> l) + j, 1, 1);
    }
}

const char *compcoll_icode_ef_decode(const uint8_t *in, size_t len, size_t lo,
                                     size_t u, size_t q, uint32_t *idx,
                                     size_t *at)
{
    unsigned l;
    uint64_t base, pos, end;
    size_t   j = 0, want, prev = 0;

    *at = 0;
    if (q > u) {
        return "more indices than the range holds";
    }
    want = compcoll_icode_ef_bytes(u, q);
    if (len != want) {
        return len < want ? "the bytes end before the last index"
                          : "bytes left after the last index";
    }
    if (q == 0) {
        return NULL;
    }
    l    = ef_low(u, q);
    base = (uint64_t)q * l; /* the high parts' first bit */
    pos  = base;
    end  = ef_bits(u, q, l);
    while (pos < end) {
        const unsigned byte = (unsigned)(in[pos >> 3] >> (pos & 7));
        uint64_t       high;
        size_t         off;

        if (byte == 0) {
            pos = (pos | 7) + 1; /* the rest of this byte is clear */
            continue;
        }
        pos += (unsigned)__builtin_ctz(byte);
        if (pos >= end) {
            break; /* a bit past the list: refused below */
        }
        *at = j;
        if (j == q) {
            return "more high parts than indices";
        }
        high = pos - base - j;
        if (high > (u - 1) >> l) {
            return "an index not below its range";
        }
        off = (size_t)(high << l) | ef_get(in, (uint64_t)j * l, l);
        if (off >= u) {
            return "an index not below its range";
        }
        if (j > 0 && off <= prev) {
            return "indices not ascending";
        }
        idx[j++] = (uint32_t)(lo + off);
        prev     = off;
        pos++;
    }
    *at = j;
    if (j < q) {
        return "the bytes end before the last index";
    }
    if ((end & 7) != 0 && (in[len - 1] >> (end & 7)) != 0) {
        return "bits set after the last index";
    }
    return NULL;
}
