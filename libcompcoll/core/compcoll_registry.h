/*
 * libcompcoll: communicator state and the tensor registry.
 *
 * Communicator state hangs off the user's communicator as an MPI attribute,
 * so MPI itself drops it when the communicator is freed and a dup starts
 * with none (the keyval's copy function is the null one).  Each
 * communicator owns its tensors: their error-feedback memory goes with it.
 */
#ifndef COMPCOLL_REGISTRY_H
#define COMPCOLL_REGISTRY_H

#include <mpi.h>
#include <pthread.h>
#include <stdint.h>

#include "compcoll_kernels.h"
#include "compcoll_status.h"
#include "compcoll_topo.h"
#include "compcoll_transport.h"

typedef struct compcoll_stats_tensor compcoll_stats_tensor_t;

/*
 * A memory unused for this many cycles of its communicator's calls is
 * retired (freed, counted as tensors_retired, warned about once): a cycle
 * is the learned cycle of COMPCOLL_KEY=auto/sequence, else the most calls
 * seen between two calls on one tensor.
 */
#define COMPCOLL_RETIRE_CYCLES 8

typedef struct compcoll_tensor {
    struct compcoll_tensor  *next;      /* hash chain */
    uint64_t                 key;       /* address, or sequence position */
    uint64_t                 addr;      /* the buffer of its latest call */
    size_t                   count;
    float                   *mem;       /* NULL: no memory held */
    compcoll_topo_mem_kind_t mem_kind;  /* how mem was allocated */
    uint64_t                 calls;     /* calls on this tensor, any mode */
    int                      sparse_last; /* its last call was sparse
                                           * (scalecom; COMPCOLL_DIAG_EVERY) */
    size_t                   k_last;    /* the k of that call */
    int                      dense_next; /* its last call left a NaN or
                                          * infinity in some rank's memory:
                                          * the next is summed densely */
    uint64_t                 last;      /* the comm's call count at its
                                         * latest call (retirement) */
    compcoll_stats_tensor_t *stats;
    float                   *mom;       /* COMPCOLL_MOMENTUM: 3 count words,
                                         * the velocity u, then the previous
                                         * call's nonzero sums, values and
                                         * indices; NULL until needed */
    size_t                   mom_nnz;   /* how many of those */
    uint64_t                 mom_tag;   /* a fingerprint of the calls since
                                         * mom was last zeroed and their
                                         * sums, alike on every rank; 0:
                                         * none since */
    int                      stand_in;  /* a copy a rank that cannot take
                                         * its part makes the call with */
} compcoll_tensor_t;

/*
 * The k of tensor t's current call of n elements: ceil(n / ratio), the ratio
 * COMPCOLL_RATIO once the tensor's COMPCOLL_RAMP calls after its warm-up
 * are done, rising geometrically from min(4, COMPCOLL_RATIO) before.  It
 * depends on the configuration (agreed at MPI_Init) and on this rank's
 * call count of the tensor, which ranks whose buffers are keyed apart can
 * see differently: during a ramp a method takes the leader's.
 */
size_t compcoll_tensor_k(const compcoll_tensor_t *t, size_t n);

/* Words of t->mom per element: u, and the previous sums' values and
 * indices (at most count of each). */
#define COMPCOLL_MOM_WORDS 3

/* t->mom (3 t->count words), zeroed, within COMPCOLL_MAX_MEMORY
 * (COMPCOLL_MOMENTUM); OK when
 * t has it, COMPCOLL_ERR_NO_MEMORY when it does not fit or the allocation
 * failed. */
compcoll_status_t compcoll_tensor_momentum(compcoll_tensor_t *t);
/* t's momentum state zeroed, as after a failed call on every rank. */
void compcoll_tensor_momentum_clear(compcoll_tensor_t *t);
/* The largest k a call of n elements can have (the ramp's first), and the
 * smallest (ceil(n / ratio)). */
size_t compcoll_k_max(size_t n);
size_t compcoll_k_min(size_t n);

/* The learned cycle of counts for COMPCOLL_KEY=sequence. */
typedef struct {
    size_t *counts;
    size_t  len;
    size_t  cap;
    size_t  pos;     /* next position once learned */
    int     learned;
} compcoll_seq_t;

/* A call of the window, or a position of the cycle, of COMPCOLL_KEY=auto. */
typedef struct {
    compcoll_tensor_t *t;     /* NULL: this rank could not make it (yet) */
    uint64_t           addr;  /* its buffer (the window's) */
    size_t             count;
} compcoll_auto_call_t;

/*
 * COMPCOLL_KEY=auto (registry.c): while learning, calls are keyed by
 * buffer address and recorded in `win`; once the cycle of calls is known,
 * by their position in it, whatever buffer they come in.  The ranks learn
 * in step: each learning call begins with their agreement on what it ends.
 */
