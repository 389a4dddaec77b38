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
#include <stdint.h>

#include "compcoll_kernels.h"
#include "compcoll_status.h"
#include "compcoll_topo.h"
#include "compcoll_transport.h"

typedef struct compcoll_stats_tensor compcoll_stats_tensor_t;

typedef struct compcoll_tensor {
    struct compcoll_tensor  *next;      /* hash chain */
    uint64_t                 key;       /* address, or sequence position */
    size_t                   count;
    float                   *mem;       /* NULL: no memory held */
    compcoll_topo_mem_kind_t mem_kind;  /* how mem was allocated */
    uint64_t                 calls;     /* calls on this tensor, any mode */
    compcoll_stats_tensor_t *stats;
} compcoll_tensor_t;

/* The learned cycle of counts for COMPCOLL_KEY=sequence. */
typedef struct {
    size_t *counts;
    size_t  len;
    size_t  cap;
    size_t  pos;     /* next position once learned */
    int     learned;
} compcoll_seq_t;

typedef struct compcoll_comm {
    struct compcoll_comm *prev, *next;  /* every live state, for finalize */
    MPI_Comm              comm;         /* the user's handle */
    uint64_t              id;           /* equal on all members, unique */
    int                   rank;
    int                   size;
    uint64_t              ncalls;       /* s_c: compressed calls so far */
    compcoll_tcomm_t     *tcomm;
    compcoll_tensor_t   **buckets;
    size_t                nbuckets;
    size_t                ntensors;
    compcoll_seq_t        seq;
    compcoll_buf_t        msg;          /* header + indices; own stream */
    compcoll_buf_t        icode;        /* the indices as sent (scalecom) */
    compcoll_buf_t        vals;         /* the k values */
    compcoll_buf_t        gather;       /* every rank's stream (allgatherv) */
    compcoll_buf_t        sizes;        /* every rank's stream header */
    compcoll_buf_t        pipe;         /* a pipelined call's pieces */
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
/* Drop comm's state now (MPI_Comm_free); no-op when it has none. */
void              compcoll_comm_release(MPI_Comm comm);

/* The tensor state for this call; creates it (memory within the cap). */
compcoll_status_t compcoll_tensor_get(compcoll_comm_t *cc, const void *gbuf,
                                      size_t count, compcoll_tensor_t **t_p);

/* A call on tensor t that goes ahead: the communicator's call counter (the
 * leader rotation), the tensor's, and the statistics' elements and
 * dense-equivalent bytes. */
void compcoll_count_call(compcoll_comm_t *cc, compcoll_tensor_t *t, size_t n);

/* Bytes of error-feedback memory held by this process. */
size_t compcoll_registry_memory(void);

#endif
