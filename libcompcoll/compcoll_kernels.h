/*
 * libcompcoll: the kernel-ops interface.
 *
 * One table per memory type.  The host table (kernels_host.c, select_host.c)
 * is the reference: a device implementation must select the same indices bit
 * for bit and produce the same values to float rounding.
 *
 * Throughout, a = m + g is the error-compensated gradient; m may be NULL (a
 * tensor without memory), which reads as zeros and is never written.  The
 * ordering key of an element is the bit pattern of |a| as an unsigned 32-bit
 * integer: it orders finite values by magnitude, puts infinities above them
 * and NaNs above everything, so every selection mode is total and
 * deterministic.  Ties go to the lower index.  Index lists are ascending.
 */
#ifndef COMPCOLL_KERNELS_H
#define COMPCOLL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "compcoll_config.h"
#include "compcoll_status.h"

/* A growable buffer owned by the caller, reused across calls. */
typedef struct {
    void  *ptr;
    size_t size;
} compcoll_buf_t;

void *compcoll_buf_reserve(compcoll_buf_t *buf, size_t bytes);
void  compcoll_buf_release(compcoll_buf_t *buf);

typedef struct {
    compcoll_buf_t cand;   /* selection candidates */
    compcoll_buf_t above;  /* indices surely selected */
    compcoll_buf_t keys;   /* key scratch */
    uint64_t       rng;    /* sampling state */
    uint64_t       sample_fallbacks;
} compcoll_select_scratch_t;

typedef struct compcoll_kernel_ops {
    const char *name;

    /* Leader: k ascending indices of a = m + g into idx (0 < k <= n). */
    compcoll_status_t (*select)(compcoll_select_t mode, const float *m,
                                const float *g, size_t n, size_t k,
                                uint32_t *idx,
                                compcoll_select_scratch_t *scratch);

    /*
     * The fused pass of a sparse call, one sweep over n: for i in idx,
     * vals[j] = a_i and m_i <- (1 - beta) m_i; elsewhere m_i <- m_i + beta g_i;
     * out <- 0 everywhere.  out may alias g (MPI_IN_PLACE).
     */
    void (*compress)(float *m, const float *g, float *out, size_t n,
                     const uint32_t *idx, size_t k, float beta, float *vals);

    /* out[idx[j]] = vals[j] */
    void (*scatter)(float *out, const uint32_t *idx, const float *vals,
                    size_t k);

    /* A dense call (every index sent): out = a; m <- (1 - beta) m. */
    void (*dense)(float *m, const float *g, float *out, size_t n, float beta);
} compcoll_kernel_ops_t;

extern const compcoll_kernel_ops_t compcoll_host_kernels;

/* Exposed for the unit tests and the benchmarks. */
compcoll_status_t compcoll_host_select(compcoll_select_t mode, const float *m,
                                       const float *g, size_t n, size_t k,
                                       uint32_t *idx,
                                       compcoll_select_scratch_t *scratch);

static inline uint32_t compcoll_abs_key(float a)
{
    return compcoll_f32_bits(a) & 0x7fffffffu;
}

#endif
