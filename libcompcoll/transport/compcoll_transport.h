/*
 * libcompcoll: the transport interface.
 *
 * A transport moves the bytes of one compressed call between the ranks of a
 * communicator.  Each transport is one table of operations, chosen per
 * communicator when its state is created, never re-decided per call.
 *
 * Rules every implementation keeps:
 *  - All MPI traffic goes through PMPI_* (the library is an MPI profiler).
 *  - comm_create is collective over the communicator and returns the same
 *    status on every rank: when one rank cannot set up, every rank gets
 *    COMPCOLL_ERR_UNAVAILABLE and the caller falls back to another transport.
 *  - The collective operations are blocking; every rank of the
 *    communicator calls them in the same order with the same sizes.  The
 *    point-to-point ones (isend, irecv) are nonblocking, see below.
 *  - bytes_sent counts payload bytes this rank put on the wire (for the mpi
 *    transport, the bytes its algorithm model sends; see the man page).
 */
#ifndef COMPCOLL_TRANSPORT_H
#define COMPCOLL_TRANSPORT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "compcoll_status.h"
#include "compcoll_wire.h"

typedef struct compcoll_transport_ops compcoll_transport_ops_t;

/* One nonblocking send or receive (see isend); zeroed before first use,
 * idle again once test has reported it done. */
typedef struct {
    void       *impl;     /* the transport's request; NULL when idle */
    MPI_Request mpi;      /* the mpi transport's request */
    size_t      expected; /* receives: the bytes the matching send carries */
    int         peer;
    int         is_recv;
    int         active;
} compcoll_treq_t;

/* Per-communicator transport state; implementations embed it first. */
typedef struct compcoll_tcomm {
    const compcoll_transport_ops_t *ops;
    int                             rank;
    int                             size;
    uint64_t                        bytes_sent;
    /* Progress events seen by test and progress, for a transport that can
     * tell (ucx: what its worker's progress reports); a wait backs off
     * only while neither this nor its operations move. */
    uint64_t                        events;
    /* Set before comm_destroy when the user's communicator is being
     * disconnected (MPI_Comm_disconnect): the transport's own MPI
     * communicators are disconnected too, not only freed (UCX endpoints,
     * shared by a process's communicators, stay until finalize). */
    int                             disconnect;
} compcoll_tcomm_t;

struct compcoll_transport_ops {
    const char *name;

    /* Process-wide set-up and tear-down; init is local (no communication). */
    compcoll_status_t (*init)(void);
    void              (*finalize)(void);

    /* Collective over comm.  comm is the user's communicator: an
     * implementation that needs MPI traffic of its own dups it. */
    compcoll_status_t (*comm_create)(MPI_Comm comm, compcoll_tcomm_t **tcomm_p);
    void              (*comm_destroy)(compcoll_tcomm_t *tcomm);

    /* Broadcast bytes from root to every rank, in place. */
    compcoll_status_t (*bcast)(compcoll_tcomm_t *tcomm, void *buf,
                               size_t bytes, int root);

    /* In-place sum of count fp32 values across ranks.  Values travel as
     * `wire`; partial sums are kept in fp32.  Every rank ends with the same
     * bits in buf. */
    compcoll_status_t (*allreduce)(compcoll_tcomm_t *tcomm, float *buf,
                                   size_t count, compcoll_wire_t wire);

    /* Every rank contributes `bytes` bytes from sbuf; rbuf receives all
     * contributions in rank order (size * bytes).  sbuf may be rbuf +
     * rank * bytes (in place). */
    compcoll_status_t (*allgather)(compcoll_tcomm_t *tcomm, const void *sbuf,
                                   void *rbuf, size_t bytes);

    /* Rank r contributes counts[r] bytes (0 allowed) from sbuf; every rank
     * knows all counts.  rbuf receives the contributions concatenated in
     * rank order (at offset sum of counts[0..r-1]); sbuf may be that place
     * in rbuf (in place), and may be NULL when counts[r] is 0.  Summed over
     * ranks, bytes_sent is (p - 1) times the total; how it splits between
     * ranks is the algorithm's.  The bytes a rank sends
     * grow with the number of ranks: this is the exchange of methods whose
     * ranks pick different indices. */
    compcoll_status_t (*allgatherv)(compcoll_tcomm_t *tcomm, const void *sbuf,
                                    void *rbuf, const size_t *counts);

