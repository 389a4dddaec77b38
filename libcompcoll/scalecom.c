/*
 * ScaleCom: cyclic local top-k with low-pass error feedback (DESIGN §2).
 *
 * Per call on communicator c with p ranks, on a tensor of n floats:
 *   leader l = s_c mod p picks k = ceil(n / ratio) indices I from |m_l + g_l|
 *   and broadcasts a header and I; every rank sends a_r[I] = (m_r + g_r)[I]
 *   into a sum over the transport; out = that sum at I and 0 elsewhere;
 *   m_r <- (1 - beta) m_r at I and m_r + beta g_r elsewhere.
 * Decisions that rest on one rank's state (warm-up, memory held) are the
 * leader's, carried in the header; the others validate it before touching
 * memory.
 */
#include <string.h>

#include "compcoll.h"
#include "compcoll_log.h"
#include "compcoll_stats.h"

#define SC_MAGIC 0x31434353u /* "SCC1" */

enum {
    SC_MODE_SPARSE = 1, /* the k indices that follow are the call's I */
    SC_MODE_DENSE  = 2, /* I is every index (warm-up or no memory) */
};

typedef struct {
    uint32_t magic;
    uint8_t  mode;
    uint8_t  select;
    uint8_t  wire;
    uint8_t  reserved;
    uint64_t n;
    uint64_t k;
    uint64_t seq; /* s_c of the call, a check that ranks are in step */
} sc_header_t;

static compcoll_status_t sc_validate(const compcoll_comm_t *cc,
                                     const sc_header_t *h, const uint32_t *idx,
                                     size_t n, size_t k)
{
    size_t j;

    if (h->magic != SC_MAGIC || h->n != n || h->k != k ||
        h->seq != cc->ncalls ||
        (h->mode != SC_MODE_SPARSE && h->mode != SC_MODE_DENSE)) {
        compcoll_error("leader's header for call %llu on communicator %llu "
                       "disagrees with this rank: magic %#x mode %u n %llu "
                       "k %llu call %llu, expected n %zu k %zu call %llu; "
                       "are all ranks making the same MPI_Allreduce calls?",
                       (unsigned long long)cc->ncalls,
                       (unsigned long long)cc->id, h->magic, h->mode,
                       (unsigned long long)h->n, (unsigned long long)h->k,
                       (unsigned long long)h->seq, n, k,
                       (unsigned long long)cc->ncalls);
        return COMPCOLL_ERR_PROTOCOL;
    }
    if (h->mode == SC_MODE_DENSE) {
        return COMPCOLL_OK;
    }
    for (j = 0; j < k; j++) {
        if (idx[j] >= n || (j > 0 && idx[j] <= idx[j - 1])) {
            compcoll_error("leader's index %zu of call %llu is %u: not below "
                           "n=%zu and ascending; refusing to apply it",
                           j, (unsigned long long)cc->ncalls, idx[j], n);
            return COMPCOLL_ERR_PROTOCOL;
        }
    }
    return COMPCOLL_OK;
}

