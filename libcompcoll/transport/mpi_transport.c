/*
 * The mpi transport: PMPI collectives on a private duplicate of the user's
 * communicator.  It is the fallback when UCX cannot be set up, and needs no
 * set-up that can fail.  fp16/bf16 values are summed by the ring of
 * compcoll_tcoll_* over its point to point (partial sums in fp32).
 *
 * bytes_sent is modelled, since MPICH does not report its traffic: a
 * broadcast sends (p - 1) copies of the message in all, a large all-reduce
 * 2 (p - 1) / p of the data per rank; each rank is charged its share.  An
 * allgather(v) is modelled as a ring, in which every block reaches the p - 1
 * other ranks: each rank is charged its own block times (p - 1).  (The ucx
 * ring's rank actually sends every block but its right neighbour's; the sums
 * over the ranks agree.)
 *
 * MPI counts and displacements are int.  bcast and allreduce go in pieces;
 * allgather(v) refuses (COMPCOLL_ERR_NOT_SUPPORTED) a block or a gathered
 * total over INT_MAX bytes, since int displacements cannot address past it.
 * Every rank knows every block's size, so every rank refuses alike.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll_kernels.h"
#include "compcoll_log.h"
#include "compcoll_transport.h"

typedef struct {
    compcoll_tcomm_t super;
    MPI_Comm         comm;
    compcoll_buf_t   wire;
    compcoll_buf_t   layout; /* allgatherv's int counts and displacements */
    uint32_t         chan;   /* the next channel (isend, irecv) */
} mpi_tcomm_t;

/* Channels are tags, which MPI guarantees up to 32767. */
#define MPI_CHAN_TAGS 32768u

static compcoll_status_t mpi_init(void)
{
    return COMPCOLL_OK;
}

static void mpi_finalize(void)
{
}

static compcoll_status_t mpi_comm_create(MPI_Comm comm,
                                         compcoll_tcomm_t **tcomm_p)
{
    compcoll_status_t status = COMPCOLL_OK;
    mpi_tcomm_t      *tc     = calloc(1, sizeof(*tc));

    if (tc == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    tc->comm = MPI_COMM_NULL;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_dup(comm, &tc->comm), status, err);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_rank(comm, &tc->super.rank), status, err);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_size(comm, &tc->super.size), status, err);
    tc->super.ops = &compcoll_mpi_transport;
    *tcomm_p      = &tc->super;
    return COMPCOLL_OK;

err:
    if (tc->comm != MPI_COMM_NULL) {
        PMPI_Comm_free(&tc->comm);
    }
    free(tc);
    return status;
}

static void mpi_comm_destroy(compcoll_tcomm_t *tcomm)
{
    mpi_tcomm_t *tc = (mpi_tcomm_t *)tcomm;

    if (tcomm->disconnect) {
        PMPI_Comm_disconnect(&tc->comm);
    } else {
        PMPI_Comm_free(&tc->comm);
    }
    compcoll_buf_release(&tc->wire);
    compcoll_buf_release(&tc->layout);
    free(tc);
}

/* MPI counts are int: large buffers go in pieces. */
#define MPI_CHUNK ((size_t)1 << 30)

static compcoll_status_t mpi_bcast(compcoll_tcomm_t *tcomm, void *buf,
                                   size_t bytes, int root)
{
    mpi_tcomm_t      *tc     = (mpi_tcomm_t *)tcomm;
    compcoll_status_t status = COMPCOLL_OK;
    size_t            off;

    for (off = 0; off < bytes; off += MPI_CHUNK) {
        size_t len = (bytes - off < MPI_CHUNK) ? bytes - off : MPI_CHUNK;

        COMPCOLL_MPI_CHECK_GOTO(PMPI_Bcast((char *)buf + off, (int)len,
                                           MPI_BYTE, root, tc->comm),
                                status, out);
    }
    tcomm->bytes_sent += bytes * (uint64_t)(tcomm->size - 1) /
                         (uint64_t)tcomm->size;
out:
    return status;
}

/*
 * fp32: PMPI_Allreduce, in pieces.  A 16-bit wire: the ring of
 * compcoll_tcoll_allreduce over this transport's point to point, as the
 * ucx transport does it, so that partial sums stay fp32 as the interface
 * promises (an MPI operation on the encoded values would round every
 * partial sum) and both transports give the same bits.
 */
