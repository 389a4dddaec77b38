/*
 * Wire encodings over arrays.  On x86-64 CPUs with F16C the fp16
 * conversions use it (the scalar code rounds the same way, NaNs included,
 * so every rank gets the same bits whichever path it takes).
 */
#include "compcoll_wire.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define WIRE_HAVE_F16C_PATH 1

static int wire_f16c(void)
{
    static int have = -1;

    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
    }
    return have;
}

__attribute__((target("avx,f16c"))) static size_t
wire_encode_fp16_f16c(uint16_t *h, const float *src, size_t count)
{
    size_t i;

    for (i = 0; i + 8 <= count; i += 8) {
        __m128i r = _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                    _MM_FROUND_TO_NEAREST_INT |
                                        _MM_FROUND_NO_EXC);

        _mm_storeu_si128((__m128i *)(h + i), r);
    }
    return i;
}

__attribute__((target("avx,f16c"))) static size_t
wire_decode_fp16_f16c(float *dst, const uint16_t *h, size_t count, int add)
{
    size_t i;

    for (i = 0; i + 8 <= count; i += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i)));

        if (add) {
            v = _mm256_add_ps(_mm256_loadu_ps(dst + i), v);
        }
        _mm256_storeu_ps(dst + i, v);
    }
    return i;
}
#endif

/* ------------------------------------------------------------ fp32 */

static void wire_encode_fp32(void *dst, const float *src, size_t count)
{
    if (dst != (const void *)src) {
        memcpy(dst, src, count * sizeof(float));
    }
}

static void wire_decode_fp32(float *dst, const void *src, size_t count,
                             int add)
{
    const float *f = src;
    size_t       i;

    if (add) {
        for (i = 0; i < count; i++) {
            dst[i] += f[i];
        }
    } else if ((const void *)dst != src) {
        memcpy(dst, src, count * sizeof(float));
    }
}

/* ------------------------------------------------------------ fp16 */

static void wire_encode_fp16(void *dst, const float *src, size_t count)
{
    uint16_t *h = dst;
    size_t    i = 0;

#ifdef WIRE_HAVE_F16C_PATH
    if (wire_f16c()) {
        i = wire_encode_fp16_f16c(h, src, count);
    }
#endif
    for (; i < count; i++) {
        h[i] = compcoll_f32_to_fp16(src[i]);
    }
}

static void wire_decode_fp16(float *dst, const void *src, size_t count,
                             int add)
{
    const uint16_t *h = src;
    size_t          i = 0;

#ifdef WIRE_HAVE_F16C_PATH
    if (wire_f16c()) {
        i = wire_decode_fp16_f16c(dst, h, count, add);
    }
#endif
    for (; i < count; i++) {
        dst[i] = add ? dst[i] + compcoll_fp16_to_f32(h[i])
                     : compcoll_fp16_to_f32(h[i]);
    }
}

/* ------------------------------------------------------------ bf16 */

static void wire_encode_bf16(void *dst, const float *src, size_t count)
{
    uint16_t *h = dst;
    size_t    i;

    for (i = 0; i < count; i++) {
        h[i] = compcoll_f32_to_bf16(src[i]);
    }
}

static void wire_decode_bf16(float *dst, const void *src, size_t count,
                             int add)
{
    const uint16_t *h = src;
    size_t          i;

    for (i = 0; i < count; i++) {
        dst[i] = add ? dst[i] + compcoll_bf16_to_f32(h[i])
                     : compcoll_bf16_to_f32(h[i]);
    }
}

/* ------------------------------------------------------------ the table */

const compcoll_wire_type_t compcoll_wire_types[COMPCOLL_WIRE_TYPES] = {
    [COMPCOLL_WIRE_FP32] = {"fp32", 4, wire_encode_fp32, wire_decode_fp32},
    [COMPCOLL_WIRE_FP16] = {"fp16", 2, wire_encode_fp16, wire_decode_fp16},
    [COMPCOLL_WIRE_BF16] = {"bf16", 2, wire_encode_bf16, wire_decode_bf16},
};

void compcoll_wire_encode(compcoll_wire_t wire, void *dst, const float *src,
                          size_t count)
{
    compcoll_wire_types[wire].encode(dst, src, count);
}

void compcoll_wire_decode(compcoll_wire_t wire, float *dst, const void *src,
                          size_t count)
{
    compcoll_wire_types[wire].decode(dst, src, count, 0);
}

void compcoll_wire_decode_add(compcoll_wire_t wire, float *dst,
                              const void *src, size_t count)
{
    compcoll_wire_types[wire].decode(dst, src, count, 1);
}
