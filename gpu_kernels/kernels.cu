/*
 * gpu_kernels: the passes over a tensor that are not the radix selection.
 *
 *  chunk:    per-chunk arg-max of |m + g| over k near-equal chunks
 *            [j n/k, (j+1) n/k); a group of G lanes (a power of two up to a
 *            warp, chosen from the chunk length) owns a chunk and reduces
 *            with shuffles.  Fused (the leader's pass): the same group then
 *            writes vals[j], the memory update and the zeroed output of its
 *            chunk, so m and g are read from DRAM once.
 *  compress: the non-leader's pass with given indices, in three launches so
 *            that every element is touched once and nothing needs a bitmap:
 *            gather (vals[j] = a_i and the kept memory (1 - beta) m_i, before
 *            the sweep changes m and, in place, g), sweep (m += beta g,
 *            out = 0 over all n), fix-up (m_i = kept value at the k indices).
 *  scatter, dense, wire encode/decode.
 *
 * Bit-equality with the host reference (kernels_host.c, compiled with
 * -ffp-contract=off): every float operation is an explicit round-to-nearest
 * intrinsic, in the host's order, so nvcc cannot contract or reorder it.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "compcoll_gpu_kernels.h"

#define CC_THREADS   256
#define CC_MAX_GRID  16384
#define CC_NO_INDEX  0xffffffffu

static unsigned cc_grid(size_t work, unsigned per_block)
{
    size_t g = (work + per_block - 1) / per_block;

    if (g == 0) {
        g = 1;
    }
    return (unsigned)(g < CC_MAX_GRID ? g : CC_MAX_GRID);
}

__device__ __forceinline__ float cc_acc(const float *m, const float *g,
                                        size_t i)
{
    return m != NULL ? __fadd_rn(m[i], g[i]) : g[i];
}

/* compcoll_kept: (1 - beta) m, exactly +0 for beta = 1 */
__device__ __forceinline__ float cc_kept(float m, float keep)
{
    return keep != 0.0f ? __fmul_rn(m, keep) : 0.0f;
}

__device__ __forceinline__ uint32_t cc_key(float a)
{
    return __float_as_uint(a) & 0x7fffffffu;
}

/* (ka, ia) beats (kb, ib): larger key, then lower index. */
__device__ __forceinline__ bool cc_better(uint32_t ka, uint32_t ia,
                                          uint32_t kb, uint32_t ib)
{
    return ka > kb || (ka == kb && ia < ib);
}

/* ------------------------------------------------------------ chunk */

__global__ void cc_chunk_kernel(float *m, const float *g, float *out,
                                size_t n, size_t k, float beta, float keep,
                                uint32_t *idx, float *vals, int fused,
                                unsigned G)
{
    const unsigned lane   = threadIdx.x & 31u;
    const unsigned sub    = lane & (G - 1u);
    const unsigned group  = lane / G;
    const unsigned per_wp = 32u / G;
    const size_t   warp   = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t   nwarps = ((size_t)gridDim.x * blockDim.x) >> 5;
    size_t         jb;

    /* warp-uniform loop: every lane of a warp runs the same iterations */
    for (jb = warp * per_wp; jb < k; jb += nwarps * per_wp) {
        const size_t j     = jb + group;
        const bool   valid = j < k;
        size_t       lo = 0, hi = 0, i;
        uint32_t     bkey = 0, bidx = CC_NO_INDEX;
        float        ba = 0.0f;
        unsigned     off;

        if (valid) {
            lo = (size_t)((unsigned long long)j * n / k);
            hi = (size_t)((unsigned long long)(j + 1) * n / k);
        }
        for (i = lo + sub; i < hi; i += G) {
            const float    a   = cc_acc(m, g, i);
            const uint32_t key = cc_key(a);

            /* a lane sees its indices in ascending order: strictly greater
             * keeps the first maximum */
            if (bidx == CC_NO_INDEX || key > bkey) {
                bkey = key;
                bidx = (uint32_t)i;
                ba   = a;
            }
        }
        for (off = G >> 1; off > 0; off >>= 1) {
            const uint32_t okey = __shfl_xor_sync(0xffffffffu, bkey, off);
            const uint32_t oidx = __shfl_xor_sync(0xffffffffu, bidx, off);
            const float    oa   = __shfl_xor_sync(0xffffffffu, ba, off);

            if (cc_better(okey, oidx, bkey, bidx)) {
                bkey = okey;
                bidx = oidx;
                ba   = oa;
            }
        }
        if (!valid) {
            continue;
        }
        if (sub == 0) {
            idx[j] = bidx;
            if (fused) {
                vals[j] = ba;
            }
        }
        if (!fused) {
            continue;
        }
        for (i = lo + sub; i < hi; i += G) {
            if (m != NULL) {
                const float mi = m[i];

                m[i] = (i == bidx) ? cc_kept(mi, keep)
                                   : __fadd_rn(mi, __fmul_rn(beta, g[i]));
            }
            out[i] = 0.0f; /* after g[i] was read: out may be g */
        }
    }
}

