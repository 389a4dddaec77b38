/*
 * Fuzz target: the wire codecs over arrays (compcoll_wire.h), which turn
 * the values other ranks sent into floats.  Their lengths come from the
 * call's agreed header, never from the bytes, and every bit pattern is a
 * value; what can go wrong is an array path (F16C on x86-64, eight values
 * a time, the rest one by one) that reads or writes past count or gives
 * other bits than the scalar conversion, so that ranks decoding the same
 * values at different offsets disagree.
 *
 * Input: wire type (byte 0, modulo 3: fp32, fp16, bf16), operation (byte
 * 1, modulo 3: decode, decode_add, encode), then the values: count = the
 * bytes left over the wire size (4 for encode, whose input is fp32), each
 * copied into a buffer of exactly count values.  decode and decode_add
 * are checked against an independent conversion (fp16 from its fields
 * with ldexp, bf16 as the top half of an fp32) and, bit for bit, against
 * the header's scalar conversion; encode against the scalar conversion.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll_wire.h"
#include "fuzz.h"

#define HEAD       2
#define MAX_VALUES 64

enum { OP_DECODE, OP_DECODE_ADD, OP_ENCODE };

static size_t wire_seed(fuzz_rng_t *rng, uint8_t *buf, size_t cap, int *bad)
{
    compcoll_wire_t wire  = (compcoll_wire_t)fuzz_below(rng, 3);
    int             op    = (int)fuzz_below(rng, 3);
    size_t          count = (size_t)fuzz_below(rng, MAX_VALUES + 1), i;
    size_t          wsize = op == OP_ENCODE ? 4 : compcoll_wire_size(wire);
    float           f[MAX_VALUES];

    for (i = 0; i < count; i++) {
        /* mostly gradient-like values, now and then any bits */
        f[i] = fuzz_below(rng, 8) == 0
                   ? compcoll_bits_f32((uint32_t)fuzz_rand(rng))
                   : ldexpf((float)fuzz_below(rng, 1u << 24) - 0x1p23f,
                            (int)fuzz_below(rng, 40) - 50);
    }
    if (cap < HEAD + wsize * count) {
        *bad = 1;
        return 0;
    }
    buf[0] = (uint8_t)wire;
    buf[1] = (uint8_t)op;
    if (op == OP_ENCODE) {
        memcpy(buf + HEAD, f, 4 * count);
    } else {
        /* what a rank sends: the encoding of its values */
        compcoll_wire_encode(wire, buf + HEAD, f, count);
    }
    return HEAD + wsize * count;
}

/* fp16 to double from its fields, without the code under test. */
static double ref_fp16(uint16_t h)
{
    int    sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;

    if (exp == 0x1f) {
        v = mant ? NAN : INFINITY;
    } else if (exp == 0) {
        v = ldexp(mant, -24);
    } else {
        v = ldexp(1024 + mant, exp - 25);
    }
    return sign ? -v : v;
}

static double ref_decode(compcoll_wire_t wire, const uint8_t *p)
{
    uint16_t h;
    float    f;

    switch (wire) {
    case COMPCOLL_WIRE_FP16:
        memcpy(&h, p, 2);
        return ref_fp16(h);
    case COMPCOLL_WIRE_BF16:
        memcpy(&h, p, 2);
        return compcoll_bits_f32((uint32_t)h << 16);
    default:
        memcpy(&f, p, 4);
        return f;
    }
}

static float scalar_decode(compcoll_wire_t wire, const uint8_t *p)
{
    uint16_t h;
    float    f;

    memcpy(&h, p, 2);
    switch (wire) {
    case COMPCOLL_WIRE_FP16:
        return compcoll_fp16_to_f32(h);
    case COMPCOLL_WIRE_BF16:
        return compcoll_bf16_to_f32(h);
    default:
        memcpy(&f, p, 4);
        return f;
    }
}

/* the same value: both NaN with the same sign, or equal, -0 apart from 0 */
static int same_value(double a, double b)
{
    if (isnan(a) || isnan(b)) {
        return isnan(a) && isnan(b) && !signbit(a) == !signbit(b);
    }
    return a == b && !signbit(a) == !signbit(b);
}