static compcoll_status_t mpi_allreduce(compcoll_tcomm_t *tcomm, float *buf,
                                       size_t count, compcoll_wire_t wire)
{
    mpi_tcomm_t      *tc     = (mpi_tcomm_t *)tcomm;
    compcoll_status_t status = COMPCOLL_OK;
    size_t            off;
    void             *w;

    if (wire != COMPCOLL_WIRE_FP32) {
        w = compcoll_buf_reserve(
            &tc->wire, compcoll_tcoll_scratch(tcomm->size, count, wire) + 1);
        if (w == NULL) {
            tc->chan++; /* the channel the others take */
            return COMPCOLL_ERR_NO_MEMORY;
        }
        return compcoll_tcoll_allreduce(tcomm, buf, count, wire, w);
    }
    for (off = 0; off < count; off += MPI_CHUNK) {
        int len = (int)((count - off < MPI_CHUNK) ? count - off : MPI_CHUNK);

        COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(MPI_IN_PLACE, buf + off, len,
                                               MPI_FLOAT, MPI_SUM, tc->comm),
                                status, out);
    }
    tcomm->bytes_sent += 2 * (uint64_t)(tcomm->size - 1) * count *
                         sizeof(float) / (uint64_t)tcomm->size;
out:
    return status;
}

/* One rank needs no MPI: its block is the whole result. */
static void mpi_gather_self(const void *sbuf, void *rbuf, size_t bytes)
{
    if ((bytes != 0) && (sbuf != rbuf)) {
        memcpy(rbuf, sbuf, bytes);
    }
}

static compcoll_status_t mpi_too_large(const char *what, size_t bytes)
{
    compcoll_error("mpi %s: %zu bytes do not fit MPI's int counts and "
                   "displacements (at most %d); not supported",
                   what, bytes, INT_MAX);
    return COMPCOLL_ERR_NOT_SUPPORTED;
}

static compcoll_status_t mpi_allgather(compcoll_tcomm_t *tcomm,
                                       const void *sbuf, void *rbuf,
                                       size_t bytes)
{
    mpi_tcomm_t      *tc     = (mpi_tcomm_t *)tcomm;
    compcoll_status_t status = COMPCOLL_OK;
    int               p = tcomm->size, r = tcomm->rank;
    unsigned char    *base = rbuf;
    const void       *src;

    if (bytes == 0) {
        return COMPCOLL_OK;
    }
    if (p == 1) {
        mpi_gather_self(sbuf, rbuf, bytes);
        return COMPCOLL_OK;
    }
    if (bytes > (size_t)INT_MAX / (size_t)p) {
        return mpi_too_large(
            "allgather", (bytes > (size_t)INT_MAX) ? bytes : bytes * (size_t)p);
    }
    /* MPI forbids a send buffer inside the receive buffer. */
    src = ((const unsigned char *)sbuf == base + (size_t)r * bytes)
              ? MPI_IN_PLACE
              : sbuf;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allgather(src, (int)bytes, MPI_BYTE, rbuf,
                                           (int)bytes, MPI_BYTE, tc->comm),
                            status, out);
    tcomm->bytes_sent += (uint64_t)bytes * (uint64_t)(p - 1);
out:
    return status;
}

static compcoll_status_t mpi_allgatherv(compcoll_tcomm_t *tcomm,
                                        const void *sbuf, void *rbuf,
                                        const size_t *counts)
{
    mpi_tcomm_t      *tc     = (mpi_tcomm_t *)tcomm;
    compcoll_status_t status = COMPCOLL_OK;
    int               p = tcomm->size, r = tcomm->rank, i;
    int              *icounts, *displs;
    size_t            total = 0;
    const void       *src;

    if (p == 1) {
        mpi_gather_self(sbuf, rbuf, counts[0]);
        return COMPCOLL_OK;
    }
    /* Stops before total can pass INT_MAX, so it cannot wrap either. */
    for (i = 0; i < p; i++) {
        if (counts[i] > (size_t)INT_MAX - total) {
            return mpi_too_large("allgatherv", (counts[i] > (size_t)INT_MAX)
                                                   ? counts[i]
                                                   : total + counts[i]);
        }
        total += counts[i];
    }
    if (total == 0) {
        return COMPCOLL_OK;
    }

    icounts = compcoll_buf_reserve(&tc->layout, 2 * (size_t)p * sizeof(int));
    if (icounts == NULL) {
        compcoll_error("mpi allgatherv: cannot allocate the layout of %d "
                       "ranks",
                       p);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    displs = icounts + p;
    total  = 0;
    for (i = 0; i < p; i++) {
        icounts[i] = (int)counts[i];
        displs[i]  = (int)total;
        total += counts[i];
    }
    src = ((const unsigned char *)sbuf == (unsigned char *)rbuf + displs[r])
              ? MPI_IN_PLACE
              : sbuf;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allgatherv(src, icounts[r], MPI_BYTE, rbuf,
                                            icounts, displs, MPI_BYTE,
                                            tc->comm),
                            status, out);
    tcomm->bytes_sent += (uint64_t)counts[r] * (uint64_t)(p - 1);
out:
    return status;
}

