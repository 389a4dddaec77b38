/*
 * fp16 and bf16 encodings: against the compiler's _Float16 conversion where
 * it exists, against an independent nearest-even rounding for bf16, exact
 * round trips of every 16-bit pattern, and the rounding bounds relative to
 * the value.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../tap/tap.h"
#include "compcoll_wire.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rand32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* bf16 by comparing the two neighbours in double. */
static uint16_t ref_bf16(float f)
{
    uint32_t u  = compcoll_f32_bits(f);
    uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    double   x  = f, dl, dh;

    if (isnan(f)) {
        return 0x7fc0;
    }
    dl = fabs(x - (double)compcoll_bits_f32(lo));
    dh = fabs((double)compcoll_bits_f32(hi) - x);
    if ((hi & 0x7f800000u) == 0x7f800000u && (lo & 0x7f800000u) != 0x7f800000u) {
        /* the upper neighbour is infinity: compare against 2^128 */
        dh = fabs(ldexp(1.0, 128) - fabs(x));
    }
    if (dl < dh || (dl == dh && !((lo >> 16) & 1u))) {
        return (uint16_t)(lo >> 16);
    }
    return (uint16_t)(hi >> 16);
}

static float random_float(void)
{
    switch (rand32() % 4) {
    case 0:
        return compcoll_bits_f32(rand32()); /* any pattern */
    case 1:
        return (float)((int32_t)rand32()) * 0x1p-31f * 70000.0f;
    case 2:
        return (float)((int32_t)rand32()) * 0x1p-31f * 0x1p-14f;
    default:
        return (float)((int32_t)rand32()) * 0x1p-31f;
    }
}