extern "C" compcoll_status_t
compcoll_gpu_launch_chunk(cudaStream_t st, int sms, float *m, const float *g,
                          float *out, size_t n, size_t k, float beta,
                          uint32_t *idx, float *vals, int fused)
{
    compcoll_status_t status = COMPCOLL_OK;
    const float       keep   = 1.0f - beta;
    const size_t      len    = n / k; /* chunks hold len or len + 1 */
    unsigned          G      = 1, per_wp;
    size_t            warps, blocks, cap;

    while (G < 32 && G < len) {
        G <<= 1;
    }
    per_wp = 32u / G;
    warps  = (k + per_wp - 1) / per_wp;
    blocks = (warps * 32 + CC_THREADS - 1) / CC_THREADS;
    /* enough resident warps to cover memory latency, not more */
    cap = (size_t)(sms > 0 ? sms : 132) * 16;
    if (blocks > cap) {
        blocks = cap;
    }
    cc_chunk_kernel<<<(unsigned)blocks, CC_THREADS, 0, st>>>(
        m, g, out, n, k, beta, keep, idx, vals, fused, G);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("chunk", status, out);
out:
    return status;
}

/* ------------------------------------------------------------ compress */

__global__ void cc_gather_kernel(const float *m, const float *g,
                                 const uint32_t *idx, size_t k, float keep,
                                 float *vals, float *kept)
{
    size_t j;

    for (j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < k;
         j += (size_t)gridDim.x * blockDim.x) {
        const uint32_t i = idx[j];

        if (m != NULL) {
            const float mi = m[i];

            vals[j] = __fadd_rn(mi, g[i]);
            kept[j] = cc_kept(mi, keep);
        } else {
            vals[j] = g[i];
        }
    }
}

/* m += beta g; out = 0.  g may be out (in place): each element is read
 * before it is written, by the same thread. */
__global__ void cc_sweep_kernel(float *m, const float *g, float *out,
                                size_t n, float beta)
{
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t       i      = (size_t)blockIdx.x * blockDim.x + threadIdx.x;

    for (; i < n; i += stride) {
        m[i]   = __fadd_rn(m[i], __fmul_rn(beta, g[i]));
        out[i] = 0.0f;
    }
}

