/*
 * libcompcoll: index lists on the wire (compcoll_icode.h).
 */
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