    /*
     * Nonblocking point to point, for methods that pipeline an exchange.
     * channels reserves `count` channels for one call and returns the
     * first; every rank calls it in the same order with the same count, so
     * the channels agree.  Messages between two ranks on one channel match
     * in the order they were sent.  isend and irecv start an operation on
     * an idle req; the buffer belongs to the transport until test reports
     * it done (*done = 1), which also checks that a receive got exactly
     * `bytes`.  test progresses the transport; progress only that.  cancel
     * abandons an operation without waiting for a peer: a receive is
     * cancelled; a send is let go, and its buffer stays the transport's
     * until the send completes on its own (the caller must not reuse it).
     * bytes_sent counts what isend sends.
     */
    uint32_t (*channels)(compcoll_tcomm_t *tcomm, unsigned count);
    compcoll_status_t (*isend)(compcoll_tcomm_t *tcomm, int peer,
                               const void *buf, size_t bytes, uint32_t chan,
                               compcoll_treq_t *req);
    compcoll_status_t (*irecv)(compcoll_tcomm_t *tcomm, int peer, void *buf,
                               size_t bytes, uint32_t chan,
                               compcoll_treq_t *req);
    compcoll_status_t (*test)(compcoll_tcomm_t *tcomm, compcoll_treq_t *req,
                              int *done);
    void (*progress)(compcoll_tcomm_t *tcomm);
    void (*cancel)(compcoll_tcomm_t *tcomm, compcoll_treq_t *req);
};

/*
 * Nonblocking collectives over any transport's point-to-point operations
 * (tcoll.c), for a method that keeps several in flight and works in
 * between (the pipelined ScaleCom exchange), and the transports' own ring
 * all-reduce.  Each runs on one channel (ops->channels), which every rank
 * reserves in the same order; one channel carries one operation at a time.
 * The buffers are the operation's until test reports it done.
 *
 *  - iallreduce: the in-place sum of count fp32 values, as ops->allreduce
 *    promises it (values travel as `wire`, partial sums stay fp32, every
 *    rank ends with the same bits), by a ring: each rank sends about
 *    2 count values whatever p is.  scratch holds
 *    compcoll_tcoll_scratch(p, count, wire) bytes.
 *  - ichain: `bytes` bytes from root to every rank along the ring (root to
 *    root + 1 to ...), each rank passing them on as soon as they are in:
 *    the pieces of a pipelined broadcast overlap.  `ready` is set once the
 *    bytes are in buf, before this rank's forward is done.
 *  - test moves an operation on as far as its messages allow and sets *done
 *    once this rank's part is over; `moves` counts its steps (a caller
 *    polling several backs off while none moves and tc->events stays).
 *    wait tests until done.
 *  - cancel abandons an operation after a failure (ops->cancel's rules: a
 *    send is let go, and its buffer, the caller's or the scratch, stays
 *    the transport's until it completes on its own; the library ends the
 *    job after a failure in the middle of a step, compcoll_fail.h, so it
 *    never reuses them).
 *  - allreduce: iallreduce and wait on a channel of its own.
 */
typedef struct compcoll_tcoll {
    int             phase;
    int             step;
    int             ready;   /* the result is in the buffer */
    unsigned        moves;   /* steps made so far */
    float          *buf;     /* iallreduce: the values */
    void           *data;    /* ichain: the bytes */
    size_t          count;   /* values, or bytes */
    compcoll_wire_t wire;
    unsigned char  *scratch;
    uint32_t        chan;
    int             root;
    compcoll_treq_t rreq, sreq;
} compcoll_tcoll_t;

size_t            compcoll_tcoll_scratch(int p, size_t count,
                                         compcoll_wire_t wire);
compcoll_status_t compcoll_tcoll_iallreduce(compcoll_tcomm_t *tc, float *buf,
                                            size_t count, compcoll_wire_t wire,
                                            void *scratch, uint32_t chan,
                                            compcoll_tcoll_t *op);
compcoll_status_t compcoll_tcoll_ichain(compcoll_tcomm_t *tc, void *buf,
                                        size_t bytes, int root, uint32_t chan,
                                        compcoll_tcoll_t *op);
compcoll_status_t compcoll_tcoll_test(compcoll_tcomm_t *tc,
                                      compcoll_tcoll_t *op, int *done);
compcoll_status_t compcoll_tcoll_wait(compcoll_tcomm_t *tc,
                                      compcoll_tcoll_t *op);
/* After one look at operations in flight (moved: whether any did): the
 * back-off starts over when they moved or tc->events changed since
 * *events, and grows otherwise. */
void              compcoll_tcoll_pace(compcoll_tcomm_t *tc, int moved,
                                      uint64_t *events, unsigned *idle);
void              compcoll_tcoll_cancel(compcoll_tcomm_t *tc,
                                        compcoll_tcoll_t *op);
compcoll_status_t compcoll_tcoll_allreduce(compcoll_tcomm_t *tc, float *buf,
                                           size_t count, compcoll_wire_t wire,
                                           void *scratch);

/* The transports this build has (ucx only when configured with UCX). */
extern const compcoll_transport_ops_t compcoll_mpi_transport;
#ifdef HAVE_UCX
extern const compcoll_transport_ops_t compcoll_ucx_transport;
#endif

#endif
