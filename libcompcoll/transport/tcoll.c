/*
 * Nonblocking collectives over a transport's point-to-point operations
 * (compcoll_transport.h: compcoll_tcoll_*): the ring all-reduce that both
 * transports' 16-bit all-reduce and the ucx transport's fp32 one are, and
 * a chain broadcast.  Each is a state machine that test moves on as far as
 * its messages allow, so that a method can keep several in flight and do
 * its own work in between (the pipelined ScaleCom exchange).
 *
 * The ring (p ranks, count values cut into p segments as evenly as they
 * go): reduce-scatter, where at step s this rank passes its partial of
 * segment r-s to the right and adds the left neighbour's partial of segment
 * r-s-1, so that after p-1 steps it holds the sum of segment r+1; then
 * allgather, where at step s it passes on segment r+1-s and receives
 * segment r-s.  Both neighbours compute the same sizes and skip the same
 * empty messages.  With a 16-bit wire every rank keeps the vector's
 * encoding in the scratch, each segment at its own offset: a reduce-scatter
 * step encodes the partial it passes on, the owner of a segment keeps
 * decode(encode(sum)), and the allgather passes the owner's encoding on
 * untouched, so every rank ends with the same bits and partial sums stay
 * fp32.
 */
#include <string.h>

#include "compcoll_clock.h"
#include "compcoll_transport.h"

enum {
    TCOLL_DONE,
    TCOLL_RS,      /* all-reduce: reduce-scatter step `step` in flight */
    TCOLL_AG,      /* all-reduce: allgather step `step` in flight */
    TCOLL_RECV,    /* chain: waiting for the data from the left */
    TCOLL_FORWARD, /* chain: the data is in; passing it on to the right */
};

/* Segment i of p of count values. */
static void tcoll_segment(size_t count, int p, int i, size_t *off,
                          size_t *len)
{
    *off = (size_t)i * count / (size_t)p;
    *len = (size_t)(i + 1) * count / (size_t)p - *off;
}

size_t compcoll_tcoll_scratch(int p, size_t count, compcoll_wire_t wire)
{
    if (wire != COMPCOLL_WIRE_FP32) {
        return count * compcoll_wire_size(wire);
    }
    return p == 1 ? 0
                  : (count + (size_t)p - 1) / (size_t)p * sizeof(float);
}

/* Post the ring step op->step of op->phase. */
static compcoll_status_t tcoll_ring_post(compcoll_tcomm_t *tc,
                                         compcoll_tcoll_t *op)
{
    const int         p = tc->size, r = tc->rank, s = op->step;
    const int         fp32 = (op->wire == COMPCOLL_WIRE_FP32);
    const size_t      ws   = compcoll_wire_size(op->wire);
    unsigned char    *w    = op->scratch;
    compcoll_status_t status = COMPCOLL_OK;
    size_t            soff, slen, roff, rlen;
    void             *rptr, *sptr;

    if (op->phase == TCOLL_RS) {
        tcoll_segment(op->count, p, (r - s + p) % p, &soff, &slen);
        tcoll_segment(op->count, p, (r - s - 1 + 2 * p) % p, &roff, &rlen);
        rptr = fp32 ? (void *)w : (void *)(w + roff * ws);
    } else {
        tcoll_segment(op->count, p, (r + 1 - s + p) % p, &soff, &slen);
        tcoll_segment(op->count, p, (r - s + p) % p, &roff, &rlen);
        rptr = fp32 ? (void *)(op->buf + roff) : (void *)(w + roff * ws);
    }
    sptr = fp32 ? (void *)(op->buf + soff) : (void *)(w + soff * ws);
    if (rlen != 0) {
        status = tc->ops->irecv(tc, (r + p - 1) % p, rptr, rlen * ws,
                                op->chan, &op->rreq);
    }
    if (status == COMPCOLL_OK && slen != 0) {
        if (!fp32 && op->phase == TCOLL_RS) {
            /* encoded while the left neighbour's data may be landing */
            compcoll_wire_encode(op->wire, sptr, op->buf + soff, slen);
        }
        status = tc->ops->isend(tc, (r + 1) % p, sptr, slen * ws, op->chan,
                                &op->sreq);
    }
    return status;
}

/* A ring step's messages are in: use what came and go to the next step. */
static void tcoll_ring_step_done(const compcoll_tcomm_t *tc,
                                 compcoll_tcoll_t       *op)
{
    const int      p = tc->size, r = tc->rank, s = op->step;
    const int      fp32 = (op->wire == COMPCOLL_WIRE_FP32);
    const size_t   ws   = compcoll_wire_size(op->wire);
    unsigned char *w    = op->scratch;
    size_t         off, len;

    if (op->phase == TCOLL_RS) {
        tcoll_segment(op->count, p, (r - s - 1 + 2 * p) % p, &off, &len);
        compcoll_wire_decode_add(op->wire, op->buf + off,
                                 fp32 ? (void *)w : (void *)(w + off * ws),
                                 len);
        if (++op->step < p - 1) {
            return;
        }
        if (!fp32) {
            /* the owner keeps what the others will decode */
            tcoll_segment(op->count, p, (r + 1) % p, &off, &len);
            compcoll_wire_encode(op->wire, w + off * ws, op->buf + off, len);
            compcoll_wire_decode(op->wire, op->buf + off, w + off * ws, len);
        }
        op->phase = TCOLL_AG;
        op->step  = 0;
        return;
    }
    if (!fp32) {
        tcoll_segment(op->count, p, (r - s + p) % p, &off, &len);
        compcoll_wire_decode(op->wire, op->buf + off, w + off * ws, len);
    }
    if (++op->step == p - 1) {
        op->phase = TCOLL_DONE;
    }
}

