/*
 * adacomp: AdaComp (Chen et al., AAAI 2018), bin-local residual selection
 * with ternary values.  Per tensor and rank, with residue R and gradient g:
 *
 *   G = R + g,  H = G + g;  the tensor is cut into bins of L elements;
 *   in each bin every element with |H_i| >= max_bin |G| is sent, as its
 *   index and the sign of G_i, with one scale per tensor and rank: the mean
 *   over bins of max_bin |G|;  R <- G - sent.
 *
 * L is COMPCOLL_ADACOMP_BIN, or with auto 50 for tensors below 65536
 * elements and 500 from there on: the paper used about 50 for convolution
 * kernels and 500 for fully-connected matrices, and a tensor's size stands
 * in for its kind.
 *
 * Ranks select different indices: the streams go by allgatherv and every
 * rank adds them into out in rank order (same bits everywhere).  Stream of
 * a rank: the scale (float), then one uint32 per element, its index with
 * the sign in bit 31.
 *
 * The selection reads R and g without writing: R changes only once every
 * rank has agreed that the call is sparse (see compcoll_exchange.h).
 */
#include <math.h>
#include <string.h>

#include "compcoll_exchange.h"
#include "compcoll_fail.h"
#include "compcoll_log.h"
#include "compcoll_stats.h"

#define ADA_SIGN       0x80000000u
#define ADA_AUTO_SPLIT 65536

static size_t ada_bin(size_t n)
{
    if (compcoll_cfg.adacomp_bin != 0) {
        return compcoll_cfg.adacomp_bin;
    }
    return (n < ADA_AUTO_SPLIT) ? 50 : 500;
}

/* Build this rank's stream; returns its size in bytes, or 0 when some
 * G = R + g is a NaN or an infinity (no scale can carry it: the call is
 * then summed densely, which delivers it and empties R). */
static size_t ada_select(const float *R, const float *g, size_t n, size_t bin,
                         float *bmax, unsigned char *stream)
{
    const size_t nbins = (n + bin - 1) / bin;
    uint32_t    *ent   = (uint32_t *)(stream + sizeof(float));
    double       sum   = 0.0;
    size_t       b, i, c = 0;
    float        scale;

    for (b = 0; b < nbins; b++) {
        size_t hi = (b + 1) * bin < n ? (b + 1) * bin : n;
        float  m  = 0.0f;

        for (i = b * bin; i < hi; i++) {
            float ag = fabsf(R[i] + g[i]);

            m = ag > m ? ag : m;
            if (compcoll_nonfinite(ag)) {
                return 0;
            }
        }
        bmax[b] = m;
        sum += m;
    }
    scale = (float)(sum / (double)nbins);
    memcpy(stream, &scale, sizeof(scale));
    for (b = 0; b < nbins; b++) {
        size_t hi = (b + 1) * bin < n ? (b + 1) * bin : n;

        for (i = b * bin; i < hi; i++) {
            float G = R[i] + g[i];

            if (fabsf(G + g[i]) >= bmax[b]) {
                ent[c++] = (uint32_t)i | (signbit(G) ? ADA_SIGN : 0u);
            }
        }
    }
    return sizeof(float) + c * sizeof(uint32_t);
}

/* This rank's stream (its buffers and selection), before the agreement, so
 * that a rank that cannot make it says so there: *bytes its size, 0 with a
 * NaN or an infinity in a, which turns the call dense (*want_dense). */
