/*
 * Host kernels: the fused memory/output pass, the scatter and the dense
 * preparation.  Loops are written so the compiler vectorises the runs
 * between selected indices; selected indices are handled one by one.
 */
#include "compcoll_kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Index lists are ascending but sparse (one index every ratio elements):
 * each access is a cache miss, so the loops over them prefetch this many
 * indices ahead. */
#define HOST_PREFETCH_AHEAD 32
/* From this size up, out is written by the fold with streaming stores: it
 * would not stay in cache anyway, and it is not read before the scatter. */
#define HOST_STREAM_MIN_BYTES ((size_t)8 << 20)

void *compcoll_buf_reserve(compcoll_buf_t *buf, size_t bytes)
{
    void *p;

    if (bytes <= buf->size && buf->ptr != NULL) {
        return buf->ptr;
    }
    bytes = bytes + bytes / 4 + 64; /* grow geometrically, never per call */
    p     = realloc(buf->ptr, bytes);
    if (p == NULL) {
        return NULL;
    }
    buf->ptr  = p;
    buf->size = bytes;
    return p;
}

void compcoll_buf_release(compcoll_buf_t *buf)
{
    free(buf->ptr);
    buf->ptr  = NULL;
    buf->size = 0;
}

void compcoll_select_scratch_release(compcoll_select_scratch_t *s)
{
    compcoll_buf_release(&s->cand);
    compcoll_buf_release(&s->above);
    compcoll_buf_release(&s->keys);
    compcoll_buf_release(&s->hist);
    compcoll_buf_release(&s->cval);
}

__thread int compcoll_host_nonfinite;

/* m += beta * g; out = 0 over [lo, hi).  restrict is honest here except
 * when out aliases g, which host_compress routes to the aliasing loop. */
static void host_run_mem(float *restrict m, const float *restrict g,
                         float *restrict out, size_t lo, size_t hi, float beta)
{
    size_t i;
    int    nf = 0;

    for (i = lo; i < hi; i++) {
        const float a = m[i] + beta * g[i];

        m[i]   = a;
        out[i] = 0.0f;
        nf |= compcoll_nonfinite(a);
    }
    compcoll_host_nonfinite |= nf;
}

static void host_run_mem_inplace(float *restrict m, float *restrict g,
                                 size_t lo, size_t hi, float beta)
{
    size_t i;
    int    nf = 0;

    for (i = lo; i < hi; i++) {
        const float a = m[i] + beta * g[i];

        m[i] = a;
        g[i] = 0.0f;
        nf |= compcoll_nonfinite(a);
    }
    compcoll_host_nonfinite |= nf;
}

static void host_compress(float *m, const float *g, float *out, size_t n,
                          const uint32_t *idx, size_t k, float beta,
                          float *vals)
{
    const float keep = 1.0f - beta;
    size_t      lo   = 0, j;

    if (m == NULL) {
        /* No memory: the values are the gradient's own; nothing to keep. */
        for (j = 0; j < k; j++) {
            vals[j] = g[idx[j]];
        }
        memset(out, 0, n * sizeof(float));
        return;
    }
    for (j = 0; j <= k; j++) {
        size_t hi = (j < k) ? idx[j] : n;

        if (out == g) {
            host_run_mem_inplace(m, out, lo, hi, beta);
        } else {
            host_run_mem(m, g, out, lo, hi, beta);
        }
        if (j < k) {
            vals[j] = m[hi] + g[hi];
            m[hi]   = compcoll_kept(m[hi], keep);
            out[hi] = 0.0f;
            lo      = hi + 1;
            compcoll_host_nonfinite |= compcoll_nonfinite(m[hi]);
        }
    }
}

static void host_scatter(float *out, const uint32_t *idx, const float *vals,
                         size_t k)
{
    size_t j;

    for (j = 0; j < k; j++) {
        if (j + HOST_PREFETCH_AHEAD < k) {
            __builtin_prefetch(&out[idx[j + HOST_PREFETCH_AHEAD]], 1);
        }
        out[idx[j]] = vals[j];
    }
}

