/*
 * ucx_transport: the UCX transport's private header.
 *
 * Shared by ucx_context.c (context, worker, endpoint cache, waiting),
 * ucx_comm.c (per-communicator set-up) and ucx_coll.c (the collectives).
 * Only the test program includes it from outside this folder, for the
 * inspection hooks at the bottom.
 */
#ifndef COMPCOLL_UCX_H
#define COMPCOLL_UCX_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <ucp/api/ucp.h>

#include "compcoll_agree.h"
#include "compcoll_clock.h"
#include "compcoll_log.h"
#include "compcoll_status.h"
#include "compcoll_transport.h"

/*
 * Tag layout, high to low: communicator id | operation sequence | source rank.
 * The id keeps communicators apart on the one shared worker, the sequence
 * keeps a rank that ran ahead (a bcast root, say) from matching the previous
 * operation's messages, and the source rank makes every receive name its
 * sender.  Messages of one operation between the same pair share a tag: UCP
 * matches tagged messages from one endpoint in the order they were sent.
 */
#define COMPCOLL_UCX_TAG_RANK_BITS 24
#define COMPCOLL_UCX_TAG_SEQ_BITS 16
#define COMPCOLL_UCX_TAG_ID_BITS 24
#define COMPCOLL_UCX_TAG_SEQ_SHIFT COMPCOLL_UCX_TAG_RANK_BITS
#define COMPCOLL_UCX_TAG_ID_SHIFT                                              \
    (COMPCOLL_UCX_TAG_RANK_BITS + COMPCOLL_UCX_TAG_SEQ_BITS)
#define COMPCOLL_UCX_TAG_MASK_ALL UINT64_MAX
#define COMPCOLL_UCX_MAX_RANKS (1 << COMPCOLL_UCX_TAG_RANK_BITS)

/*
 * Check a UCX call that returns ucs_status_t: on failure log "<what>: <call
 * text> failed: <UCX status string>" at _level, set _status to _err and jump
 * to _label.  _what says what the failure means to the user.
 */
#define COMPCOLL_UCX_CHECK_GOTO(_what, _call, _level, _status, _err, _label)   \
    do {                                                                       \
        ucs_status_t _ust = (_call);                                           \
        if (_ust != UCS_OK) {                                                  \
            compcoll_log((_level), "%s: %s failed: %s", (_what), #_call,       \
                         ucs_status_string(_ust));                             \
            (_status) = (_err);                                                \
            goto _label;                                                       \
        }                                                                      \
    } while (0)

/* The same for calls that return ucs_status_ptr_t: _req receives the request
 * (NULL for an immediate completion, and after a failure). */
#define COMPCOLL_UCX_PTR_CHECK_GOTO(_what, _req, _call, _level, _status, _err, \
                                    _label)                                    \
    do {                                                                       \
        (_req) = (_call);                                                      \
        if (UCS_PTR_IS_ERR(_req)) {                                            \
            compcoll_log((_level), "%s: %s failed: %s", (_what), #_call,       \
                         ucs_status_string(UCS_PTR_STATUS(_req)));             \
            (_req)    = NULL;                                                  \
            (_status) = (_err);                                                \
            goto _label;                                                       \
        }                                                                      \
    } while (0)

/* The library is built -fvisibility=hidden; say it here too, so that a hand
 * build without that flag does not export these internals either. */
#pragma GCC visibility push(hidden)

/* The process-wide UCX state.  One worker serves every communicator. */
typedef struct compcoll_ucx_ep_entry compcoll_ucx_ep_entry_t;

typedef struct compcoll_ucx_context {
    ucp_context_h             context;
    ucp_worker_h              worker;
    ucp_address_t            *address;
    size_t                    address_len;
    int                       ready;        /* init succeeded, not finalized */
    unsigned                  epoch;        /* bumped by every finalize */
    compcoll_id_counter_t     ids;          /* communicator ids (tags) */
    pthread_mutex_t           ep_lock;      /* the endpoint cache */
    compcoll_ucx_ep_entry_t **ep_buckets;   /* endpoint cache, by address */
    size_t                    ep_nbuckets;
    size_t                    ep_count;
} compcoll_ucx_context_t;

