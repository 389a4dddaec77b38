/*
 * libcompcoll: index lists on the wire.
 *
 * k ascending indices below n travel as one unsigned LEB128 number each
 * (7 bits a byte, low bits first, the top bit set on every byte but the
 * last):
 *   GAP:    idx[j] - idx[j-1] - 1, and idx[0] itself: about 1.3 bytes an
 *           index when they are 1 in 100, instead of 4
 *   CHUNK:  idx[j] - compcoll_chunk_lo(j, n, k), for lists with one index
 *           in each of the k chunks (COMPCOLL_SELECT=chunk): one byte an
 *           index while chunks are at most 128 long
 *   EF:     Elias-Fano, for lists whose length must be known before their
 *           indices are (a leader that announces each pipelined piece's
 *           bytes in its header, then selects it): the low
 *           L = floor(log2(u / q)) bits of each offset idx - lo, then the
 *           high parts in unary, one set bit at (offset >> L) + j.  Its
 *           size depends on the range u and the count q alone:
 *           q L + q + ((u - 1) >> L) bits, about 1.07 bytes an index at 1
 *           in 100.
 * Decoding checks everything it reads, so a damaged or hostile list is
 * refused with a reason, never applied.
 */
#ifndef COMPCOLL_ICODE_H
#define COMPCOLL_ICODE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    COMPCOLL_ICODE_GAP   = 1,
    COMPCOLL_ICODE_CHUNK = 2,
    COMPCOLL_ICODE_EF    = 3,
} compcoll_icode_t;

/* COMPCOLL_SELECT=chunk's chunk j of k over n is [lo(j), lo(j + 1)). */
static inline size_t compcoll_chunk_lo(size_t j, size_t n, size_t k)
{
    return (size_t)((uint64_t)j * n / k);
}

/* The most bytes one index takes (32 bits, 7 a byte). */
#define COMPCOLL_ICODE_MAX 5

/*
 * idx (k >= 1 ascending indices below n < 2^32) into out, which has room
 * for COMPCOLL_ICODE_MAX k bytes: as CHUNK when `chunks` is set and every
 * index lies in its own chunk, else as GAP.  Returns the bytes written and
 * the coding used.
 */
size_t compcoll_icode_encode(int chunks, const uint32_t *idx, size_t n,
                             size_t k, uint8_t *out, compcoll_icode_t *coding);

/*
 * The k indices of len bytes `in`, coded as `coding`, into idx.  NULL when
 * they are well formed (every index below n, in its chunk for CHUNK,
 * ascending, the bytes used up exactly, EF's unused bits zero); otherwise
 * what was wrong, with *at the index where decoding stopped.  EF here is
 * the list over [0, n).
 */
const char *compcoll_icode_decode(compcoll_icode_t coding, const uint8_t *in,
                                  size_t len, size_t n, size_t k,
                                  uint32_t *idx, size_t *at);

/* EF: the bytes of q indices in a range of u elements (0 when q is 0);
 * q <= u < 2^32. */
size_t compcoll_icode_ef_bytes(size_t u, size_t q);

/* EF: the q ascending indices idx, each in [lo, lo + u), into out (room for
 * compcoll_icode_ef_bytes(u, q) bytes, every one of them written). */
void compcoll_icode_ef_encode(const uint32_t *idx, size_t q, size_t lo,
                              size_t u, uint8_t *out);

/* EF: q indices of [lo, lo + u) from len bytes `in`, as
 * compcoll_icode_decode. */
const char *compcoll_icode_ef_decode(const uint8_t *in, size_t len, size_t lo,
                                     size_t u, size_t q, uint32_t *idx,
                                     size_t *at);

#endif