compcoll_status_t compcoll_tcoll_iallreduce(compcoll_tcomm_t *tc, float *buf,
                                            size_t count, compcoll_wire_t wire,
                                            void *scratch, uint32_t chan,
                                            compcoll_tcoll_t *op)
{
    memset(op, 0, sizeof(*op));
    op->buf     = buf;
    op->count   = count;
    op->wire    = wire;
    op->scratch = scratch;
    op->chan    = chan;
    if (count == 0) {
        op->phase = TCOLL_DONE;
        return COMPCOLL_OK;
    }
    if (tc->size == 1) {
        /* rounded through the wire type as more ranks would round it, so
         * that results do not depend on the job's size */
        if (wire != COMPCOLL_WIRE_FP32) {
            compcoll_wire_encode(wire, scratch, buf, count);
            compcoll_wire_decode(wire, buf, scratch, count);
        }
        op->phase = TCOLL_DONE;
        return COMPCOLL_OK;
    }
    op->phase = TCOLL_RS;
    return tcoll_ring_post(tc, op);
}

compcoll_status_t compcoll_tcoll_ichain(compcoll_tcomm_t *tc, void *buf,
                                        size_t bytes, int root, uint32_t chan,
                                        compcoll_tcoll_t *op)
{
    const int p = tc->size, r = tc->rank;

    memset(op, 0, sizeof(*op));
    op->data  = buf;
    op->count = bytes;
    op->chan  = chan;
    op->root  = root;
    op->phase = TCOLL_FORWARD;
    op->ready = 1;
    if (bytes == 0 || p == 1) {
        op->phase = TCOLL_DONE;
        return COMPCOLL_OK;
    }
    if (r != root) {
        op->phase = TCOLL_RECV;
        op->ready = 0;
        return tc->ops->irecv(tc, (r + p - 1) % p, buf, bytes, chan,
                              &op->rreq);
    }
    return tc->ops->isend(tc, (r + 1) % p, buf, bytes, chan, &op->sreq);
}

compcoll_status_t compcoll_tcoll_test(compcoll_tcomm_t *tc,
                                      compcoll_tcoll_t *op, int *done)
{
    const int         p = tc->size;
    compcoll_status_t status;
    int               rdone, sdone;

    for (;;) {
        status = tc->ops->test(tc, &op->rreq, &rdone);
        if (status == COMPCOLL_OK) {
            status = tc->ops->test(tc, &op->sreq, &sdone);
        }
        if (status != COMPCOLL_OK || op->phase == TCOLL_DONE) {
            break;
        }
        if (op->phase == TCOLL_RECV && rdone) {
            /* arrived: usable now, passed on unless the right is the root */
            op->ready = 1;
            op->moves++;
            op->phase = TCOLL_FORWARD;
            if ((tc->rank + 1) % p != op->root) {
                status = tc->ops->isend(tc, (tc->rank + 1) % p, op->data,
                                        op->count, op->chan, &op->sreq);
                if (status != COMPCOLL_OK) {
                    break;
                }
            }
            continue;
        }
        if (!rdone || !sdone) {
            break;
        }
        op->moves++;
        if (op->phase == TCOLL_FORWARD) {
            op->phase = TCOLL_DONE;
            break;
        }
        tcoll_ring_step_done(tc, op);
        if (op->phase == TCOLL_DONE) {
            break;
        }
        status = tcoll_ring_post(tc, op);
        if (status != COMPCOLL_OK) {
            break;
        }
    }
    *done = (status == COMPCOLL_OK && op->phase == TCOLL_DONE);
    return status;
}

void compcoll_tcoll_pace(compcoll_tcomm_t *tc, int moved, uint64_t *events,
                         unsigned *idle)
{
    if (moved || tc->events != *events) {
        *events = tc->events;
        *idle   = 0;
    } else {
        compcoll_backoff(idle);
    }
}

compcoll_status_t compcoll_tcoll_wait(compcoll_tcomm_t *tc,
                                      compcoll_tcoll_t *op)
{
    compcoll_status_t status;
    unsigned          idle = 0, moves = op->moves;
    uint64_t          events = tc->events;
    int               done;

    for (;;) {
        status = compcoll_tcoll_test(tc, op, &done);
        if (status != COMPCOLL_OK || done) {
            return status;
        }
        compcoll_tcoll_pace(tc, op->moves != moves, &events, &idle);
        moves = op->moves;
    }
}

compcoll_status_t compcoll_tcoll_allreduce(compcoll_tcomm_t *tc, float *buf,
                                           size_t count, compcoll_wire_t wire,
                                           void *scratch)
{
    const uint32_t    chan = tc->ops->channels(tc, 1);
    compcoll_tcoll_t  op;
    compcoll_status_t status;

    status = compcoll_tcoll_iallreduce(tc, buf, count, wire, scratch, chan,
                                       &op);
    if (status == COMPCOLL_OK) {
        status = compcoll_tcoll_wait(tc, &op);
    }
    if (status != COMPCOLL_OK) {
        compcoll_tcoll_cancel(tc, &op);
    }
    return status;
}

void compcoll_tcoll_cancel(compcoll_tcomm_t *tc, compcoll_tcoll_t *op)
{
    tc->ops->cancel(tc, &op->rreq);
    tc->ops->cancel(tc, &op->sreq);
    op->phase = TCOLL_DONE;
}