extern compcoll_ucx_context_t compcoll_ucx_ctx;

/* Per-communicator state; the interface's part comes first. */
typedef struct compcoll_ucx_comm {
    compcoll_tcomm_t super;
    uint64_t         id;      /* agreed among the members */
    uint64_t         tag_id;  /* id, already shifted into place */
    uint32_t         seq;     /* operations started on this communicator */
    unsigned         epoch;   /* compcoll_ucx_ctx.epoch at creation */
    ucp_ep_h        *eps;     /* by rank; NULL for this rank; cache-owned */
    void            *scratch; /* wire buffers, grown on demand */
    size_t           scratch_size;
} compcoll_ucx_comm_t;

/* One outstanding send or receive of a collective step. */
typedef struct compcoll_ucx_op {
    void  *req; /* NULL once complete (or never posted) */
    int    is_recv;
    size_t expected; /* receives: bytes the matching send must carry */
    int    peer;     /* for the log line */
} compcoll_ucx_op_t;

/* ucx_context.c */
compcoll_status_t compcoll_ucx_ep_get(const void *address, size_t len,
                                      ucp_ep_h *ep_p);
compcoll_status_t compcoll_ucx_wait(compcoll_ucx_op_t *ops, int nops,
                                    const char *what);
int               compcoll_ucx_op_done(compcoll_ucx_op_t *op, const char *what,
                                       compcoll_status_t *status);
void              compcoll_ucx_abandon(compcoll_ucx_op_t *ops, int nops);

/* ucx_comm.c */
compcoll_status_t compcoll_ucx_comm_create(MPI_Comm           comm,
                                           compcoll_tcomm_t **tcomm_p);
void              compcoll_ucx_comm_destroy(compcoll_tcomm_t *tcomm);
compcoll_status_t compcoll_ucx_comm_scratch(compcoll_ucx_comm_t *ucomm,
                                            size_t               bytes);

/* ucx_coll.c */
compcoll_status_t compcoll_ucx_bcast(compcoll_tcomm_t *tcomm, void *buf,
                                     size_t bytes, int root);
compcoll_status_t compcoll_ucx_allreduce(compcoll_tcomm_t *tcomm, float *buf,
                                         size_t count, compcoll_wire_t wire);
compcoll_status_t compcoll_ucx_allgather(compcoll_tcomm_t *tcomm,
                                         const void *sbuf, void *rbuf,
                                         size_t bytes);
compcoll_status_t compcoll_ucx_allgatherv(compcoll_tcomm_t *tcomm,
                                          const void *sbuf, void *rbuf,
                                          const size_t *counts);
uint32_t          compcoll_ucx_channels(compcoll_tcomm_t *tcomm,
                                        unsigned          count);
compcoll_status_t compcoll_ucx_isend(compcoll_tcomm_t *tcomm, int peer,
                                     const void *buf, size_t bytes,
                                     uint32_t chan, compcoll_treq_t *req);
compcoll_status_t compcoll_ucx_irecv(compcoll_tcomm_t *tcomm, int peer,
                                     void *buf, size_t bytes, uint32_t chan,
                                     compcoll_treq_t *req);
compcoll_status_t compcoll_ucx_test(compcoll_tcomm_t *tcomm,
                                    compcoll_treq_t *req, int *done);
void              compcoll_ucx_progress(compcoll_tcomm_t *tcomm);
void              compcoll_ucx_cancel(compcoll_tcomm_t *tcomm,
                                      compcoll_treq_t  *req);

/* Inspection hooks for tests/mpi/test_transport.c: the number of cached
 * endpoints and a communicator's agreed id. */
size_t   compcoll_ucx_ep_cache_size(void);
uint64_t compcoll_ucx_comm_id(const compcoll_tcomm_t *tcomm);

#pragma GCC visibility pop

#endif