/* The same with 16-byte accesses, for aligned buffers; n4 = n / 4. */
__global__ void cc_sweep4_kernel(float4 *m, const float4 *g, float4 *out,
                                 size_t n4, float beta)
{
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t       i      = (size_t)blockIdx.x * blockDim.x + threadIdx.x;

    for (; i < n4; i += stride) {
        float4 mv = m[i];
        float4 gv = g[i];

        mv.x   = __fadd_rn(mv.x, __fmul_rn(beta, gv.x));
        mv.y   = __fadd_rn(mv.y, __fmul_rn(beta, gv.y));
        mv.z   = __fadd_rn(mv.z, __fmul_rn(beta, gv.z));
        mv.w   = __fadd_rn(mv.w, __fmul_rn(beta, gv.w));
        m[i]   = mv;
        out[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
}

__global__ void cc_fixup_kernel(float *m, const uint32_t *idx, size_t k,
                                const float *kept)
{
    size_t j;

    for (j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < k;
         j += (size_t)gridDim.x * blockDim.x) {
        m[idx[j]] = kept[j];
    }
}

static int cc_aligned16(const void *p)
{
    return ((uintptr_t)p & 15u) == 0;
}

static compcoll_status_t cc_sweep(cudaStream_t st, float *m, const float *g,
                                  float *out, size_t n, float beta)
{
    compcoll_status_t status = COMPCOLL_OK;
    const size_t      n4     = n / 4;

    if (n4 > 0 && cc_aligned16(m) && cc_aligned16(g) && cc_aligned16(out)) {
        cc_sweep4_kernel<<<cc_grid(n4, CC_THREADS), CC_THREADS, 0, st>>>(
            (float4 *)m, (const float4 *)g, (float4 *)out, n4, beta);
        COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("sweep4", status, out);
        if (n4 * 4 == n) {
            goto out;
        }
        m += n4 * 4;
        g += n4 * 4;
        out += n4 * 4;
        n -= n4 * 4;
    }
    cc_sweep_kernel<<<cc_grid(n, CC_THREADS), CC_THREADS, 0, st>>>(m, g, out,
                                                                   n, beta);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("sweep", status, out);
out:
    return status;
}

extern "C" compcoll_status_t
compcoll_gpu_launch_compress(cudaStream_t st, cudaMemPool_t pool, float *m,
                             const float *g, float *out, size_t n,
                             const uint32_t *idx, size_t k, float beta,
                             float *vals)
{
    compcoll_status_t status = COMPCOLL_OK;
    const float       keep   = 1.0f - beta;
    float            *kept   = NULL;

    if (m != NULL && k > 0) {
        COMPCOLL_CUDA_CHECK_GOTO(cudaMallocFromPoolAsync((void **)&kept,
                                                         k * sizeof(float),
                                                         pool, st),
                                 status, out);
    }
    if (k > 0) {
        cc_gather_kernel<<<cc_grid(k, CC_THREADS), CC_THREADS, 0, st>>>(
            m, g, idx, k, keep, vals, kept);
        COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("gather", status, out);
    }
    if (m == NULL) {
        /* no memory: the values were the gradient's own; zero the output */
        COMPCOLL_CUDA_CHECK_GOTO(cudaMemsetAsync(out, 0, n * sizeof(float),
                                                 st),
                                 status, out);
        goto out;
    }
    status = cc_sweep(st, m, g, out, n, beta);
    if (status != COMPCOLL_OK) {
        goto out;
    }
    if (k > 0) {
        cc_fixup_kernel<<<cc_grid(k, CC_THREADS), CC_THREADS, 0, st>>>(
            m, idx, k, kept);
        COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("fixup", status, out);
    }
out:
    if (kept != NULL) {
        cudaFreeAsync(kept, st);
    }
    return status;
}

/* ------------------------------------------------------------ scatter */

__global__ void cc_scatter_kernel(float *out, const uint32_t *idx,
                                  const float *vals, size_t k)
{
    size_t j;

    for (j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < k;
         j += (size_t)gridDim.x * blockDim.x) {
        out[idx[j]] = vals[j];
    }
}

extern "C" compcoll_status_t compcoll_gpu_launch_scatter(cudaStream_t st,
                                                         float *out,
                                                         const uint32_t *idx,
                                                         const float *vals,
                                                         size_t k)
{
    compcoll_status_t status = COMPCOLL_OK;

    if (k == 0) {
        return COMPCOLL_OK;
    }
    cc_scatter_kernel<<<cc_grid(k, CC_THREADS), CC_THREADS, 0, st>>>(out, idx,
                                                                     vals, k);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("scatter", status, out);
out:
    return status;
}

/* ------------------------------------------------------------ dense */

/* out = m + g; m = kept, unless that is a NaN or an infinity (then 0: it
 * goes out now, as on the host).  out may be g. */
__global__ void cc_dense_kernel(float *m, const float *g, float *out, size_t n,
                                float keep)
{
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t       i      = (size_t)blockIdx.x * blockDim.x + threadIdx.x;

    for (; i < n; i += stride) {
        const float mi = m[i];
        const float v  = cc_kept(mi, keep);

        out[i] = __fadd_rn(mi, g[i]);
        m[i]   = __fsub_rn(v, v) == 0.0f ? v : 0.0f;
    }
}

extern "C" compcoll_status_t compcoll_gpu_launch_dense(cudaStream_t st,
                                                       float *m,
                                                       const float *g,
                                                       float *out, size_t n,
                                                       float beta)
{
    compcoll_status_t status = COMPCOLL_OK;
    const float       keep   = 1.0f - beta;

    if (m == NULL) {
        if (out != g && n > 0) {
            COMPCOLL_CUDA_CHECK_GOTO(cudaMemcpyAsync(out, g, n * sizeof(float),
                                                     cudaMemcpyDefault, st),
                                     status, out);
        }
        goto out;
    }
    cc_dense_kernel<<<cc_grid(n, CC_THREADS), CC_THREADS, 0, st>>>(m, g, out,
                                                                   n, keep);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("dense", status, out);
out:
    return status;
}

/* ------------------------------------------------------------ wire */

/* The integer recipes of compcoll_wire.h, unchanged. */
__device__ __forceinline__ uint16_t cc_f32_to_bf16(float f)
{
    uint32_t u = __float_as_uint(f);

    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((u >> 16) | 0x0040u);
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

__device__ __forceinline__ float cc_bf16_to_f32(uint16_t h)
{
    return __uint_as_float((uint32_t)h << 16);
}

__device__ __forceinline__ uint16_t cc_f32_to_fp16(float f)
{
    const uint32_t u    = __float_as_uint(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    const uint32_t absu = u & 0x7fffffffu;
    uint32_t       mant, shift, half, rem;

    if (absu > 0x7f800000u) {
        /* quiet NaN keeping the top of the payload, as the host and F16C */
        return (uint16_t)(sign | 0x7e00u | ((absu >> 13) & 0x3ffu));
    }
    if (absu >= 0x477ff000u) {
        return (uint16_t)(sign | 0x7c00u);
    }
    if (absu >= 0x38800000u) {
        uint32_t r = absu - 0x38000000u;

        r += 0x0fffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (uint16_t)(r >> 13));
    }
    if (absu < 0x33000000u) {
        return sign;
    }
    mant  = (absu & 0x007fffffu) | 0x00800000u;
    shift = 126u - (absu >> 23);
    half  = 1u << (shift - 1);
    rem   = mant & ((1u << shift) - 1u);
    mant >>= shift;
    if (rem > half || (rem == half && (mant & 1u))) {
        mant++;
    }
    return (uint16_t)(sign | (uint16_t)mant);
}

__device__ __forceinline__ float cc_fp16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp  = (h >> 10) & 0x1fu;
    const uint32_t mant = h & 0x3ffu;
    float          v;

    if (exp == 0x1fu) {
        /* a NaN quiet, as the host's conversions make it */
        return __uint_as_float(sign | 0x7f800000u | (mant << 13) |
                               (mant != 0 ? 0x00400000u : 0u));
    }
    if (exp != 0) {
        return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
    }
    v = __fmul_rn((float)mant, 0x1p-24f); /* exact */
    return sign ? -v : v;
}

__global__ void cc_encode_kernel(int wire, uint16_t *dst, const float *src,
                                 size_t count)
{
    size_t i;

    for (i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        dst[i] = (wire == COMPCOLL_WIRE_BF16) ? cc_f32_to_bf16(src[i])
                                              : cc_f32_to_fp16(src[i]);
    }
}

__global__ void cc_decode_kernel(int wire, float *dst, const uint16_t *src,
                                 size_t count)
{
    size_t i;

    for (i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        dst[i] = (wire == COMPCOLL_WIRE_BF16) ? cc_bf16_to_f32(src[i])
                                              : cc_fp16_to_f32(src[i]);
    }
}

extern "C" compcoll_status_t compcoll_gpu_launch_encode(cudaStream_t st,
                                                        compcoll_wire_t wire,
                                                        void *dst,
                                                        const float *src,
                                                        size_t count)
{
    compcoll_status_t status = COMPCOLL_OK;

    if (count == 0) {
        return COMPCOLL_OK;
    }
    if (wire == COMPCOLL_WIRE_FP32) {
        if (dst != (const void *)src) {
            COMPCOLL_CUDA_CHECK_GOTO(cudaMemcpyAsync(dst, src,
                                                     count * sizeof(float),
                                                     cudaMemcpyDefault, st),
                                     status, out);
        }
        goto out;
    }
    cc_encode_kernel<<<cc_grid(count, CC_THREADS), CC_THREADS, 0, st>>>(
        (int)wire, (uint16_t *)dst, src, count);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("encode", status, out);
out:
    return status;
}

extern "C" compcoll_status_t compcoll_gpu_launch_decode(cudaStream_t st,
                                                        compcoll_wire_t wire,
                                                        float *dst,
                                                        const void *src,
                                                        size_t count)
{
    compcoll_status_t status = COMPCOLL_OK;

    if (count == 0) {
        return COMPCOLL_OK;
    }
    if (wire == COMPCOLL_WIRE_FP32) {
        if ((const void *)dst != src) {
            COMPCOLL_CUDA_CHECK_GOTO(cudaMemcpyAsync(dst, src,
                                                     count * sizeof(float),
                                                     cudaMemcpyDefault, st),
                                     status, out);
        }
        goto out;
    }
    cc_decode_kernel<<<cc_grid(count, CC_THREADS), CC_THREADS, 0, st>>>(
        (int)wire, dst, (const uint16_t *)src, count);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("decode", status, out);
out:
    return status;
}