static int same_bits(float a, float b)
{
    return compcoll_f32_bits(a) == compcoll_f32_bits(b);
}

/* what decode_add adds to: some values of every kind */
static float start_value(size_t i)
{
    static const float v[] = {0.0f, -0.0f, 1.0f, -3.5f, 0x1p-130f, 65504.0f,
                              1e30f, -INFINITY};

    return v[i % (sizeof(v) / sizeof(v[0]))];
}

enum {
    P_VALUE,  /* decode: the value the bytes hold */
    P_BITS,   /* decode: the scalar conversion's bits at every position */
    P_ADD,    /* decode_add: start + decode, bit for bit */
    P_ENCODE, /* encode: the scalar conversion's bits */
};

static int wire_one(const uint8_t *data, size_t len, unsigned *broken)
{
    compcoll_wire_t wire;
    int             op;
    size_t          wsize, count, i;
    uint8_t        *src;
    float          *dst;

    if (len < HEAD) {
        return FUZZ_REJECTED;
    }
    wire  = (compcoll_wire_t)(data[0] % 3);
    op    = data[1] % 3;
    wsize = op == OP_ENCODE ? 4 : compcoll_wire_size(wire);
    count = (len - HEAD) / wsize;
    /* exactly count values each way, aligned as the library's buffers */
    src = malloc(count ? count * wsize : 1);
    dst = malloc(count ? count * sizeof(float) : 1);
    if (src == NULL || dst == NULL) {
        abort();
    }
    memcpy(src, data + HEAD, count * wsize);

    if (op == OP_ENCODE) {
        uint8_t *w = malloc(count ? count * compcoll_wire_size(wire) : 1);

        if (w == NULL) {
            abort();
        }
        compcoll_wire_encode(wire, w, (const float *)(const void *)src, count);
        for (i = 0; i < count; i++) {
            float    f;
            uint32_t got = 0, want;

            memcpy(&f, src + 4 * i, 4);
            switch (wire) {
            case COMPCOLL_WIRE_FP16:
                want = compcoll_f32_to_fp16(f);
                memcpy(&got, w + 2 * i, 2);
                got &= 0xffffu;
                break;
            case COMPCOLL_WIRE_BF16:
                want = compcoll_f32_to_bf16(f);
                memcpy(&got, w + 2 * i, 2);
                got &= 0xffffu;
                break;
            default:
                want = compcoll_f32_bits(f);
                memcpy(&got, w + 4 * i, 4);
                break;
            }
            if (got != want) {
                *broken |= 1u << P_ENCODE;
            }
        }
        free(w);
    } else if (op == OP_DECODE) {
        compcoll_wire_decode(wire, dst, src, count);
        for (i = 0; i < count; i++) {
            if (!same_value(dst[i], ref_decode(wire, src + wsize * i))) {
                *broken |= 1u << P_VALUE;
            }
            if (!same_bits(dst[i], scalar_decode(wire, src + wsize * i))) {
                *broken |= 1u << P_BITS;
            }
        }
    } else {
        for (i = 0; i < count; i++) {
            dst[i] = start_value(i);
        }
        compcoll_wire_decode_add(wire, dst, src, count);
        for (i = 0; i < count; i++) {
            float want = start_value(i) + scalar_decode(wire, src + wsize * i);

            /* NaN + x: which NaN's payload survives is the CPU's choice */
            if (!(same_bits(dst[i], want) ||
                  (isnan(dst[i]) && isnan(want)))) {
                *broken |= 1u << P_ADD;
            }
        }
    }
    free(src);
    free(dst);
    return FUZZ_ACCEPTED;
}

const fuzz_target_t fuzz_target = {
    .name     = "wire",
    .max_len  = HEAD + 4 * MAX_VALUES + 64,
    .inputs   = 300000,
    .per_seed = 64,
    .props    = {"decode gives the value the bytes hold (NaN: a NaN of the "
                 "same sign)",
                 "decode gives the scalar conversion's bits at every "
                 "position (array and scalar paths agree)",
                 "decode_add adds exactly the decoded values",
                 "encode gives the scalar conversion's bits at every position",
                 NULL},
    .seed = wire_seed,
    .one  = wire_one,
};
