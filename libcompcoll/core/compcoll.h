/*
 * libcompcoll: the library's entry points, as interpose/ sees them.
 */
#ifndef COMPCOLL_H
#define COMPCOLL_H

#include <mpi.h>
#include <stddef.h>

#include "compcoll_clock.h"
#include "compcoll_config.h"
#include "compcoll_registry.h"
#include "compcoll_status.h"

/* Entry points of the library: interpose/ marks them exported. */
#define COMPCOLL_EXPORT __attribute__((visibility("default")))

struct compcoll_gpu_tensor;

typedef struct compcoll_method {
    int         id;          /* compcoll_method_id_t */
    const char *name;
    const char *description;
    compcoll_status_t (*allreduce)(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                   const float *g, float *out, size_t n);
    /* g and out in memory of gt's device (compcoll_memtype.h).  NULL: the
     * core stages device buffers through host memory for allreduce. */
    compcoll_status_t (*allreduce_gpu)(compcoll_comm_t *cc,
                                       compcoll_tensor_t *t,
                                       struct compcoll_gpu_tensor *gt,
                                       const float *g, float *out, size_t n);
} compcoll_method_t;

extern const compcoll_method_t compcoll_method_scalecom;
extern const compcoll_method_t compcoll_method_adacomp;
extern const compcoll_method_t compcoll_method_topk;
extern const compcoll_method_t compcoll_method_dense;

/*
 * Process set-up after PMPI_Init(_thread) succeeded, local only.  A bad
 * configuration returns COMPCOLL_ERR_INVALID_PARAM with the messages kept
 * for compcoll_init_report(); every other failure degrades (one warning).
 */
compcoll_status_t compcoll_init(int thread_level);
/* Before MPI_Init: whether the environment turns compression on, read by
 * the configuration table's parsers (an invalid value counts as on:
 * compcoll_init then stops the job with the message). */
int               compcoll_env_compresses(void);
/*
 * After compcoll_init succeeded on every rank, collective over
 * MPI_COMM_WORLD: whether every setting that decides which collectives a
 * rank makes is the same everywhere.  Rank 0 names what differs and on
 * which ranks; every rank gets COMPCOLL_ERR_INVALID_PARAM.
 */
compcoll_status_t compcoll_settings_agree(void);
/* Print the configuration errors of a failed compcoll_init. */
void              compcoll_init_report(void);
/* Stats, state and transports torn down; before PMPI_Finalize. */
void              compcoll_finalize(void);
int               compcoll_initialized(void);

/*
 * Rank-invariant eligibility of a sum of count elements of dt on comm
 * (blocking, or nonblocking when `nonblocking`); *why says why not, for the
 * trace.  Only what every rank passes alike is looked at.
 */
int compcoll_allreduce_eligible(MPI_Count count, MPI_Datatype dt, MPI_Op op,
                                MPI_Comm comm, int nonblocking,
                                const char **why);
compcoll_status_t compcoll_allreduce(const void *sbuf, void *rbuf,
                                     size_t count, MPI_Comm comm);

/*
 * A nonblocking call: queued on comm's progress thread, which runs the
 * communicator's nonblocking calls one after the other, in the order they
 * were started, and then calls done(arg, status) once.  A blocking call on
 * comm waits for the nonblocking calls started before it.  Returns OK when
 * done will be called; otherwise done is never called.
 */
typedef void (*compcoll_done_fn_t)(void *arg, compcoll_status_t status);
compcoll_status_t compcoll_iallreduce(const void *sbuf, void *rbuf,
                                      size_t count, MPI_Comm comm,
                                      compcoll_done_fn_t done, void *arg);

/* One call on cc, flat or hierarchical; the caller holds cc->lock. */
compcoll_status_t compcoll_comm_call(compcoll_comm_t *cc, const void *sbuf,
                                     void *rbuf, size_t count);
/* Wait until every nonblocking call started on cc has completed. */
void compcoll_nbc_drain(compcoll_comm_t *cc);
/* Drain cc and end its progress thread (before its state goes). */
void compcoll_nbc_stop(compcoll_comm_t *cc);

/* The thread level MPI provided. */
int compcoll_thread_level(void);
/* A method's device path that cannot start (nothing exchanged yet): the
 * same call through host memory. */
compcoll_status_t compcoll_allreduce_staged(compcoll_comm_t *cc,
                                            compcoll_tensor_t *t,
                                            const float *g, float *out,
                                            size_t n);
/* Whether the method runs for device buffers staged through host memory
 * (its host path then must not start what a device rank cannot follow). */
int compcoll_staging(void);
/* Count a call that went to PMPI. */
void compcoll_note_passthrough(const char *what, MPI_Count count,
                               const char *why);
/*
 * PMPI_Allreduce for a passthrough call, staging device buffers through host
 * memory (the MPI library is not CUDA-aware).  *rc is PMPI's result; a
 * status other than OK means staging failed and PMPI was not called.
 */
compcoll_status_t compcoll_passthrough_allreduce(const void *sbuf, void *rbuf,
                                                 int count, MPI_Datatype dt,
                                                 MPI_Op op, MPI_Comm comm,
                                                 int *rc);

/* The method and kernels this process runs. */
const compcoll_method_t      *compcoll_method(void);
const compcoll_kernel_ops_t  *compcoll_kernels(void);
const compcoll_transport_ops_t *compcoll_transport(void);
compcoll_select_scratch_t    *compcoll_select_scratch(void);


#endif
