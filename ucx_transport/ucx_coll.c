/*
 * ucx_transport: the collectives, over UCP tagged messages.
 *
 * bcast is a binomial tree; allreduce is the ring of compcoll_tcoll_*
 * (libcompcoll/transport/tcoll.c) over this transport's point to point, so
 * each rank sends about 2*count values whatever p is; allgather and
 * allgatherv are one ring, each block going p-1 hops.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_ucx.h"

#include <stdint.h>
#include <string.h>

/* A binomial tree node has at most one child per bit of the rank. */
#define COMPCOLL_UCX_MAX_CHILDREN (COMPCOLL_UCX_TAG_RANK_BITS + 1)

static uint64_t compcoll_ucx_tag(const compcoll_ucx_comm_t *ucomm, uint32_t seq,
                                 int src)
{
    uint64_t seq_bits = seq & ((UINT32_C(1) << COMPCOLL_UCX_TAG_SEQ_BITS) - 1);

    return ucomm->tag_id | (seq_bits << COMPCOLL_UCX_TAG_SEQ_SHIFT) |
           (uint64_t)src;
}

/* Every call takes a sequence number, even one that moves no data, so that
 * the members' counters never drift apart. */
static compcoll_status_t compcoll_ucx_live(const compcoll_ucx_comm_t *ucomm,
                                           const char                *what)
{
    if (!compcoll_ucx_ctx.ready || (ucomm->epoch != compcoll_ucx_ctx.epoch)) {
        compcoll_error("%s on a communicator whose UCX context was "
                       "finalized",
                       what);
        return COMPCOLL_ERR_UNAVAILABLE;
    }
    return COMPCOLL_OK;
}

static compcoll_status_t compcoll_ucx_begin(compcoll_ucx_comm_t *ucomm,
                                            const char *what, uint32_t *seq)
{
    *seq = ucomm->seq++;
    return compcoll_ucx_live(ucomm, what);
}

static compcoll_status_t compcoll_ucx_post_send(compcoll_ucx_comm_t *ucomm,
                                                compcoll_ucx_op_t *op, int peer,
                                                const void *buf, size_t bytes,
                                                uint64_t tag, const char *what)
{
    compcoll_status_t   status = COMPCOLL_OK;
    ucp_request_param_t param;
    void               *req;

    param.op_attr_mask = 0; /* contiguous bytes, no callback */
    COMPCOLL_UCX_PTR_CHECK_GOTO(
        what, req, ucp_tag_send_nbx(ucomm->eps[peer], buf, bytes, tag, &param),
        COMPCOLL_LOG_ERROR, status, COMPCOLL_ERR_TRANSPORT, out);
    op->req      = req;
    op->is_recv  = 0;
    op->expected = bytes;
    op->peer     = peer;
    ucomm->super.bytes_sent += bytes;
out:
    return status;
}

static compcoll_status_t compcoll_ucx_post_recv(compcoll_ucx_op_t *op, int peer,
                                                void *buf, size_t bytes,
                                                uint64_t tag, const char *what)
{
    compcoll_status_t   status = COMPCOLL_OK;
    ucp_request_param_t param;
    void               *req;

    /* Always take a request: UCX 1.13 does not fill recv_info on immediate
     * completion, and the request is where the received length is read. */
    param.op_attr_mask = UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    COMPCOLL_UCX_PTR_CHECK_GOTO(
        what, req,
        ucp_tag_recv_nbx(compcoll_ucx_ctx.worker, buf, bytes, tag,
                         COMPCOLL_UCX_TAG_MASK_ALL, &param),
        COMPCOLL_LOG_ERROR, status, COMPCOLL_ERR_TRANSPORT, out);
    op->req      = req;
    op->is_recv  = 1;
    op->expected = bytes;
    op->peer     = peer;
out:
    return status;
}

/* Wait for a step's ops; after a failed post, release the others first. */
static compcoll_status_t compcoll_ucx_finish(compcoll_ucx_op_t *ops, int nops,
                                             compcoll_status_t status,
                                             const char       *what)
{
    if (status != COMPCOLL_OK) {
        compcoll_ucx_abandon(ops, nops);
        return status;
    }
    return compcoll_ucx_wait(ops, nops, what);
}

