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
#include <stdlib.h>
#include <string.h>

#include "compcoll.h"
#include "compcoll_icode.h"
#include "compcoll_log.h"
#include "compcoll_memtype.h"
#include "compcoll_stats.h"

#define SC_MAGIC 0x32434353u /* "SCC2" */

enum {
    SC_MODE_SPARSE = 1, /* the k indices that follow are the call's I */
    SC_MODE_DENSE  = 2, /* I is every index (warm-up or no memory) */
    SC_MODE_ABORT  = 3, /* the leader could not select: every rank fails */
};

typedef struct {
    uint32_t magic;
    uint8_t  mode;
    uint8_t  select;
    uint8_t  wire;
    uint8_t  coding; /* compcoll_icode_t; 0 unless SC_MODE_SPARSE */
    uint64_t n;
    uint64_t k;
    uint64_t seq;    /* s_c of the call, a check that ranks are in step */
    uint64_t ibytes; /* bytes of coded indices that follow */
} sc_header_t;

/* The others: the leader's coded indices into idx, or an error naming what
 * was wrong with them. */
static compcoll_status_t sc_decode(const compcoll_comm_t *cc,
                                   const sc_header_t *h, const uint8_t *code,
                                   size_t n, size_t k, uint32_t *idx)
{
    size_t      at;
    const char *why = compcoll_icode_decode((compcoll_icode_t)h->coding, code,
                                            (size_t)h->ibytes, n, k, idx, &at);

    if (why != NULL) {
        compcoll_error("leader's indices of call %llu on communicator %llu "
                       "are malformed at index %zu of %zu (%s; %llu bytes); "
                       "refusing to apply them",
                       (unsigned long long)cc->ncalls,
                       (unsigned long long)cc->id, at, k, why,
                       (unsigned long long)h->ibytes);
        return COMPCOLL_ERR_PROTOCOL;
    }
    return COMPCOLL_OK;
}

static compcoll_status_t sc_validate(const compcoll_comm_t *cc,
                                     const sc_header_t *h, size_t n, size_t k)
{
    const int sparse = (h->mode == SC_MODE_SPARSE);

    if (h->magic != SC_MAGIC || h->n != n || h->k != k ||
        h->seq != cc->ncalls ||
        (!sparse && h->mode != SC_MODE_DENSE && h->mode != SC_MODE_ABORT) ||
        (sparse && h->coding != COMPCOLL_ICODE_GAP &&
         h->coding != COMPCOLL_ICODE_CHUNK) ||
        (sparse ? (h->ibytes < k ||
                   h->ibytes > COMPCOLL_ICODE_MAX * (uint64_t)k)
                : h->ibytes != 0)) {
        compcoll_error("leader's header for call %llu on communicator %llu "
                       "disagrees with this rank: magic %#x mode %u n %llu "
                       "k %llu call %llu coding %u (%llu bytes), expected "
                       "n %zu k %zu call %llu; are all ranks making the same "
                       "MPI_Allreduce calls?",
                       (unsigned long long)cc->ncalls,
                       (unsigned long long)cc->id, h->magic, h->mode,
                       (unsigned long long)h->n, (unsigned long long)h->k,
                       (unsigned long long)h->seq, h->coding,
                       (unsigned long long)h->ibytes, n, k,
                       (unsigned long long)cc->ncalls);
        return COMPCOLL_ERR_PROTOCOL;
    }
    return COMPCOLL_OK;
}

/* Every rank, after a header in SC_MODE_ABORT: the call fails, in step. */
static compcoll_status_t sc_abort(compcoll_comm_t *cc, int leader)
{
    compcoll_error("the leader (rank %d) of call %llu on communicator %llu "
                   "could not select its indices; the call fails on every "
                   "rank", leader, (unsigned long long)cc->ncalls,
                   (unsigned long long)cc->id);
    cc->ncalls++;
    return COMPCOLL_ERR_PROTOCOL;
}

/* The leader's header: dense while its tensor warms up or has no memory
 * (`has_mem`: the memory of the path that runs), sparse otherwise. */
static void sc_header_fill(const compcoll_comm_t *cc,
                           const compcoll_tensor_t *t, int has_mem,
                           sc_header_t *h, size_t n, size_t k)
{
    const compcoll_config_t *cfg = &compcoll_cfg;

    memset(h, 0, sizeof(*h));
    h->magic  = SC_MAGIC;
    h->select = (uint8_t)cfg->select;
    h->wire   = (uint8_t)cfg->wire;
    h->n      = n;
    h->k      = k;
    h->seq    = cc->ncalls;
    h->mode   = (t->calls < cfg->warmup || !has_mem) ? SC_MODE_DENSE
                                                     : SC_MODE_SPARSE;
}