/* ------------------------------------------------- point to point */

static uint32_t mpi_channels(compcoll_tcomm_t *tcomm, unsigned count)
{
    mpi_tcomm_t   *tc   = (mpi_tcomm_t *)tcomm;
    const uint32_t base = tc->chan;

    tc->chan += count;
    return base;
}

static compcoll_status_t mpi_ip2p(mpi_tcomm_t *tc, int peer, void *buf,
                                  size_t bytes, uint32_t chan,
                                  compcoll_treq_t *req, int is_recv)
{
    compcoll_status_t status = COMPCOLL_OK;
    const int         tag    = (int)(chan % MPI_CHAN_TAGS);

    if (bytes > (size_t)INT_MAX) {
        return mpi_too_large(is_recv ? "irecv" : "isend", bytes);
    }
    if (is_recv) {
        COMPCOLL_MPI_CHECK_GOTO(PMPI_Irecv(buf, (int)bytes, MPI_BYTE, peer,
                                           tag, tc->comm, &req->mpi),
                                status, out);
    } else {
        COMPCOLL_MPI_CHECK_GOTO(PMPI_Isend(buf, (int)bytes, MPI_BYTE, peer,
                                           tag, tc->comm, &req->mpi),
                                status, out);
        tc->super.bytes_sent += bytes;
    }
    req->expected = bytes;
    req->peer     = peer;
    req->is_recv  = is_recv;
    req->active   = 1;
out:
    return status;
}

static compcoll_status_t mpi_isend(compcoll_tcomm_t *tcomm, int peer,
                                   const void *buf, size_t bytes,
                                   uint32_t chan, compcoll_treq_t *req)
{
    return mpi_ip2p((mpi_tcomm_t *)tcomm, peer, (void *)buf, bytes, chan,
                    req, 0);
}

static compcoll_status_t mpi_irecv(compcoll_tcomm_t *tcomm, int peer,
                                   void *buf, size_t bytes, uint32_t chan,
                                   compcoll_treq_t *req)
{
    return mpi_ip2p((mpi_tcomm_t *)tcomm, peer, buf, bytes, chan, req, 1);
}

static compcoll_status_t mpi_test(compcoll_tcomm_t *tcomm,
                                  compcoll_treq_t *req, int *done)
{
    compcoll_status_t status = COMPCOLL_OK;
    MPI_Status        st;
    int               flag = 0, count = 0;

    *done = !req->active;
    if (*done) {
        return COMPCOLL_OK;
    }
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Test(&req->mpi, &flag, &st), status, out);
    if (!flag) {
        return COMPCOLL_OK;
    }
    req->active = 0;
    *done       = 1;
    if (req->is_recv) {
        COMPCOLL_MPI_CHECK_GOTO(PMPI_Get_count(&st, MPI_BYTE, &count), status,
                                out);
        if ((size_t)count != req->expected) {
            compcoll_error("irecv: rank %d sent %d bytes, expected %zu "
                           "(ranks disagree on the call's size)",
                           req->peer, count, req->expected);
            status = COMPCOLL_ERR_PROTOCOL;
        }
    }
out:
    if (status != COMPCOLL_OK) {
        req->active = 0;
    }
    return status;
}

static void mpi_progress(compcoll_tcomm_t *tcomm)
{
    (void)tcomm; /* MPICH progresses in PMPI_Test */
}

static void mpi_cancel(compcoll_tcomm_t *tcomm, compcoll_treq_t *req)
{
    if (!req->active) {
        return;
    }
    if (req->is_recv) {
        PMPI_Cancel(&req->mpi);
        PMPI_Wait(&req->mpi, MPI_STATUS_IGNORE);
    } else {
        PMPI_Request_free(&req->mpi); /* MPI finishes it on its own */
    }
    req->active = 0;
}

const compcoll_transport_ops_t compcoll_mpi_transport = {
    .name         = "mpi",
    .init         = mpi_init,
    .finalize     = mpi_finalize,
    .comm_create  = mpi_comm_create,
    .comm_destroy = mpi_comm_destroy,
    .bcast        = mpi_bcast,
    .allreduce    = mpi_allreduce,
    .allgather    = mpi_allgather,
    .allgatherv   = mpi_allgatherv,
    .channels     = mpi_channels,
    .isend        = mpi_isend,
    .irecv        = mpi_irecv,
    .test         = mpi_test,
    .progress     = mpi_progress,
    .cancel       = mpi_cancel,
};