int main(void)
{
    uint32_t i;
    int      good;
    double   worst16 = 0.0, worst_b = 0.0;

    /* every fp16 / bf16 pattern survives decode then encode */
    good = 1;
    for (i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float    f = compcoll_fp16_to_f32(h);

        if (!isnan(f)) {
            good &= compcoll_f32_to_fp16(f) == h;
        } else {
            good &= isnan(compcoll_fp16_to_f32(compcoll_f32_to_fp16(f)));
        }
        f = compcoll_bf16_to_f32(h);
        if (!isnan(f)) {
            good &= compcoll_f32_to_bf16(f) == h;
        }
    }
    ok(good, "every non-NaN fp16 and bf16 value round-trips exactly");

#ifdef __FLT16_MAX__
    good = 1;
    for (i = 0; i < 2000000; i++) {
        float    f = random_float();
        _Float16 r = (_Float16)f;
        uint16_t want;

        memcpy(&want, &r, 2);
        if (isnan(f)) {
            good &= (compcoll_f32_to_fp16(f) & 0x7c00) == 0x7c00 &&
                    (compcoll_f32_to_fp16(f) & 0x3ff) != 0;
        } else if (compcoll_f32_to_fp16(f) != want) {
            diag("fp16(%a): got %#x want %#x", f, compcoll_f32_to_fp16(f),
                 want);
            good = 0;
            break;
        }
    }
    ok(good, "fp16 encoding equals the compiler's _Float16 conversion");
#else
    ok(1, "# SKIP no _Float16 in this compiler");
#endif

    good = 1;
    for (i = 0; i < 2000000; i++) {
        float f = random_float();

        if (!isnan(f) && compcoll_f32_to_bf16(f) != ref_bf16(f)) {
            diag("bf16(%a): got %#x want %#x", f, compcoll_f32_to_bf16(f),
                 ref_bf16(f));
            good = 0;
            break;
        }
    }
    ok(good, "bf16 encoding is round-to-nearest-even");

    /* relative bounds in the normal range */
    for (i = 0; i < 1000000; i++) {
        float  f = (float)((int32_t)rand32()) * 0x1p-31f * 60000.0f;
        double e;

        if (fabsf(f) >= 0x1p-14f) {
            e = fabs(compcoll_fp16_to_f32(compcoll_f32_to_fp16(f)) - f) /
                fabs(f);
            worst16 = e > worst16 ? e : worst16;
        }
        if (f != 0.0f) {
            e = fabs(compcoll_bf16_to_f32(compcoll_f32_to_bf16(f)) - f) /
                fabs(f);
            worst_b = e > worst_b ? e : worst_b;
        }
    }
    ok(worst16 <= 0x1p-11, "fp16 relative rounding error %.3g <= 2^-11",
       worst16);
    ok(worst_b <= 0x1p-8, "bf16 relative rounding error %.3g <= 2^-8",
       worst_b);

    {
        /* The array routines (F16C where the CPU has it) give exactly the
         * bits of the scalar conversions, NaNs, infinities and subnormals
         * included, and decode_add adds exactly decode's values. */
        enum { N = 100003 };
        static float    src[N], back[N], acc[N];
        static uint16_t w[N];
        int             wt;

        for (i = 0; i < N; i++) {
            src[i] = (i % 101 == 0) ? compcoll_bits_f32(rand32())
                                    : random_float();
        }
        src[5] = NAN;
        src[6] = -INFINITY;
        src[7] = 0x1p-20f;
        src[8] = -0.0f;
        for (wt = COMPCOLL_WIRE_FP16; wt <= COMPCOLL_WIRE_BF16; wt++) {
            good = 1;
            compcoll_wire_encode(wt, w, src, N);
            for (i = 0; i < N; i++) {
                uint16_t want = wt == COMPCOLL_WIRE_FP16
                                    ? compcoll_f32_to_fp16(src[i])
                                    : compcoll_f32_to_bf16(src[i]);

                if (w[i] != want) {
                    diag("element %u (%a): array %#x, scalar %#x", i, src[i],
                         w[i], want);
                    good = 0;
                    break;
                }
            }
            compcoll_wire_decode(wt, back, w, N);
            for (i = 0; i < N && good; i++) {
                float want = wt == COMPCOLL_WIRE_FP16
                                 ? compcoll_fp16_to_f32(w[i])
                                 : compcoll_bf16_to_f32(w[i]);

                acc[i] = 0.5f;
                good &= memcmp(&back[i], &want, 4) == 0;
            }
            compcoll_wire_decode_add(wt, acc, w, N);
            for (i = 0; i < N && good; i++) {
                float want = 0.5f + back[i];

                good &= memcmp(&acc[i], &want, 4) == 0 || isnan(want);
            }
            ok(good, "%s array encode/decode/decode_add equal the scalar "
                     "conversions bit for bit",
               wt == COMPCOLL_WIRE_FP16 ? "fp16" : "bf16");
        }
    }

    ok(compcoll_f32_to_fp16(65520.0f) == 0x7c00 &&
           compcoll_f32_to_fp16(65519.0f) == 0x7bff &&
           compcoll_f32_to_fp16(-INFINITY) == 0xfc00 &&
           compcoll_f32_to_fp16(-0.0f) == 0x8000 &&
           compcoll_f32_to_fp16(0x1p-25f) == 0x0000 &&
           compcoll_f32_to_fp16(0x1.000002p-25f) == 0x0001 &&
           compcoll_f32_to_bf16(INFINITY) == 0x7f80 &&
           compcoll_f32_to_bf16(0x1.fffffep127f) == 0x7f80,
       "fp16/bf16 edge cases: overflow, signed zero, tiny, infinities");

    {
        float    src[5] = {1.0f, -2.5f, 3.14159f, 65504.0f, 1e-3f}, dst[5];
        uint16_t w[5];
        int      wt;

        good = 1;
        for (wt = COMPCOLL_WIRE_FP32; wt <= COMPCOLL_WIRE_BF16; wt++) {
            float acc[5] = {1, 1, 1, 1, 1};
            float buf32[5];
            void *wire = (wt == COMPCOLL_WIRE_FP32) ? (void *)buf32 : (void *)w;

            compcoll_wire_encode(wt, wire, src, 5);
            compcoll_wire_decode(wt, dst, wire, 5);
            compcoll_wire_decode_add(wt, acc, wire, 5);
            for (i = 0; i < 5; i++) {
                double tol = wt == COMPCOLL_WIRE_FP32 ? 0.0
                             : wt == COMPCOLL_WIRE_FP16 ? 0x1p-11 : 0x1p-8;

                good &= fabs(dst[i] - src[i]) <= tol * fabs(src[i]);
                good &= acc[i] == 1.0f + dst[i];
            }
        }
        ok(good, "encode/decode/decode_add agree for every wire type");
    }
    return tap_done();
}
