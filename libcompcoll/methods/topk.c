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
 * Stream of a rank: k uint32 indices, then k values in the wire type.  The
 * ranks' k can differ: during COMPCOLL_RAMP a rank's k follows its own count
 * of the tensor's calls, which ranks whose buffers are keyed apart see
 * differently.
 */
#include <string.h>

#include "compcoll_exchange.h"
#include "compcoll_fail.h"
#include "compcoll_log.h"
#include "compcoll_stats.h"

/* One call's state, as its steps share it. */
typedef struct {
    compcoll_comm_t   *cc;
    compcoll_tensor_t *t;
    size_t             n, k;
    size_t             kcap;  /* the most any rank's k can be: k, or the
                               * ramp's first k */
    compcoll_wire_t    wire;
    size_t             bytes; /* a rank's stream */
    uint32_t          *idx;   /* this rank's stream: k indices, k values;
                               * then room for kcap indices */
    float             *vals;  /* kcap */
} topk_call_t;

/* This rank's buffers and selection (which leaves m alone), before the
 * agreement, so that a rank that cannot make them says so there. */
static compcoll_status_t topk_select(topk_call_t *c, const float *g)
{
    const compcoll_config_t *cfg = &compcoll_cfg;
    compcoll_status_t        local;
    double                   t0;

    /* room for every rank's stream as topk_sum reads it */
    c->kcap = cfg->ramp > 0 ? compcoll_k_max(c->n) : c->k;
    local   = compcoll_fault(c->cc, COMPCOLL_FAULT_ALLOC);
    c->idx  = compcoll_buf_reserve(&c->cc->msg,
                                   c->bytes > c->kcap * sizeof(uint32_t)
                                       ? c->bytes
                                       : c->kcap * sizeof(uint32_t));
    c->vals = compcoll_buf_reserve(&c->cc->vals, c->kcap * sizeof(float));
    if (c->idx == NULL || c->vals == NULL) {
        compcoll_error("no memory for the buffers of a call of %zu elements",
                       c->n);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    if (local != COMPCOLL_OK) {
        return local;
    }
    t0    = compcoll_time();
    local = compcoll_fault(c->cc, COMPCOLL_FAULT_KERNEL);
    if (local == COMPCOLL_OK) {
        compcoll_select_scratch_t *scratch = compcoll_select_scratch();
        const uint64_t             fb      = scratch->sample_fallbacks;

        local = compcoll_kernels()->select((compcoll_select_t)cfg->select,
                                           c->t->mem, g, c->n, c->k, c->idx,
                                           scratch);
        compcoll_stats.select_fallbacks += scratch->sample_fallbacks - fb;
    }
    compcoll_stats.time_select += compcoll_time() - t0;
    if (local != COMPCOLL_OK) {
        compcoll_error("index selection failed: %s",
                       compcoll_status_string(local));
    }
    return local;
}

/* This rank's stream: vals = a at idx, encoded after the indices; m keeps
 * everything else (beta = 1) and, with a 16-bit wire, the rounding of what
 * was sent. */
static void topk_compress(topk_call_t *c, const float *g, float *out)
{
    const size_t wsize = compcoll_wire_size(c->wire);
    float       *mem   = c->t->mem;
    double       t0    = compcoll_time();
    size_t       j;

    compcoll_kernels()->compress(mem, g, out, c->n, c->idx, c->k, 1.0f,
                                 c->vals);
    compcoll_wire_encode(c->wire, c->idx + c->k, c->vals, c->k);
    if (c->wire != COMPCOLL_WIRE_FP32) {
        float *sent = c->vals; /* reuse: decode in place after encoding */

        for (j = 0; j < c->k; j++) {
            float a = c->vals[j];

            compcoll_wire_decode(c->wire, &sent[j],
                                 (char *)(c->idx + c->k) + j * wsize, 1);
            /* a NaN or infinity went out as it is: nothing to keep */
            mem[c->idx[j]] = compcoll_nonfinite(a - sent[j]) ? 0.0f
                                                             : a - sent[j];
        }
    }
    compcoll_stats.time_host += compcoll_time() - t0;
}

/* Every rank's stream (all: in rank order, counts[r] bytes each) added
 * into out, in rank order, each checked first: at most kcap elements,
 * indices below n and ascending. */
static compcoll_status_t topk_sum(topk_call_t *c, const void *all,
                                  const size_t *counts, float *out)
{
    const size_t unit = sizeof(uint32_t) + compcoll_wire_size(c->wire);
    const char  *rs   = all;
    uint32_t    *ri   = c->idx; /* this rank's stream is sent: free */
    double       t0   = compcoll_time();
    size_t       j;
    int          r;

    for (r = 0; r < c->cc->size; rs += counts[r++]) {
        /* a stream can start anywhere (16-bit values, odd k): its indices
         * are copied out before they are read */
        const size_t k = counts[r] / unit;

        if (k > c->kcap) {
            compcoll_error("rank %d sends %zu top-k elements of a call of "
                           "%zu, more than any rank's k (%zu); refusing "
                           "them", r, k, c->n, c->kcap);
            return COMPCOLL_ERR_PROTOCOL;
        }
        memcpy(ri, rs, k * sizeof(uint32_t));
        for (j = 0; j < k; j++) {
            if (ri[j] >= c->n || (j > 0 && ri[j] <= ri[j - 1])) {
                compcoll_error("rank %d's top-k index %zu is %u: not below "
                               "n=%zu and ascending; refusing it", r, j, ri[j],
                               c->n);
                return COMPCOLL_ERR_PROTOCOL;
            }
        }
        compcoll_wire_decode(c->wire, c->vals, rs + k * sizeof(uint32_t), k);
        for (j = 0; j < k; j++) {
            out[ri[j]] += c->vals[j];
        }
    }
    compcoll_stats.time_host += compcoll_time() - t0;
    return COMPCOLL_OK;
}

static compcoll_status_t topk_allreduce(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                        const float *g, float *out, size_t n)
{
    const compcoll_config_t *cfg   = &compcoll_cfg;
    const uint64_t           sent0 = cc->tcomm->bytes_sent;
    const int want_dense = t->calls < cfg->warmup || t->mem == NULL ||
                           t->dense_next;
    topk_call_t       c;
    const size_t     *counts;
    compcoll_status_t status, local = COMPCOLL_OK;
    void             *all;
    size_t            unit;
    int               dense, r;

    memset(&c, 0, sizeof(c));
    c.cc    = cc;
    c.t     = t;
    c.n     = n;
    c.k     = compcoll_tensor_k(t, n);
    c.wire  = (compcoll_wire_t)cfg->wire;
    c.bytes = c.k * (sizeof(uint32_t) + compcoll_wire_size(c.wire));
    if (!want_dense) { /* a rank that wants a dense call makes one */
        local = topk_select(&c, g);
    } else {
        local = compcoll_fault(cc, COMPCOLL_FAULT_ALLOC);
    }
    status = compcoll_xchg_agree(cc, want_dense, c.bytes, local, &dense,
                                 &counts);
    if (status != COMPCOLL_OK) {
        return status;
    }
    compcoll_trace("allreduce count=%zu comm=%llu call=%llu: topk %s k=%zu",
                   n, (unsigned long long)cc->id,
                   (unsigned long long)cc->ncalls, dense ? "dense" : "sparse",
                   c.k);
    if (dense) {
        status = compcoll_xchg_dense(cc, t, g, out, n);
        compcoll_xchg_account(cc, t, n, sent0);
        return status;
    }
    /* what every rank sees alike (a stream longer than this rank's kcap
     * is refused after the exchange, which every rank makes) */
    unit = sizeof(uint32_t) + compcoll_wire_size(c.wire);
    for (r = 0; r < cc->size; r++) {
        if (counts[r] % unit != 0 || counts[r] == 0) {
            compcoll_error("rank %d sends a top-k stream of %zu bytes, not "
                           "a whole number of %zu-byte elements: are all "
                           "ranks making the same MPI_Allreduce calls?", r,
                           counts[r], unit);
            return COMPCOLL_ERR_PROTOCOL; /* seen alike by every rank */
        }
    }
    topk_compress(&c, g, out);
    /* a check of this rank's own that fails still makes the exchange */
    local  = compcoll_fault(cc, COMPCOLL_FAULT_VALIDATE);
    status = compcoll_xchg_gather(cc, c.idx, counts, &all);
    if (status != COMPCOLL_OK || local != COMPCOLL_OK) {
        return local != COMPCOLL_OK ? local : status;
    }
    if (compcoll_fault(cc, COMPCOLL_FAULT_DECODE) != COMPCOLL_OK) {
        return COMPCOLL_ERR_PROTOCOL;
    }
    status = topk_sum(&c, all, counts, out);
    if (status != COMPCOLL_OK) {
        return status;
    }
    compcoll_stats.calls_compressed++;
    compcoll_stats.elements_sent += c.k;
    compcoll_xchg_account(cc, t, n, sent0);
    return COMPCOLL_OK;
}

const compcoll_method_t compcoll_method_topk = {
    .id          = COMPCOLL_METHOD_TOPK,
    .name        = "topk",
    .description = "local top-k with classic error feedback, allgatherv",
    .allreduce   = topk_allreduce,
};