static compcoll_status_t sc_allreduce(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                      const float *g, float *out, size_t n)
{
    const compcoll_config_t     *cfg    = &compcoll_cfg;
    const compcoll_kernel_ops_t *ker    = compcoll_kernels();
    compcoll_tcomm_t            *tc     = cc->tcomm;
    const size_t                 k      = (n + cfg->ratio - 1) / cfg->ratio;
    const int                    leader = (int)(cc->ncalls % (uint64_t)cc->size);
    const size_t                 bytes  = sizeof(sc_header_t) + k * sizeof(uint32_t);
    const float                  beta   = (float)cfg->beta;
    compcoll_status_t            status;
    sc_header_t                 *h;
    uint32_t                    *idx;
    float                       *vals;
    uint64_t                     sent0 = tc->bytes_sent;
    double                       t0;

    h    = compcoll_buf_reserve(&cc->msg, bytes);
    vals = compcoll_buf_reserve(&cc->vals, k * sizeof(float));
    if (h == NULL || vals == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    idx = (uint32_t *)(h + 1);

    if (cc->rank == leader) {
        memset(h, 0, sizeof(*h));
        h->magic  = SC_MAGIC;
        h->select = (uint8_t)cfg->select;
        h->wire   = (uint8_t)cfg->wire;
        h->n      = n;
        h->k      = k;
        h->seq    = cc->ncalls;
        h->mode   = (t->calls < cfg->warmup || t->mem == NULL) ? SC_MODE_DENSE
                                                                : SC_MODE_SPARSE;
        if (h->mode == SC_MODE_SPARSE) {
            t0     = compcoll_time();
            status = ker->select(cfg->select, t->mem, g, n, k, idx,
                                 compcoll_select_scratch());
            compcoll_stats.time_select += compcoll_time() - t0;
            if (status != COMPCOLL_OK) {
                compcoll_error("index selection failed: %s",
                               compcoll_status_string(status));
                return status;
            }
        } else {
            memset(idx, 0, k * sizeof(uint32_t));
        }
    }

    t0     = compcoll_time();
    status = tc->ops->bcast(tc, h, bytes, leader);
    compcoll_stats.time_comm += compcoll_time() - t0;
    if (status != COMPCOLL_OK) {
        return status;
    }
    if (cc->rank != leader) {
        status = sc_validate(cc, h, idx, n, k);
        if (status != COMPCOLL_OK) {
            return status;
        }
    }
    compcoll_trace("allreduce count=%zu comm=%llu call=%llu: scalecom %s "
                   "k=%zu leader=%d", n, (unsigned long long)cc->id,
                   (unsigned long long)cc->ncalls,
                   h->mode == SC_MODE_SPARSE ? "sparse" : "dense", k, leader);
    cc->ncalls++;
    t->calls++;
    if (t->stats != NULL) {
        t->stats->calls++;
    }
    compcoll_stats.elements_in += n;
    compcoll_stats.bytes_dense +=
        2 * (uint64_t)(cc->size - 1) * n * sizeof(float) / (uint64_t)cc->size;

    if (h->mode == SC_MODE_DENSE) {
        t0 = compcoll_time();
        ker->dense(t->mem, g, out, n, beta);
        compcoll_stats.time_host += compcoll_time() - t0;
        t0     = compcoll_time();
        status = tc->ops->allreduce(tc, out, n, COMPCOLL_WIRE_FP32);
        compcoll_stats.time_comm += compcoll_time() - t0;
        compcoll_stats.calls_dense++;
        compcoll_stats.elements_sent += n;
    } else {
        if (t->mem == NULL) {
            compcoll_warn_once("a tensor of %zu elements has no error-feedback "
                               "memory on this rank (COMPCOLL_MAX_MEMORY): "
                               "what it does not send is discarded", n);
            compcoll_stats.calls_no_memory++;
        }
        t0 = compcoll_time();
        ker->compress(t->mem, g, out, n, idx, k, beta, vals);
        compcoll_stats.time_host += compcoll_time() - t0;
        t0     = compcoll_time();
        status = tc->ops->allreduce(tc, vals, k, (compcoll_wire_t)cfg->wire);
        compcoll_stats.time_comm += compcoll_time() - t0;
        t0 = compcoll_time();
        ker->scatter(out, idx, vals, k);
        compcoll_stats.time_host += compcoll_time() - t0;
        compcoll_stats.calls_compressed++;
        compcoll_stats.elements_sent += k;
    }
    compcoll_stats.bytes_sent += tc->bytes_sent - sent0;
    return status;
}

const compcoll_method_t compcoll_method_scalecom = {
    .id          = COMPCOLL_METHOD_SCALECOM,
    .name        = "scalecom",
    .description = "cyclic local top-k with low-pass error feedback",
    .allreduce   = sc_allreduce,
};