/* ------------------------------------------------------------------ bcast */

compcoll_status_t compcoll_ucx_bcast(compcoll_tcomm_t *tcomm, void *buf,
                                     size_t bytes, int root)
{
    compcoll_ucx_comm_t *ucomm = (compcoll_ucx_comm_t *)tcomm;
    compcoll_ucx_op_t    ops[COMPCOLL_UCX_MAX_CHILDREN];
    compcoll_status_t    status;
    int                  p = tcomm->size, r = tcomm->rank;
    int                  vr, mask, nops = 0;
    uint32_t             seq;

    status = compcoll_ucx_begin(ucomm, "UCX bcast", &seq);
    if ((status != COMPCOLL_OK) || (bytes == 0) || (p == 1)) {
        return status;
    }
    if ((root < 0) || (root >= p)) {
        compcoll_error("UCX: bcast root %d outside a communicator of %d ranks",
                       root, p);
        return COMPCOLL_ERR_INVALID_PARAM;
    }

    /* Ranks relative to the root; the parent is vr with its lowest set bit
     * cleared, the children vr + each smaller power of two. */
    vr = (r - root + p) % p;
    for (mask = 1; mask < p; mask <<= 1) {
        if (vr & mask) {
            int parent = (vr - mask + root) % p;

            memset(ops, 0, sizeof(ops[0]));
            status = compcoll_ucx_post_recv(
                &ops[0], parent, buf, bytes,
                compcoll_ucx_tag(ucomm, seq, parent), "UCX bcast");
            status = compcoll_ucx_finish(ops, 1, status, "UCX bcast");
            if (status != COMPCOLL_OK) {
                return status;
            }
            break;
        }
    }

    memset(ops, 0, sizeof(ops));
    for (mask >>= 1; (mask > 0) && (status == COMPCOLL_OK); mask >>= 1) {
        if (vr + mask < p) {
            status = compcoll_ucx_post_send(
                ucomm, &ops[nops++], (vr + mask + root) % p, buf, bytes,
                compcoll_ucx_tag(ucomm, seq, r), "UCX bcast");
        }
    }
    return compcoll_ucx_finish(ops, nops, status, "UCX bcast");
}

/* ------------------------------------------------------------ ring steps */

/* One ring step: receive rbytes from the left into rptr while sending
 * sbytes to the right from sptr.  Empty blocks move nothing; both
 * neighbours compute the same sizes, so they skip the same messages. */
static compcoll_status_t
compcoll_ucx_ring_step(compcoll_ucx_comm_t *ucomm, uint32_t seq, void *rptr,
                       size_t rbytes, const void *sptr, size_t sbytes,
                       const char *what)
{
    int               p = ucomm->super.size, r = ucomm->super.rank;
    int               left = (r + p - 1) % p, right = (r + 1) % p;
    compcoll_ucx_op_t ops[2];
    compcoll_status_t status = COMPCOLL_OK;

    memset(ops, 0, sizeof(ops));
    if (rbytes != 0) {
        status =
            compcoll_ucx_post_recv(&ops[0], left, rptr, rbytes,
                                   compcoll_ucx_tag(ucomm, seq, left), what);
    }
    if ((status == COMPCOLL_OK) && (sbytes != 0)) {
        status = compcoll_ucx_post_send(ucomm, &ops[1], right, sptr, sbytes,
                                        compcoll_ucx_tag(ucomm, seq, r), what);
    }
    return compcoll_ucx_finish(ops, 2, status, what);
}

/* -------------------------------------------------------------- allreduce */

/* The ring of compcoll_tcoll_allreduce over this transport's point to
 * point, its scratch the communicator's. */
