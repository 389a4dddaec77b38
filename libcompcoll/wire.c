#include "compcoll_wire.h"

void compcoll_wire_encode(compcoll_wire_t wire, void *dst, const float *src,
                          size_t count)
{
    uint16_t *h = dst;
    size_t    i;

    switch (wire) {
    case COMPCOLL_WIRE_FP32:
        if (dst != (const void *)src) {
            memcpy(dst, src, count * sizeof(float));
        }
        break;
    case COMPCOLL_WIRE_FP16:
        for (i = 0; i < count; i++) {
            h[i] = compcoll_f32_to_fp16(src[i]);
        }
        break;
    case COMPCOLL_WIRE_BF16:
        for (i = 0; i < count; i++) {
            h[i] = compcoll_f32_to_bf16(src[i]);
        }
        break;
    }
}

void compcoll_wire_decode(compcoll_wire_t wire, float *dst, const void *src,
                          size_t count)
{
    const uint16_t *h = src;
    size_t          i;

    switch (wire) {
    case COMPCOLL_WIRE_FP32:
        if ((const void *)dst != src) {
            memcpy(dst, src, count * sizeof(float));
        }
        break;
    case COMPCOLL_WIRE_FP16:
        for (i = 0; i < count; i++) {
            dst[i] = compcoll_fp16_to_f32(h[i]);
        }
        break;
    case COMPCOLL_WIRE_BF16:
        for (i = 0; i < count; i++) {
            dst[i] = compcoll_bf16_to_f32(h[i]);
        }
        break;
    }
}

void compcoll_wire_decode_add(compcoll_wire_t wire, float *dst,
                              const void *src, size_t count)
{
    const float    *f = src;
    const uint16_t *h = src;
    size_t          i;

    switch (wire) {
    case COMPCOLL_WIRE_FP32:
        for (i = 0; i < count; i++) {
            dst[i] += f[i];
        }
        break;
    case COMPCOLL_WIRE_FP16:
        for (i = 0; i < count; i++) {
            dst[i] += compcoll_fp16_to_f32(h[i]);
        }
        break;
    case COMPCOLL_WIRE_BF16:
        for (i = 0; i < count; i++) {
            dst[i] += compcoll_bf16_to_f32(h[i]);
        }
        break;
    }
}