static void host_dense(float *m, const float *g, float *out, size_t n,
                       float beta)
{
    const float keep = 1.0f - beta;
    size_t      i;

    if (m == NULL) {
        if (out != g) {
            memcpy(out, g, n * sizeof(float));
        }
        return;
    }
    if (keep == 0.0f) {
        for (i = 0; i < n; i++) {
            out[i] = m[i] + g[i];
            m[i]   = 0.0f;
        }
        return;
    }
    /* what is kept must be finite: a NaN or infinity goes out now */
    for (i = 0; i < n; i++) {
        const float v = m[i] * keep;

        out[i] = m[i] + g[i];
        m[i]   = compcoll_nonfinite(v) ? 0.0f : v;
    }
}

int compcoll_host_fold_streams(const float *g, const float *out, size_t n)
{
#if defined(__SSE2__)
    return out != g && n * sizeof(float) >= HOST_STREAM_MIN_BYTES &&
           ((uintptr_t)out % sizeof(float)) == 0;
#else
    (void)g;
    (void)out;
    (void)n;
    return 0;
#endif
}

void compcoll_host_fold_range(float *m, const float *g, float *out, size_t lo,
                              size_t hi, int stream)
{
#if defined(__SSE2__)
    if (stream) {
        const __m128 zero = _mm_setzero_ps();
        __m128       bad  = zero;
        size_t       i    = lo;
        int          nf   = 0;

        /* up to the first 16-byte boundary of out, then four at a time */
        for (; i < hi && ((uintptr_t)(out + i) % 16) != 0; i++) {
            m[i] += g[i];
            out[i] = 0.0f;
            nf |= compcoll_nonfinite(m[i]);
        }
        for (; i + 4 <= hi; i += 4) {
            const __m128 a =
                _mm_add_ps(_mm_loadu_ps(m + i), _mm_loadu_ps(g + i));

            _mm_storeu_ps(m + i, a);
            _mm_stream_ps(out + i, zero);
            /* a - a is NaN (unordered, so "not equal" to 0) off the finite */
            bad = _mm_or_ps(bad, _mm_cmpneq_ps(_mm_sub_ps(a, a), zero));
        }
        for (; i < hi; i++) {
            m[i] += g[i];
            out[i] = 0.0f;
            nf |= compcoll_nonfinite(m[i]);
        }
        compcoll_host_nonfinite |= nf | (_mm_movemask_ps(bad) != 0);
        return;
    }
#endif
    /* beta = 1 makes the runs of compress exactly m + g: the same loops */
    if (out == g) {
        host_run_mem_inplace(m, out, lo, hi, 1.0f);
    } else {
        host_run_mem(m, g, out, lo, hi, 1.0f);
    }
}

void compcoll_host_stream_fence(int stream)
{
#if defined(__SSE2__)
    if (stream) {
        _mm_sfence(); /* the streamed zeros before anyone reads out */
    }
#else
    (void)stream;
#endif
}

static void host_fold(float *m, const float *g, float *out, size_t n)
{
    const int stream = compcoll_host_fold_streams(g, out, n);

    compcoll_host_fold_range(m, g, out, 0, n, stream);
    compcoll_host_stream_fence(stream);
}

void compcoll_host_take(float *m, const uint32_t *idx, size_t k, float *vals)
{
    size_t j;

    for (j = 0; j < k; j++) {
        if (j + HOST_PREFETCH_AHEAD < k) {
            __builtin_prefetch(&m[idx[j + HOST_PREFETCH_AHEAD]], 1);
        }
        vals[j]    = m[idx[j]];
        m[idx[j]] = 0.0f;
    }
}

const compcoll_kernel_ops_t compcoll_host_kernels = {
    .name        = "host",
    .select      = compcoll_host_select,
    .compress    = host_compress,
    .scatter     = host_scatter,
    .dense       = host_dense,
    .fold        = host_fold,
    .take        = compcoll_host_take,
    .fold_select = compcoll_host_fold_select,
};