typedef struct {
    compcoll_auto_call_t *win;   /* learning: each call */
    size_t                wlen, wcap;
    int                   lost;  /* a call missing from this rank's
                                  * window: every rank learns anew */
    compcoll_auto_call_t *cycle; /* learned: each position (room for
                                  * wcap) */
    size_t                len;   /* learned cycle length (0: learning) */
    size_t                pos;   /* next position */
} compcoll_auto_t;

struct compcoll_nbc_op;

typedef struct compcoll_comm {
    struct compcoll_comm *prev, *next;  /* every live state, for finalize */
    /* Held for the length of a call on this communicator (the calls of a
     * communicator are in one order on every rank; different
     * communicators' calls run concurrently). */
    pthread_mutex_t       lock;
    /* Nonblocking calls (nbc.c), under qlock. */
    pthread_mutex_t       qlock;
    pthread_cond_t        qcond;
    struct compcoll_nbc_op *qhead, *qtail;
    unsigned              pending;      /* queued or running */
    int                   worker_on;
    int                   worker_stop;
    pthread_t             worker;
    MPI_Comm              comm;         /* the user's handle */
    uint64_t              id;           /* equal on all members, unique */
    int                   rank;
    int                   size;
    uint64_t              ncalls;       /* s_c: compressed calls so far */
    MPI_Comm              ctl;          /* a dup for the outcome agreement
                                         * (compcoll_fail.h) */
    int                   broken;       /* a transport failed: calls pass
                                         * through to MPI */
    int                   disconnect;   /* being dropped by
                                         * MPI_Comm_disconnect: its own
                                         * communicators are disconnected */
    int                   transport_failed; /* some rank's transport failed
                                             * in a call (agreed) */
    uint64_t              sparse_calls; /* sparse scalecom calls, agreed
                                         * (COMPCOLL_DIAG_EVERY) */
    compcoll_tcomm_t     *tcomm;
    compcoll_tensor_t   **buckets;
    size_t                nbuckets;
    size_t                ntensors;
    compcoll_seq_t        seq;
    compcoll_auto_t       autok;        /* COMPCOLL_KEY=auto */
    compcoll_tensor_t   **all;          /* every tensor, for auto and
                                         * retirement */
    size_t                nall, allcap;
    uint64_t              retire_at;    /* ncalls of the next sweep */
    uint64_t              max_reuse;    /* most calls between two calls on
                                         * one tensor */
    compcoll_buf_t        msg;          /* header + indices; own stream */
    compcoll_buf_t        icode;        /* the indices as sent (scalecom) */
    compcoll_buf_t        vals;         /* the k values */
    compcoll_buf_t        gather;       /* every rank's stream (allgatherv) */
    compcoll_buf_t        sizes;        /* every rank's stream header */
    compcoll_buf_t        pipe;         /* a pipelined call's pieces */
    compcoll_buf_t        mom;          /* COMPCOLL_MOMENTUM: a call's nonzero
                                         * sums, indices then values */
    /*
     * COMPCOLL_HIERARCHICAL: the ranks of a node sum on `node` into its
     * rank 0, the node leader; the leaders run the method on `inner`, the
     * flat state of `leaders`.  node == MPI_COMM_NULL: flat, the method
     * runs on this state itself.
     */
    MPI_Comm              node;
    MPI_Comm              leaders;      /* MPI_COMM_NULL off the leaders */
    int                   node_rank;
    int                   nnodes;
    struct compcoll_comm *inner;        /* NULL off the leaders */
} compcoll_comm_t;

compcoll_status_t compcoll_registry_init(void);
void              compcoll_registry_finalize(void);

/* The state of comm, created collectively on first use. */
compcoll_status_t compcoll_comm_get(MPI_Comm comm, compcoll_comm_t **cc_p);
/* Drop comm's state now (MPI_Comm_free, or MPI_Comm_disconnect when
 * disconnect: the library's own communicators of it are disconnected
 * too); no-op when it has none. */
void              compcoll_comm_release(MPI_Comm comm, int disconnect);

/* The tensor state for this call; creates it (memory within the cap). */
compcoll_status_t compcoll_tensor_get(compcoll_comm_t *cc, const void *gbuf,
                                      size_t count, compcoll_tensor_t **t_p);

/* A call on tensor t that goes ahead: the statistics' calls, elements and
 * dense-equivalent bytes (compcoll_call_end counts the call itself). */
void compcoll_count_call(compcoll_comm_t *cc, compcoll_tensor_t *t, size_t n);

/* Bytes of error-feedback memory held by this process. */
size_t compcoll_registry_memory(void);

#endif
