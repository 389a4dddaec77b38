/*
 * libcompcoll: process set-up, eligibility and dispatch.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compcoll_log.h"
#include "compcoll_stats.h"

extern char **environ;

/* Every method the library runs, by compcoll_method_id_t (none has no row:
 * it never reaches a method). */
static const compcoll_method_t *const cc_methods[] = {
    [COMPCOLL_METHOD_SCALECOM] = &compcoll_method_scalecom,
    [COMPCOLL_METHOD_ADACOMP]  = &compcoll_method_adacomp,
    [COMPCOLL_METHOD_TOPK]     = &compcoll_method_topk,
    [COMPCOLL_METHOD_DENSE]    = &compcoll_method_dense,
};

static int                             cc_initialized;
static int                             cc_active;      /* compressing at all */
static int                             cc_serialize;   /* MPI_THREAD_MULTIPLE */
static pthread_mutex_t                 cc_lock = PTHREAD_MUTEX_INITIALIZER;
static const compcoll_method_t        *cc_method;
static const compcoll_transport_ops_t *cc_transport;
static compcoll_select_scratch_t       cc_scratch;
static char                            cc_errors[4096]; /* config errors */
static int                             cc_world_rank;

double compcoll_time(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const compcoll_method_t *compcoll_method(void)
{
    return cc_method;
}

const compcoll_kernel_ops_t *compcoll_kernels(void)
{
    return &compcoll_host_kernels;
}

const compcoll_transport_ops_t *compcoll_transport(void)
{
    return cc_transport;
}

compcoll_select_scratch_t *compcoll_select_scratch(void)
{
    return &cc_scratch;
}

int compcoll_initialized(void)
{
    return cc_initialized;
}

static void cc_keep_error(void *ctx, const char *msg)
{
    size_t used = strlen(cc_errors);

    snprintf(cc_errors + used, sizeof(cc_errors) - used, "%s\n", msg);
}

static void cc_warn_unknown(void *ctx, const char *msg)
{
    if (cc_world_rank == 0) {
        compcoll_warn("%s", msg);
    }
}

void compcoll_init_report(void)
{
    char *line, *save = NULL;

    for (line = strtok_r(cc_errors, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        compcoll_error("%s", line);
    }
    compcoll_error("libcompcoll refuses to run with an invalid configuration; "
                   "`compcoll-info -c` lists every variable and its values");
}

compcoll_status_t compcoll_init(int thread_level)
{
    compcoll_status_t status;

    PMPI_Comm_rank(MPI_COMM_WORLD, &cc_world_rank);
    compcoll_log_set_rank(cc_world_rank);

    cc_errors[0] = '\0';
    status = compcoll_cfg_parse(&compcoll_cfg, environ, cc_keep_error,
                                cc_warn_unknown, NULL);
    compcoll_log_level = (compcoll_log_level_t)compcoll_cfg.log_level;
    if (status != COMPCOLL_OK) {
        return status;
    }

    cc_initialized = 1;
    cc_active      = compcoll_cfg.enable &&
                     compcoll_cfg.method != COMPCOLL_METHOD_NONE;
    cc_serialize   = (thread_level == MPI_THREAD_MULTIPLE);
    if (!cc_active) {
        compcoll_info("compression off: every call goes to the MPI library");
        return COMPCOLL_OK;
    }
    cc_method = cc_methods[compcoll_cfg.method];

    status = compcoll_registry_init();
    if (status != COMPCOLL_OK) {
        goto degrade;
    }

    cc_transport = &compcoll_mpi_transport;
    if (compcoll_cfg.transport == COMPCOLL_TRANSPORT_UCX) {
#ifdef HAVE_UCX
        /* Even when init fails locally, the ucx transport stays selected:
         * its comm_create then reports UNAVAILABLE on every rank of each
         * communicator, so all ranks fall back together. */
        cc_transport = &compcoll_ucx_transport;
#else
        if (cc_world_rank == 0) {
            compcoll_warn("built without UCX: using the mpi transport");
        }
#endif
    }
    status = cc_transport->init();
    if (status != COMPCOLL_OK && cc_transport == &compcoll_mpi_transport) {
        goto degrade;
    }
    status = (cc_transport == &compcoll_mpi_transport)
                 ? COMPCOLL_OK
                 : compcoll_mpi_transport.init();
    if (status != COMPCOLL_OK) {
        goto degrade;
    }
    compcoll_info("libcompcoll %s: method %s, transport %s, ratio %u",
                  PACKAGE_VERSION, cc_method->name, cc_transport->name,
                  compcoll_cfg.ratio);
    return COMPCOLL_OK;

degrade:
    compcoll_warn("set-up failed (%s): every call goes to the MPI library",
                  compcoll_status_string(status));
    cc_active = 0;
    return COMPCOLL_OK;
}

void compcoll_finalize(void)
{
    if (!cc_initialized) {
        return;
    }
    if (compcoll_cfg.stats != COMPCOLL_STATS_OFF) {
        compcoll_stats_report(MPI_COMM_WORLD);
    }
    if (cc_active) {
        compcoll_registry_finalize();
        if (cc_transport != &compcoll_mpi_transport) {
            cc_transport->finalize();
        }
        compcoll_mpi_transport.finalize();
    }
    compcoll_buf_release(&cc_scratch.cand);
    compcoll_buf_release(&cc_scratch.above);
    compcoll_buf_release(&cc_scratch.keys);
    compcoll_stats_free();
    cc_active      = 0;
    cc_initialized = 0;
}

int compcoll_allreduce_eligible(int count, MPI_Datatype dt, MPI_Op op,
                                MPI_Comm comm, const char **why)
{
    int inter = 0;

    if (!cc_initialized) {
        *why = "library not initialised (MPI_Init not intercepted)";
    } else if (!cc_active) {
        *why = "compression off";
    } else if (dt != MPI_FLOAT) {
        *why = "datatype is not MPI_FLOAT";
    } else if (op != MPI_SUM) {
        *why = "op is not MPI_SUM";
    } else if (count < 0 || (unsigned)count < compcoll_cfg.min_count) {
        *why = "count below COMPCOLL_MIN_COUNT";
    } else if (comm == MPI_COMM_NULL) {
        *why = "MPI_COMM_NULL";
    } else if (PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter) {
        *why = "intercommunicator";
    } else {
        return 1;
    }
    return 0;
}

void compcoll_note_passthrough(const char *what, int count, const char *why)
{
    compcoll_stats.calls_passthrough++;
    compcoll_trace("%s count=%d: passthrough: %s", what, count, why);
}

compcoll_status_t compcoll_allreduce(const void *sbuf, void *rbuf, int count,
                                     MPI_Comm comm)
{
    const float       *g = (sbuf == MPI_IN_PLACE) ? rbuf : sbuf;
    compcoll_status_t  status;
    compcoll_comm_t   *cc;
    compcoll_tensor_t *t;

    if (cc_serialize) {
        pthread_mutex_lock(&cc_lock);
    }
    status = compcoll_comm_get(comm, &cc);
    if (status == COMPCOLL_OK) {
        status = compcoll_tensor_get(cc, g, (size_t)count, &t);
    }
    if (status == COMPCOLL_OK) {
        status = cc_method->allreduce(cc, t, g, rbuf, (size_t)count);
    }
    if (cc_serialize) {
        pthread_mutex_unlock(&cc_lock);
    }
    return status;
}
