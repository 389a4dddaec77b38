/*
 * topk: local top-k with classic error feedback, the baseline of DGC and
 * GRACE without their extras.  Every rank picks the k = ceil(n / ratio)
 * largest |a| of its own a = m + g (COMPCOLL_SELECT decides how), sends them
 * as (index, value) pairs, and keeps exactly what it did not send:
 * m <- a - C(a), where C(a) holds the values as decoded from the wire, so
 * fp16/bf16 rounding is kept in the memory too.
 *
 * Ranks choose different indices, so the pairs are exchanged by an
 * allgatherv: the bytes each rank receives, and the ring's bytes each rank
 * sends, grow with the number of ranks (the gradient build-up ScaleCom's
 * shared indices avoid).  Every rank adds the streams into out in rank
 * order: all ranks get the same bits.
 *
 * Stream of a rank: k uint32 indices, then k values in the wire type.
 */
#include <string.h>

#include "compcoll_exchange.h"
#include "compcoll_fail.h"
#include "compcoll_log.h"
#include "compcoll_stats.h"

static compcoll_status_t topk_allreduce(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                        const float *g, float *out, size_t n)
{
    const compcoll_config_t     *cfg   = &compcoll_cfg;
    const compcoll_kernel_ops_t *ker   = compcoll_kernels();
    const compcoll_wire_t        wire  = (compcoll_wire_t)cfg->wire;
    const size_t                 k     = compcoll_tensor_k(t, n);
    const size_t                 wsize = compcoll_wire_size(wire);
    const size_t                 bytes = k * (sizeof(uint32_t) + wsize);
    uint64_t                     sent0 = cc->tcomm->bytes_sent;
    const size_t                *counts;
    compcoll_status_t            status;
    uint32_t                    *idx;
    float                       *vals;
    void                        *all;
    int                          dense, r;
    size_t                       j;
    double                       t0;

    const int                    want_dense = t->calls < cfg->warmup ||
                                              t->mem == NULL ||
                                              t->dense_next;
    compcoll_status_t            local;

    /* the selection (which leaves m alone) before step 1, so that a rank
     * that cannot make it says so there */
    local = compcoll_fault(cc, COMPCOLL_FAULT_ALLOC);
    idx   = NULL;
    vals  = NULL;
    if (!want_dense) { /* a rank that wants a dense call makes one */
        idx  = compcoll_buf_reserve(&cc->msg, bytes);
        vals = compcoll_buf_reserve(&cc->vals, k * sizeof(float));
        if (idx == NULL || vals == NULL) {
            compcoll_error("no memory for the buffers of a call of %zu "
                           "elements", n);
            local = COMPCOLL_ERR_NO_MEMORY;
        }
    }
    if (!want_dense && local == COMPCOLL_OK) {
        t0    = compcoll_time();
        local = compcoll_fault(cc, COMPCOLL_FAULT_KERNEL);
        if (local == COMPCOLL_OK) {
            local = ker->select((compcoll_select_t)cfg->select, t->mem, g, n,
                                k, idx, compcoll_select_scratch());
        }
        compcoll_stats.time_select += compcoll_time() - t0;
        if (local != COMPCOLL_OK) {
            compcoll_error("index selection failed: %s",
                           compcoll_status_string(local));
        }
    }
    status = compcoll_xchg_agree(cc, want_dense, bytes, local, &dense,
                                 &counts);
    if (status != COMPCOLL_OK) {
        return status;
    }
    compcoll_trace("allreduce count=%zu comm=%llu call=%llu: topk %s k=%zu",
                   n, (unsigned long long)cc->id,
                   (unsigned long long)cc->ncalls, dense ? "dense" : "sparse",
                   k);
    if (dense) {
        status = compcoll_xchg_dense(cc, t, g, out, n);
        compcoll_xchg_account(cc, t, n, sent0);
        return status;
    }
    for (r = 0; r < cc->size; r++) {
        if (counts[r] != bytes) {
            compcoll_error("rank %d sends a top-k stream of %zu bytes, this "
                           "rank expects %zu: are all ranks making the same "
                           "MPI_Allreduce calls?", r, counts[r], bytes);
            return COMPCOLL_ERR_PROTOCOL; /* seen alike by every rank */
        }
    }
    t0 = compcoll_time();
    /* beta = 1: m <- m + g off the selection, 0 on it; vals = a at idx. */
    ker->compress(t->mem, g, out, n, idx, k, 1.0f, vals);
    /* Send what the wire can carry and keep the rounding in the memory. */
    compcoll_wire_encode(wire, idx + k, vals, k);
    if (wire != COMPCOLL_WIRE_FP32) {
        float *sent = vals; /* reuse: decode in place after encoding */

        for (j = 0; j < k; j++) {
            float a = vals[j];

            compcoll_wire_decode(wire, &sent[j], (char *)(idx + k) + j * wsize,
                                 1);
            /* a NaN or infinity went out as it is: nothing to keep */
            t->mem[idx[j]] = compcoll_nonfinite(a - sent[j]) ? 0.0f
                                                             : a - sent[j];
        }
    }
    compcoll_stats.time_host += compcoll_time() - t0;

    /* a check of this rank's own that fails still makes the exchange */
    local  = compcoll_fault(cc, COMPCOLL_FAULT_VALIDATE);
    status = compcoll_xchg_gather(cc, idx, counts, &all);
    if (status != COMPCOLL_OK || local != COMPCOLL_OK) {
        return local != COMPCOLL_OK ? local : status;
    }
    if (compcoll_fault(cc, COMPCOLL_FAULT_DECODE) != COMPCOLL_OK) {
        return COMPCOLL_ERR_PROTOCOL;
    }
    t0 = compcoll_time();
    for (r = 0; r < cc->size; r++) {
        /* rank r's stream starts r * bytes in: with 16-bit values and an odd
         * k that is no multiple of 4, so its indices are copied out (into
         * this rank's own, sent already) before they are read */
        const char     *rs = (const char *)all + (size_t)r * bytes;
        const void     *rv = rs + k * sizeof(uint32_t);
        const uint32_t *ri = idx;

        memcpy(idx, rs, k * sizeof(uint32_t));
        for (j = 0; j < k; j++) {
            if (ri[j] >= n || (j > 0 && ri[j] <= ri[j - 1])) {
                compcoll_error("rank %d's top-k index %zu is %u: not below "
                               "n=%zu and ascending; refusing it", r, j, ri[j],
                               n);
                return COMPCOLL_ERR_PROTOCOL;
            }
        }
        compcoll_wire_decode(wire, vals, rv, k);
        for (j = 0; j < k; j++) {
            out[ri[j]] += vals[j];
        }
    }
    compcoll_stats.time_host += compcoll_time() - t0;
    compcoll_stats.calls_compressed++;
    compcoll_stats.elements_sent += k;
    compcoll_xchg_account(cc, t, n, sent0);
    return COMPCOLL_OK;
}

const compcoll_method_t compcoll_method_topk = {
    .id          = COMPCOLL_METHOD_TOPK,
    .name        = "topk",
    .description = "local top-k with classic error feedback, allgatherv",
    .allreduce   = topk_allreduce,
};