compcoll_status_t compcoll_ucx_allreduce(compcoll_tcomm_t *tcomm, float *buf,
                                         size_t count, compcoll_wire_t wire)
{
    compcoll_ucx_comm_t *ucomm = (compcoll_ucx_comm_t *)tcomm;
    compcoll_status_t    status;

    status = compcoll_ucx_live(ucomm, "UCX allreduce");
    if (status == COMPCOLL_OK) {
        status = compcoll_ucx_comm_scratch(
            ucomm, compcoll_tcoll_scratch(tcomm->size, count, wire));
    }
    if (status != COMPCOLL_OK) {
        ucomm->seq++; /* the channel the others take */
        return status;
    }
    return compcoll_tcoll_allreduce(tcomm, buf, count, wire, ucomm->scratch);
}

/* ------------------------------------------------- allgather, allgatherv */

/* Block i's size: counts[i], or `bytes` for every block when counts is NULL,
 * which is how allgather shares allgatherv's ring. */
static size_t compcoll_ucx_block(const size_t *counts, size_t bytes, int i)
{
    return (counts != NULL) ? counts[i] : bytes;
}

/*
 * Ring: at step s pass block r-s on to the right and receive block r-s-1 from
 * the left, straight into its place in rbuf, so a block received at one step
 * is the one sent at the next.  Each rank sends every block but its right
 * neighbour's.  Both neighbours know every block's size, so they skip the
 * same empty blocks.  Offsets walk down one block per step instead of coming
 * from a table of p offsets, so a call allocates nothing.
 */
static compcoll_status_t
compcoll_ucx_ring_allgatherv(compcoll_tcomm_t *tcomm, const void *sbuf,
                             void *rbuf, const size_t *counts, size_t bytes,
                             const char *what)
{
    compcoll_ucx_comm_t *ucomm = (compcoll_ucx_comm_t *)tcomm;
    unsigned char       *out   = rbuf;
    int                  p = tcomm->size, r = tcomm->rank;
    size_t               total = 0, mine = 0, soff, slen, roff, rlen, len;
    compcoll_status_t    status;
    uint32_t             seq;
    int                  i, s, rblk;

    status = compcoll_ucx_begin(ucomm, what, &seq);
    if (status != COMPCOLL_OK) {
        return status;
    }

    /* The counts are the same on every rank, so every rank refuses alike. */
    for (i = 0; i < p; i++) {
        len = compcoll_ucx_block(counts, bytes, i);
        if (len > SIZE_MAX - total) {
            compcoll_error("%s: the %d blocks add up to more than SIZE_MAX "
                           "bytes",
                           what, p);
            return COMPCOLL_ERR_INVALID_PARAM;
        }
        if (i == r) {
            mine = total;
        }
        total += len;
    }
    if (total == 0) {
        return COMPCOLL_OK;
    }

    slen = compcoll_ucx_block(counts, bytes, r);
    soff = mine;
    if ((slen != 0) && ((const unsigned char *)sbuf != out + soff)) {
        memcpy(out + soff, sbuf, slen);
    }

    for (s = 0; s < p - 1; s++) {
        rblk = (r - s - 1 + 2 * p) % p;
        rlen = compcoll_ucx_block(counts, bytes, rblk);
        roff = (rblk == p - 1) ? total - rlen : soff - rlen;
        status =
            compcoll_ucx_ring_step(ucomm, seq, out + roff, rlen, out + soff,
                                   slen, what);
        if (status != COMPCOLL_OK) {
            return status;
        }
        soff = roff;
        slen = rlen;
    }
    return COMPCOLL_OK;
}

compcoll_status_t compcoll_ucx_allgather(compcoll_tcomm_t *tcomm,
                                         const void *sbuf, void *rbuf,
                                         size_t bytes)
{
    return compcoll_ucx_ring_allgatherv(tcomm, sbuf, rbuf, NULL, bytes,
                                        "UCX allgather");
}

compcoll_status_t compcoll_ucx_allgatherv(compcoll_tcomm_t *tcomm,
                                          const void *sbuf, void *rbuf,
                                          const size_t *counts)
{
    return compcoll_ucx_ring_allgatherv(tcomm, sbuf, rbuf, counts, 0,
                                        "UCX allgatherv");
}

/* ------------------------------------------------- point to point */

/*
 * A channel is a sequence number of its own: its messages carry it in the
 * tag as a collective's do, so they never match another operation's.
 */