/*
 * The header, then the coded indices, from the leader; the others check the
 * header and decode the indices into idx (the leader's own, for a sparse
 * call), coded as compcoll_icode.h says; code has room for
 * COMPCOLL_ICODE_MAX k bytes.  A failure here is this
 * rank's (transport, protocol) or every rank's alike (the leader's abort);
 * the call goes no further.
 */
static compcoll_status_t sc_header_bcast(compcoll_comm_t *cc, sc_header_t *h,
                                         uint32_t *idx, uint8_t *code,
                                         size_t n, size_t k, int leader)
{
    compcoll_tcomm_t *tc = cc->tcomm;
    compcoll_status_t status;
    double            t0;

    if (cc->rank == leader && h->mode == SC_MODE_SPARSE) {
        compcoll_icode_t coding;

        t0        = compcoll_time();
        h->ibytes = compcoll_icode_encode(h->select == COMPCOLL_SELECT_CHUNK,
                                          idx, n, k, code, &coding);
        h->coding = (uint8_t)coding;
        compcoll_stats.time_host += compcoll_time() - t0;
    }
    t0     = compcoll_time();
    status = tc->ops->bcast(tc, h, sizeof(*h), leader);
    compcoll_stats.time_comm += compcoll_time() - t0;
    if (status != COMPCOLL_OK) {
        return status;
    }
    if (cc->rank != leader) {
        status = sc_validate(cc, h, n, k);
        if (status != COMPCOLL_OK) {
            return status;
        }
    }
    if (h->mode == SC_MODE_ABORT) {
        return sc_abort(cc, leader); /* the leader could not select */
    }
    if (h->mode != SC_MODE_SPARSE) {
        return COMPCOLL_OK;
    }
    t0     = compcoll_time();
    status = tc->ops->bcast(tc, code, (size_t)h->ibytes, leader);
    compcoll_stats.time_comm += compcoll_time() - t0;
    if (status != COMPCOLL_OK || cc->rank == leader) {
        return status;
    }
    t0     = compcoll_time();
    status = sc_decode(cc, h, code, n, k, idx);
    compcoll_stats.time_host += compcoll_time() - t0;
    return status;
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
    uint8_t                     *code;
    float                       *vals;
    uint64_t                     sent0 = tc->bytes_sent;
    double                       t0;
    /*
     * With beta = 1 the pass over n needs no indices (compcoll_kernels.h:
     * fold, take): every rank makes it before the header arrives, the
     * leader fused with its selection and take (fold_select), so the
     * others' pass runs while the leader selects.  Whether the call will
     * be sparse is the leader's to say; a rank that folded for a call that
     * turns out dense moves a from m to out instead.
     */
    const int fold = (beta == 1.0f && t->mem != NULL && ker->fold != NULL &&
                      t->calls >= cfg->warmup);

    h    = compcoll_buf_reserve(&cc->msg, bytes);
    code = compcoll_buf_reserve(&cc->icode, COMPCOLL_ICODE_MAX * k);
    vals = compcoll_buf_reserve(&cc->vals, k * sizeof(float));
    if (h == NULL || code == NULL || vals == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    idx = (uint32_t *)(h + 1);

    if (fold && cc->rank != leader) {
        t0 = compcoll_time();
        ker->fold(t->mem, g, out, n);
        compcoll_stats.time_host += compcoll_time() - t0;
    }
    if (cc->rank == leader) {
        sc_header_fill(cc, t, t->mem != NULL, h, n, k);
        if (h->mode == SC_MODE_SPARSE) {
            t0     = compcoll_time();
            status = fold ? ker->fold_select(cfg->select, t->mem, g, out, n,
                                             k, idx, vals,
                                             compcoll_select_scratch())
                          : ker->select(cfg->select, t->mem, g, n, k, idx,
                                        compcoll_select_scratch());
            compcoll_stats.time_select += compcoll_time() - t0;
            if (status != COMPCOLL_OK) {
                /* the others wait for the header: they fail with us */
                compcoll_error("index selection failed: %s",
                               compcoll_status_string(status));
                h->mode = SC_MODE_ABORT;
            }
        }
    }

    status = sc_header_bcast(cc, h, idx, code, n, k, leader);
    if (status != COMPCOLL_OK) {
        return status;
    }
    compcoll_trace("allreduce count=%zu comm=%llu call=%llu: scalecom %s "
                   "k=%zu leader=%d", n, (unsigned long long)cc->id,
                   (unsigned long long)cc->ncalls,
                   h->mode == SC_MODE_SPARSE ? "sparse" : "dense", k, leader);
    compcoll_count_call(cc, t, n);

    if (h->mode == SC_MODE_DENSE) {
        t0 = compcoll_time();
        if (fold) {
            /* dense with beta = 1 from the folded memory: out = a, m = 0 */
            memcpy(out, t->mem, n * sizeof(float));
            memset(t->mem, 0, n * sizeof(float));
        } else {
            ker->dense(t->mem, g, out, n, beta);
        }
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
        if (fold) {
            if (cc->rank != leader) { /* the leader took in fold_select */
                ker->take(t->mem, idx, k, vals);
            }
        } else {
            ker->compress(t->mem, g, out, n, idx, k, beta, vals);
        }
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

/*
 * The same call with g and out in device memory (compcoll_memtype.h): the
 * passes run on the tensor's stream, and only the header and indices (the
 * leader's) and the k values cross to pinned host memory for the transport.
 * The leader with COMPCOLL_SELECT=chunk selects and compresses in one fused
 * pass; with exact or sample its compression runs while the header is
 * broadcast.  A rank whose device work fails after the header still takes
 * its part in the exchange (with zeros) and then fails the call, so no rank
 * waits forever; a leader whose selection fails broadcasts SC_MODE_ABORT.
 * When its staging buffers cannot be had (before anything is exchanged),
 * the call goes through host memory instead (compcoll_allreduce_staged).
 */
static compcoll_status_t sc_allreduce_gpu(compcoll_comm_t *cc,
                                          compcoll_tensor_t *t,
                                          compcoll_gpu_tensor_t *gt,
                                          const float *g, float *out, size_t n)
{
    const compcoll_config_t     *cfg    = &compcoll_cfg;
    const compcoll_gpu_module_t *gpu    = compcoll_gpu_module();
    compcoll_gpu_stream_t       *s      = gt->stream;
    compcoll_tcomm_t            *tc     = cc->tcomm;
    const size_t                 k      = (n + cfg->ratio - 1) / cfg->ratio;
    const int                    leader = (int)(cc->ncalls % (uint64_t)cc->size);
    const size_t                 bytes  = sizeof(sc_header_t) + k * sizeof(uint32_t);
    const float                  beta   = (float)cfg->beta;
    compcoll_status_t            status, local = COMPCOLL_OK, st;
    sc_header_t                 *h;
    uint32_t                    *idx;
    uint8_t                     *code;
    float                       *vals, *bulk, *spare = NULL;
    uint64_t                     sent0 = tc->bytes_sent;
    double                       t0;
    int                          fused = 0;

    h    = compcoll_gpu_stage(s, COMPCOLL_STAGE_MSG, bytes);
    code = compcoll_buf_reserve(&cc->icode, COMPCOLL_ICODE_MAX * k);
    vals = compcoll_gpu_stage(s, COMPCOLL_STAGE_VALS, k * sizeof(float));
    if (h == NULL || code == NULL || vals == NULL ||
        compcoll_gpu_tensor_reserve(gt, k) != COMPCOLL_OK) {
        return compcoll_allreduce_staged(cc, t, g, out, n);
    }
    idx = (uint32_t *)(h + 1);

    if (cc->rank == leader) {
        sc_header_fill(cc, t, gt->mem != NULL, h, n, k);
        if (h->mode == SC_MODE_SPARSE) {
            t0 = compcoll_time();
            if (cfg->select == COMPCOLL_SELECT_CHUNK) {
                st    = gpu->chunk_compress(s, gt->mem, g, out, n, k, beta,
                                            gt->idx, gt->vals);
                fused = 1;
            } else {
                st = gpu->select(s, (compcoll_select_t)cfg->select, gt->mem,
                                 g, n, k, gt->idx);
            }
            if (st == COMPCOLL_OK) {
                st = gpu->copy(s, idx, gt->idx, k * sizeof(uint32_t));
            }
            if (st == COMPCOLL_OK) {
                st = gpu->mark(s);
            }
            if (st == COMPCOLL_OK) {
                /* the indices, checked, before anything touches m or out */
                st = gpu->mark_wait(s);
            }
            if (st == COMPCOLL_OK && !fused) {
                /* queued after the check: runs during the broadcast */
                st = gpu->compress(s, gt->mem, g, out, n, gt->idx, k, beta,
                                   gt->vals);
            }
            if (st == COMPCOLL_OK) {
                st = gpu->copy(s, vals, gt->vals, k * sizeof(float));
            }
            compcoll_stats.time_select += compcoll_time() - t0;
            if (st != COMPCOLL_OK) {
                compcoll_error("device index selection failed: %s",
                               compcoll_status_string(st));
                gpu->stream_sync(s);
                h->mode = SC_MODE_ABORT;
            }
        }
    }

    status = sc_header_bcast(cc, h, idx, code, n, k, leader);
    if (status != COMPCOLL_OK) {
        gpu->stream_sync(s); /* the leader's queued work */
        return status;
    }
    compcoll_trace("allreduce count=%zu comm=%llu call=%llu: scalecom %s "
                   "k=%zu leader=%d, on device %d", n,
                   (unsigned long long)cc->id, (unsigned long long)cc->ncalls,
                   h->mode == SC_MODE_SPARSE ? "sparse" : "dense", k, leader,
                   gt->where.device);
    compcoll_count_call(cc, t, n);

    if (h->mode == SC_MODE_DENSE) {
        bulk = compcoll_gpu_stage(s, COMPCOLL_STAGE_BULK, n * sizeof(float));
        if (bulk == NULL) {
            /* the exchange goes on, with zeros from this rank */
            local = COMPCOLL_ERR_NO_MEMORY;
            bulk = spare = calloc(n, sizeof(float));
            if (bulk == NULL) {
                return COMPCOLL_ERR_NO_MEMORY;
            }
        } else {
            t0    = compcoll_time();
            local = gpu->dense(s, gt->mem, g, out, n, beta);
            if (local == COMPCOLL_OK) {
                local = gpu->copy(s, bulk, out, n * sizeof(float));
            }
            st    = gpu->stream_sync(s);
            local = (local != COMPCOLL_OK) ? local : st;
            if (local != COMPCOLL_OK) {
                memset(bulk, 0, n * sizeof(float));
            }
            compcoll_stats.time_host += compcoll_time() - t0;
        }
        t0     = compcoll_time();
        status = tc->ops->allreduce(tc, bulk, n, COMPCOLL_WIRE_FP32);
        compcoll_stats.time_comm += compcoll_time() - t0;
        if (status == COMPCOLL_OK && local == COMPCOLL_OK) {
            t0    = compcoll_time();
            local = gpu->copy(s, out, bulk, n * sizeof(float));
            st    = gpu->stream_sync(s);
            local = (local != COMPCOLL_OK) ? local : st;
            compcoll_stats.time_host += compcoll_time() - t0;
        }
        free(spare);
        compcoll_stats.calls_dense++;
        compcoll_stats.elements_sent += n;
    } else {
        if (gt->mem == NULL) {
            compcoll_warn_once("a tensor of %zu elements has no error-feedback "
                               "memory on this rank (COMPCOLL_MAX_MEMORY): "
                               "what it does not send is discarded", n);
            compcoll_stats.calls_no_memory++;
        }
        t0 = compcoll_time();
        if (cc->rank != leader) {
            local = gpu->copy(s, gt->idx, idx, k * sizeof(uint32_t));
            if (local == COMPCOLL_OK) {
                local = gpu->compress(s, gt->mem, g, out, n, gt->idx, k, beta,
                                      gt->vals);
            }
            if (local == COMPCOLL_OK) {
                local = gpu->copy(s, vals, gt->vals, k * sizeof(float));
            }
        }
        st    = gpu->stream_sync(s);
        local = (local != COMPCOLL_OK) ? local : st;
        if (local != COMPCOLL_OK) {
            memset(vals, 0, k * sizeof(float));
        }
        compcoll_stats.time_host += compcoll_time() - t0;
        t0     = compcoll_time();
        status = tc->ops->allreduce(tc, vals, k, (compcoll_wire_t)cfg->wire);
        compcoll_stats.time_comm += compcoll_time() - t0;
        if (status == COMPCOLL_OK && local == COMPCOLL_OK) {
            t0    = compcoll_time();
            local = gpu->copy(s, gt->vals, vals, k * sizeof(float));
            if (local == COMPCOLL_OK) {
                local = gpu->scatter(s, out, gt->idx, gt->vals, k);
            }
            st    = gpu->stream_sync(s);
            local = (local != COMPCOLL_OK) ? local : st;
            compcoll_stats.time_host += compcoll_time() - t0;
        }
        compcoll_stats.calls_compressed++;
        compcoll_stats.elements_sent += k;
    }
    compcoll_stats.bytes_sent += tc->bytes_sent - sent0;
    if (status == COMPCOLL_OK && local != COMPCOLL_OK) {
        compcoll_error("device work of call %llu failed on this rank (%s); "
                       "it sent zeros and fails the call",
                       (unsigned long long)(cc->ncalls - 1),
                       compcoll_status_string(local));
        status = local;
    }
    return status;
}

const compcoll_method_t compcoll_method_scalecom = {
    .id            = COMPCOLL_METHOD_SCALECOM,
    .name          = "scalecom",
    .description   = "cyclic local top-k with low-pass error feedback",
    .allreduce     = sc_allreduce,
    .allreduce_gpu = sc_allreduce_gpu,
};
