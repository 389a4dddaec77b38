/*
 * libcompcoll: value encodings on the wire.
 *
 * Values are accumulated in fp32 everywhere; fp16 and bf16 exist only in
 * transit.  Conversions round to nearest even, keep signed zeros, map NaN to
 * a quiet NaN and overflow to infinity, as IEEE 754 conversion does.
 */
#ifndef COMPCOLL_WIRE_H
#define COMPCOLL_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum {
    COMPCOLL_WIRE_FP32,
    COMPCOLL_WIRE_FP16,
    COMPCOLL_WIRE_BF16,
    COMPCOLL_WIRE_TYPES
} compcoll_wire_t;

/* A wire type: one row of compcoll_wire_types (wire.c). */
typedef struct {
    const char *name;
    size_t      size; /* bytes a value takes on the wire */
    /* count floats to the wire (dst may alias src only for fp32) */
    void (*encode)(void *dst, const float *src, size_t count);
    /* dst[i] = decode(src[i]), or dst[i] += decode(src[i]) when `add` */
    void (*decode)(float *dst, const void *src, size_t count, int add);
} compcoll_wire_type_t;

extern const compcoll_wire_type_t compcoll_wire_types[COMPCOLL_WIRE_TYPES];

static inline size_t compcoll_wire_size(compcoll_wire_t wire)
{
    return compcoll_wire_types[wire].size;
}

static inline uint32_t compcoll_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static inline float compcoll_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline uint16_t compcoll_f32_to_bf16(float f)
{
    uint32_t u       = compcoll_f32_bits(f);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16; /* RNE */
    uint32_t quiet   = (u >> 16) | 0x0040u; /* NaN: quiet, sign kept */

    /* Written without a branch so that loops over it vectorise. */
    return (uint16_t)(((u & 0x7fffffffu) > 0x7f800000u) ? quiet : rounded);
}

static inline float compcoll_bf16_to_f32(uint16_t h)
{
    return compcoll_bits_f32((uint32_t)h << 16);
}

static inline uint16_t compcoll_f32_to_fp16(float f)
{
    uint32_t u    = compcoll_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t absu = u & 0x7fffffffu;
    uint32_t mant, shift, half, rem;

    if (absu > 0x7f800000u) {
        /* quiet NaN keeping the top of the payload, as F16C does */
        return sign | 0x7e00u | (uint16_t)((absu >> 13) & 0x3ffu);
    }
    if (absu >= 0x477ff000u) {                  /* rounds to >= 65520: inf */
        return sign | 0x7c00u;
    }
    if (absu >= 0x38800000u) {                  /* normal in fp16 */
        uint32_t r = absu - 0x38000000u;        /* rebias 127 -> 15 */
        r += 0x0fffu + ((r >> 13) & 1u);
        return sign | (uint16_t)(r >> 13);
    }
    if (absu < 0x33000000u) {                   /* below half the smallest */
        return sign;                            /* subnormal: signed zero */
    }
    /* fp16 subnormal: value = mant * 2^-24, round the shifted mantissa. */
    mant  = (absu & 0x007fffffu) | 0x00800000u;
    shift = 126u - (absu >> 23);                /* 14 .. 24 */
    half  = 1u << (shift - 1);
    rem   = mant & ((1u << shift) - 1u);
    mant >>= shift;
    if (rem > half || (rem == half && (mant & 1u))) {
        mant++;
    }
    return sign | (uint16_t)mant;
}

static inline float compcoll_fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp  = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;

    if (exp == 0x1fu) {
        /* infinity, or a NaN made quiet as the F16C conversion makes it,
         * so that every path gives the same bits */
        return compcoll_bits_f32(sign | 0x7f800000u | (mant << 13) |
                                 (mant != 0 ? 0x00400000u : 0u));
    }
    if (exp != 0) {
        return compcoll_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
    }
    /* zero or subnormal: mant * 2^-24, exact in fp32; -0 stays -0 */
    {
        float v = (float)mant * 0x1p-24f;
        return sign ? -v : v;
    }
}

/* The table's rows by type, as the library calls them. */
/* Encode count floats to the wire type (dst may not alias src for fp16/bf16). */
void compcoll_wire_encode(compcoll_wire_t wire, void *dst, const float *src,
                          size_t count);
/* dst[i] = decode(src[i]) */
void compcoll_wire_decode(compcoll_wire_t wire, float *dst, const void *src,
                          size_t count);
/* dst[i] += decode(src[i]) */
void compcoll_wire_decode_add(compcoll_wire_t wire, float *dst,
                              const void *src, size_t count);

#endif