static compcoll_status_t ada_stream(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                    const float *g, size_t n, size_t bin,
                                    unsigned char **stream, size_t *bytes,
                                    int *want_dense)
{
    compcoll_status_t local = compcoll_fault(cc, COMPCOLL_FAULT_ALLOC);
    float            *bmax;
    double            t0;

    if (local != COMPCOLL_OK) {
        return local;
    }
    *stream = compcoll_buf_reserve(&cc->msg,
                                   sizeof(float) + n * sizeof(uint32_t));
    bmax = compcoll_buf_reserve(&cc->vals,
                                ((n + bin - 1) / bin) * sizeof(float));
    if (*stream == NULL || bmax == NULL) {
        compcoll_error("no memory for the buffers of a call of %zu elements",
                       n);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    local = compcoll_fault(cc, COMPCOLL_FAULT_KERNEL);
    if (local != COMPCOLL_OK) {
        return local;
    }
    t0     = compcoll_time();
    *bytes = ada_select(t->mem, g, n, bin, bmax, *stream);
    compcoll_stats.time_select += compcoll_time() - t0;
    if (*bytes == 0) {
        compcoll_warn_once("a NaN or an infinity in a gradient of %zu "
                           "elements (adacomp): such calls are summed "
                           "densely", n);
        *want_dense = 1;
    }
    return COMPCOLL_OK;
}

/* R <- G - sent: G = R + g everywhere, then this rank's stream off. */
static void ada_keep(float *R, const float *g, size_t n,
                     const unsigned char *stream, size_t bytes)
{
    const uint32_t *ent = (const uint32_t *)(stream + sizeof(float));
    const size_t    c   = (bytes - sizeof(float)) / sizeof(uint32_t);
    float           scale;
    size_t          j;

    memcpy(&scale, stream, sizeof(scale));
    for (j = 0; j < n; j++) {
        R[j] += g[j];
    }
    for (j = 0; j < c; j++) {
        uint32_t i = ent[j] & ~ADA_SIGN;

        R[i] -= (ent[j] & ADA_SIGN) ? -scale : scale;
    }
}

/* out = every rank's stream (all: in rank order, counts[r] bytes each)
 * added in rank order, each index checked first: below n, ascending. */
static compcoll_status_t ada_sum(const compcoll_comm_t *cc, const void *all,
                                 const size_t *counts, float *out, size_t n)
{
    size_t off, j;
    int    r;

    memset(out, 0, n * sizeof(float));
    for (r = 0, off = 0; r < cc->size; off += counts[r], r++) {
        const unsigned char *s   = (const unsigned char *)all + off;
        const uint32_t      *ent = (const uint32_t *)(s + sizeof(float));
        size_t               cr  = (counts[r] - sizeof(float)) / sizeof(uint32_t);
        float                sr;

        memcpy(&sr, s, sizeof(sr));
        for (j = 0; j < cr; j++) {
            uint32_t i = ent[j] & ~ADA_SIGN;

            if (i >= n || (j > 0 && i <= (ent[j - 1] & ~ADA_SIGN))) {
                compcoll_error("rank %d's AdaComp index %zu is %u: not below "
                               "n=%zu and ascending; refusing it", r, j, i, n);
                return COMPCOLL_ERR_PROTOCOL;
            }
            out[i] += (ent[j] & ADA_SIGN) ? -sr : sr;
        }
    }
    return COMPCOLL_OK;
}

static compcoll_status_t ada_allreduce(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                       const float *g, float *out, size_t n)
{
    const size_t       bin       = ada_bin(n);
    int                want_dense = t->calls < compcoll_cfg.warmup ||
                                    t->mem == NULL || t->dense_next;
    uint64_t           sent0     = cc->tcomm->bytes_sent;
    unsigned char     *stream    = NULL;
    const size_t      *counts;
    compcoll_status_t  status, local;
    size_t             bytes = 0;
    void              *all;
    int                dense, r;
    double             t0;

    local = want_dense ? compcoll_fault(cc, COMPCOLL_FAULT_ALLOC)
                       : ada_stream(cc, t, g, n, bin, &stream, &bytes,
                                    &want_dense);
    status = compcoll_xchg_agree(cc, want_dense, bytes, local, &dense,
                                 &counts);
    if (status != COMPCOLL_OK) {
        return status;
    }
    compcoll_trace("allreduce count=%zu comm=%llu call=%llu: adacomp %s "
                   "bin=%zu sends=%zu", n, (unsigned long long)cc->id,
                   (unsigned long long)cc->ncalls, dense ? "dense" : "sparse",
                   bin, bytes ? (bytes - sizeof(float)) / 4 : 0);
    if (dense) {
        status = compcoll_xchg_dense(cc, t, g, out, n);
        compcoll_xchg_account(cc, t, n, sent0);
        return status;
    }
    for (r = 0; r < cc->size; r++) {
        if (counts[r] < sizeof(float) ||
            (counts[r] - sizeof(float)) % sizeof(uint32_t) != 0 ||
            (counts[r] - sizeof(float)) / sizeof(uint32_t) > n) {
            compcoll_error("rank %d sends an AdaComp stream of %zu bytes, "
                           "not one for %zu elements: are all ranks making "
                           "the same MPI_Allreduce calls?", r, counts[r], n);
            return COMPCOLL_ERR_PROTOCOL; /* seen alike by every rank */
        }
    }
    /* a check of this rank's own that fails still makes the exchange */
    local  = compcoll_fault(cc, COMPCOLL_FAULT_VALIDATE);
    status = compcoll_xchg_gather(cc, stream, counts, &all);
    if (status != COMPCOLL_OK || local != COMPCOLL_OK) {
        return local != COMPCOLL_OK ? local : status;
    }
    if (compcoll_fault(cc, COMPCOLL_FAULT_DECODE) != COMPCOLL_OK) {
        return COMPCOLL_ERR_PROTOCOL;
    }
    t0 = compcoll_time();
    ada_keep(t->mem, g, n, stream, bytes);
    status = ada_sum(cc, all, counts, out, n);
    compcoll_stats.time_host += compcoll_time() - t0;
    if (status != COMPCOLL_OK) {
        return status;
    }
    compcoll_stats.calls_compressed++;
    compcoll_stats.elements_sent += (bytes - sizeof(float)) / sizeof(uint32_t);
    compcoll_xchg_account(cc, t, n, sent0);
    return COMPCOLL_OK;
}

const compcoll_method_t compcoll_method_adacomp = {
    .id          = COMPCOLL_METHOD_ADACOMP,
    .name        = "adacomp",
    .description = "AdaComp bin-local residual selection, ternary values",
    .allreduce   = ada_allreduce,
};