uint32_t compcoll_ucx_channels(compcoll_tcomm_t *tcomm, unsigned count)
{
    compcoll_ucx_comm_t *ucomm = (compcoll_ucx_comm_t *)tcomm;
    const uint32_t       base  = ucomm->seq;

    ucomm->seq += count;
    return base;
}

static void compcoll_ucx_req_in(compcoll_ucx_op_t *op,
                                const compcoll_treq_t *req)
{
    op->req      = req->impl;
    op->is_recv  = req->is_recv;
    op->expected = req->expected;
    op->peer     = req->peer;
}

/* Start a send (is_recv 0) or receive on channel chan; req takes the
 * request, idle again when posting failed. */
static compcoll_status_t compcoll_ucx_ip2p(compcoll_tcomm_t *tcomm, int peer,
                                           void *buf, size_t bytes,
                                           uint32_t chan, compcoll_treq_t *req,
                                           int is_recv)
{
    compcoll_ucx_comm_t *ucomm = (compcoll_ucx_comm_t *)tcomm;
    const char          *what  = is_recv ? "UCX irecv" : "UCX isend";
    compcoll_ucx_op_t    op;
    compcoll_status_t    status;

    memset(&op, 0, sizeof(op));
    status = compcoll_ucx_live(ucomm, what);
    if (status == COMPCOLL_OK && is_recv) {
        status = compcoll_ucx_post_recv(&op, peer, buf, bytes,
                                        compcoll_ucx_tag(ucomm, chan, peer),
                                        what);
    } else if (status == COMPCOLL_OK) {
        status = compcoll_ucx_post_send(ucomm, &op, peer, buf, bytes,
                                        compcoll_ucx_tag(ucomm, chan,
                                                         tcomm->rank),
                                        what);
    }
    req->impl     = op.req;
    req->is_recv  = is_recv;
    req->expected = bytes;
    req->peer     = peer;
    req->active   = (status == COMPCOLL_OK);
    return status;
}

compcoll_status_t compcoll_ucx_isend(compcoll_tcomm_t *tcomm, int peer,
                                     const void *buf, size_t bytes,
                                     uint32_t chan, compcoll_treq_t *req)
{
    return compcoll_ucx_ip2p(tcomm, peer, (void *)buf, bytes, chan, req, 0);
}

compcoll_status_t compcoll_ucx_irecv(compcoll_tcomm_t *tcomm, int peer,
                                     void *buf, size_t bytes, uint32_t chan,
                                     compcoll_treq_t *req)
{
    return compcoll_ucx_ip2p(tcomm, peer, buf, bytes, chan, req, 1);
}

compcoll_status_t compcoll_ucx_test(compcoll_tcomm_t *tcomm,
                                    compcoll_treq_t *req, int *done)
{
    compcoll_status_t status = COMPCOLL_OK;
    compcoll_ucx_op_t op;

    *done = !req->active;
    if (*done) {
        return COMPCOLL_OK;
    }
    if (req->impl == NULL) { /* a send that completed when posted */
        req->active = 0;
        *done       = 1;
        return COMPCOLL_OK;
    }
    tcomm->events += ucp_worker_progress(compcoll_ucx_ctx.worker);
    compcoll_ucx_req_in(&op, req);
    if (compcoll_ucx_op_done(&op, "UCX test", &status)) {
        req->impl   = NULL;
        req->active = 0;
        *done       = 1;
    }
    return status;
}

void compcoll_ucx_progress(compcoll_tcomm_t *tcomm)
{
    tcomm->events += ucp_worker_progress(compcoll_ucx_ctx.worker);
}

void compcoll_ucx_cancel(compcoll_tcomm_t *tcomm, compcoll_treq_t *req)
{
    compcoll_ucx_op_t op;

    (void)tcomm;
    if (req->active && req->impl != NULL && req->is_recv) {
        compcoll_ucx_req_in(&op, req);
        compcoll_ucx_abandon(&op, 1); /* cancelled, then waited for */
    } else if (req->active && req->impl != NULL) {
        ucp_request_free(req->impl); /* UCX finishes it on its own */
    }
    req->impl   = NULL;
    req->active = 0;
}
