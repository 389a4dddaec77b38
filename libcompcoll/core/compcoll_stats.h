/*
 * libcompcoll: statistics, reported by rank 0 at MPI_Finalize.
 */
#ifndef COMPCOLL_STATS_H
#define COMPCOLL_STATS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

struct compcoll_stats_tensor {
    struct compcoll_stats_tensor *next;
    char                          key[96];
    uint64_t                      count;
    uint64_t                      calls;
    uint64_t                      k;
    uint64_t                      elements_sent; /* this rank's values */
    uint64_t                      bytes_sent;    /* this rank's bytes */
};

typedef struct {
    uint64_t calls_compressed;  /* sparse exchanges */
    uint64_t calls_dense;       /* library calls summed densely */
    uint64_t calls_passthrough; /* calls handed to PMPI */
    uint64_t calls_hierarchical; /* calls summed on the node first */
    uint64_t calls_pipelined;    /* compressed calls pipelined (scalecom) */
    uint64_t calls_no_memory;   /* sparse calls on a rank without memory */
    uint64_t calls_failed;      /* library calls that failed (every rank) */
    uint64_t calls_nonfinite;   /* calls that left a NaN/Inf in a memory */
    uint64_t select_fallbacks;  /* sample selections redone by exact */
    uint64_t diag_calls;        /* COMPCOLL_DIAG_EVERY: calls measured */
    double   diag_captured_sum; /* their captured energy fractions, summed */
    double   diag_captured_min; /* the least (valid when diag_calls > 0) */
    uint64_t bytes_dense;       /* what a dense ring all-reduce would send */
    uint64_t bytes_sent;        /* what the transport sent */
    uint64_t elements_in;       /* elements of the library's calls */
    uint64_t elements_sent;     /* values exchanged */
    double   time_select;       /* leader's index selection */
    double   time_host;         /* fused memory/output passes */
    double   time_comm;         /* transport time */
    double   time_node;         /* the node's reduce and broadcast */
    uint64_t tensors_unlisted;  /* records beyond the list's bound */
    uint64_t transport_fallbacks; /* communicators moved to mpi */
    uint64_t tensors_retired;   /* memories dropped unused (COMPCOLL_KEY) */
} compcoll_stats_t;

/*
 * Each thread counts into a block of its own, so that calls on different
 * communicators from different threads never race on a counter; the report
 * adds the blocks up.  Code writes `compcoll_stats.x += ...` as if there
 * were one.
 */
compcoll_stats_t *compcoll_stats_local(void);
#define compcoll_stats (*compcoll_stats_local())

/* A record for the report's tensor list (NULL beyond its bound). */
struct compcoll_stats_tensor *compcoll_stats_tensor_new(const char *key,
                                                        size_t count,
                                                        size_t k);
/* Collective over world: reduce, then rank 0 prints or writes. */
void compcoll_stats_report(MPI_Comm world);
void compcoll_stats_free(void);

#endif
