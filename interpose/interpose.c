/*
 * libcompcoll's MPI entry points.  Each one has the same shape: a pure,
 * rank-invariant eligibility test, then the library call, else the PMPI
 * function unchanged.  Nothing else of the library is exported.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll.h"
#include "compcoll_log.h"

/*
 * Set-up after PMPI_Init(_thread) succeeded.  A bad configuration, or
 * settings that differ between the ranks, stop the job: the ranks agree on
 * it, one rank prints why, and every rank finalizes MPI and exits non-zero.
 */
static void compcoll_mpi_setup(int provided)
{
    compcoll_status_t status = compcoll_init(provided);
    int               rank   = 0, bad, first = INT_MAX;

    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    bad = (status == COMPCOLL_OK) ? INT_MAX : rank;
    if (PMPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) !=
        MPI_SUCCESS) {
        first = bad;
    }
    if (first == INT_MAX) {
        if (compcoll_settings_agree() == COMPCOLL_OK) {
            return;
        }
    } else if (rank == first) {
        compcoll_init_report();
    }
    compcoll_finalize();
    PMPI_Finalize();
    exit(EXIT_FAILURE);
}

/* The only place a status becomes an MPI error: raise it on comm's error
 * handler, as the MPI library would have for its own failure. */
static int compcoll_status_code(compcoll_status_t status);

static int compcoll_status_to_mpi(compcoll_status_t status, MPI_Comm comm)
{
    int code = compcoll_status_code(status);

    if (code != MPI_SUCCESS) {
        PMPI_Comm_call_errhandler(comm, code);
    }
    return code;
}

/* The error code of a status, without raising it. */
static int compcoll_status_code(compcoll_status_t status)
{
    switch (status) {
    case COMPCOLL_OK:
        return MPI_SUCCESS;
    case COMPCOLL_ERR_NO_MEMORY:
        return MPI_ERR_NO_MEM;
    case COMPCOLL_ERR_INVALID_PARAM:
        return MPI_ERR_ARG;
    default:
        return MPI_ERR_OTHER;
    }
}

/*
 * The thread level to ask of MPI.  Nonblocking calls are run by progress
 * threads of the library (libcompcoll/core/nbc.c), which call MPI while the
 * application does: that needs MPI_THREAD_MULTIPLE, so it is asked for
 * whenever compression may run; the application is told what MPI gave.
 * COMPCOLL_ENABLE=n or COMPCOLL_METHOD=none leave the request as it was.
 */
static int compcoll_thread_wanted(int required)
{
    if (!compcoll_env_compresses() || required > MPI_THREAD_MULTIPLE) {
        return required;
    }
    return MPI_THREAD_MULTIPLE;
}

COMPCOLL_EXPORT int MPI_Init(int *argc, char ***argv)
{
    int provided = MPI_THREAD_SINGLE;
    int rc = PMPI_Init_thread(argc, argv,
                              compcoll_thread_wanted(MPI_THREAD_SINGLE),
                              &provided);

    if (rc == MPI_SUCCESS) {
        compcoll_mpi_setup(provided);
    }
    return rc;
}

COMPCOLL_EXPORT int MPI_Init_thread(int *argc, char ***argv, int required,
                                   int *provided)
{
    int rc = PMPI_Init_thread(argc, argv, compcoll_thread_wanted(required),
                              provided);

    if (rc == MPI_SUCCESS) {
        compcoll_mpi_setup(*provided);
    }
    return rc;
}

COMPCOLL_EXPORT int MPI_Finalize(void)
{
    compcoll_finalize();
    return PMPI_Finalize();
}

/*
 * The blocking sum, for MPI_Allreduce and MPI_Allreduce_c.  A passthrough
 * call goes to the PMPI function the application called (`large`: the
 * MPI_Count one), staging device buffers when it fits an int.
 */
static int compcoll_allreduce_any(const void *sbuf, void *rbuf,
                                  MPI_Count count, MPI_Datatype dt, MPI_Op op,
                                  MPI_Comm comm, int large)
{
    const char *what = large ? "allreduce_c" : "allreduce";
    const char *why;

    if (!compcoll_allreduce_eligible(count, dt, op, comm, 0, &why)) {
        compcoll_status_t status;
        int               rc = MPI_SUCCESS;

        compcoll_note_passthrough(what, count, why);
        if (large && (count > INT_MAX || count < 0)) {
            if (count > INT_MAX) {
                compcoll_debug("%s count=%lld: above INT_MAX, to "
                               "PMPI_Allreduce_c untouched", what,
                               (long long)count);
            }
            return PMPI_Allreduce_c(sbuf, rbuf, count, dt, op, comm);
        }
        /* PMPI_Allreduce, with device buffers staged through host memory */
        status = compcoll_passthrough_allreduce(sbuf, rbuf, (int)count, dt,
                                                op, comm, &rc);
        return status == COMPCOLL_OK ? rc
                                     : compcoll_status_to_mpi(status, comm);
    }
    return compcoll_status_to_mpi(compcoll_allreduce(sbuf, rbuf,
                                                     (size_t)count, comm),
                                  comm);
}

COMPCOLL_EXPORT int MPI_Allreduce(const void *sbuf, void *rbuf, int count,
                                  MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    return compcoll_allreduce_any(sbuf, rbuf, count, dt, op, comm, 0);
}

COMPCOLL_EXPORT int MPI_Allreduce_c(const void *sbuf, void *rbuf,
                                    MPI_Count count, MPI_Datatype dt,
                                    MPI_Op op, MPI_Comm comm)
{
    return compcoll_allreduce_any(sbuf, rbuf, count, dt, op, comm, 1);
}

/*
 * A nonblocking call's request: an MPI generalized request, completed by
 * the communicator's progress thread.  MPICH runs free_fn when the
 * application frees the request, which may be before the call is done, so
 * the record goes when both have let go of it.
 */
typedef struct {
    MPI_Request req;
    int         code;
    int         refs;
} compcoll_nb_req_t;

/* Generalized requests of ours not yet freed (MPI_Waitall below). */
static int compcoll_nb_live;

static void compcoll_nb_unref(compcoll_nb_req_t *r)
{
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(r);
    }
}

static int compcoll_nb_query(void *extra, MPI_Status *st)
{
    compcoll_nb_req_t *r = extra;

    PMPI_Status_set_elements(st, MPI_BYTE, 0);
    PMPI_Status_set_cancelled(st, 0);
    st->MPI_SOURCE = MPI_UNDEFINED;
    st->MPI_TAG    = MPI_UNDEFINED;
    st->MPI_ERROR  = r->code;
    return r->code;
}

static int compcoll_nb_free(void *extra)
{
    __atomic_sub_fetch(&compcoll_nb_live, 1, __ATOMIC_RELAXED);
    compcoll_nb_unref(extra);
    return MPI_SUCCESS;
}

static int compcoll_nb_cancel(void *extra, int complete)
{
    /* a collective cannot be cancelled: it completes as started */
    return MPI_SUCCESS;
}

static void compcoll_nb_done(void *arg, compcoll_status_t status)
{
    compcoll_nb_req_t *r = arg;

    r->code = compcoll_status_code(status);
    PMPI_Grequest_complete(r->req);
    compcoll_nb_unref(r);
}

static int compcoll_iallreduce_any(const void *sbuf, void *rbuf,
                                   MPI_Count count, MPI_Datatype dt,
                                   MPI_Op op, MPI_Comm comm,
                                   MPI_Request *request, int large)
{
    const char        *what = large ? "iallreduce_c" : "iallreduce";
    const char        *why;
    compcoll_nb_req_t *r;
    compcoll_status_t  status;
    int                rc;

    if (!compcoll_allreduce_eligible(count, dt, op, comm, 1, &why)) {
        compcoll_note_passthrough(what, count, why);
        return large ? PMPI_Iallreduce_c(sbuf, rbuf, count, dt, op, comm,
                                         request)
                     : PMPI_Iallreduce(sbuf, rbuf, (int)count, dt, op, comm,
                                       request);
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        /* the others run this call: take part, blocking, then report */
        compcoll_error("%s of %lld floats: no memory for its request; it "
                       "completes before it returns", what, (long long)count);
        rc = compcoll_allreduce_any(sbuf, rbuf, count, dt, op, comm, large);
        *request = MPI_REQUEST_NULL;
        return rc;
    }
    r->refs = 2; /* the request's free_fn and the completion */
    __atomic_add_fetch(&compcoll_nb_live, 1, __ATOMIC_RELAXED);
    rc = PMPI_Grequest_start(compcoll_nb_query, compcoll_nb_free,
                             compcoll_nb_cancel, r, request);
    if (rc != MPI_SUCCESS) {
        __atomic_sub_fetch(&compcoll_nb_live, 1, __ATOMIC_RELAXED);
        free(r);
        compcoll_error("%s of %lld floats: MPI_Grequest_start failed; it "
                       "completes before it returns", what, (long long)count);
        compcoll_allreduce_any(sbuf, rbuf, count, dt, op, comm, large);
        *request = MPI_REQUEST_NULL;
        return rc;
    }
    r->req = *request;
    status = compcoll_iallreduce(sbuf, rbuf, (size_t)count, comm,
                                 compcoll_nb_done, r);
    if (status != COMPCOLL_OK) {
        compcoll_nb_done(r, status);
    }
    return MPI_SUCCESS;
}

COMPCOLL_EXPORT int MPI_Iallreduce(const void *sbuf, void *rbuf, int count,
                                   MPI_Datatype dt, MPI_Op op, MPI_Comm comm,
                                   MPI_Request *request)
{
    return compcoll_iallreduce_any(sbuf, rbuf, count, dt, op, comm, request,
                                   0);
}

COMPCOLL_EXPORT int MPI_Iallreduce_c(const void *sbuf, void *rbuf,
                                     MPI_Count count, MPI_Datatype dt,
                                     MPI_Op op, MPI_Comm comm,
                                     MPI_Request *request)
{
    return compcoll_iallreduce_any(sbuf, rbuf, count, dt, op, comm, request,
                                   1);
}

/*
 * MPICH 4.0's MPI_Waitall and MPI_Testall assert that no request in their
 * batch is a generalized request (request_impl.c, "kind !=
 * MPIR_REQUEST_KIND__GREQUEST"), although MPI allows it.  While requests
 * of ours are alive, they complete the array one request at a time, with
 * MPI_Waitall's and MPI_Testall's semantics (MPI_ERR_IN_STATUS, nothing
 * freed by a Testall that finds one pending).
 */
COMPCOLL_EXPORT int MPI_Waitall(int n, MPI_Request reqs[],
                                MPI_Status statuses[])
{
    int i, rc, err = 0;

    if (__atomic_load_n(&compcoll_nb_live, __ATOMIC_RELAXED) == 0 || n <= 0) {
        return PMPI_Waitall(n, reqs, statuses);
    }
    for (i = 0; i < n; i++) {
        MPI_Status *st = (statuses == MPI_STATUSES_IGNORE) ? MPI_STATUS_IGNORE
                                                           : &statuses[i];

        rc = PMPI_Wait(&reqs[i], st);
        if (rc != MPI_SUCCESS) {
            err = 1;
            if (st != MPI_STATUS_IGNORE) {
                st->MPI_ERROR = rc;
            }
        } else if (st != MPI_STATUS_IGNORE) {
            st->MPI_ERROR = MPI_SUCCESS;
        }
    }
    return err ? MPI_ERR_IN_STATUS : MPI_SUCCESS;
}

COMPCOLL_EXPORT int MPI_Testall(int n, MPI_Request reqs[], int *flag,
                                MPI_Status statuses[])
{
    int i, rc, done;

    if (__atomic_load_n(&compcoll_nb_live, __ATOMIC_RELAXED) == 0 || n <= 0) {
        return PMPI_Testall(n, reqs, flag, statuses);
    }
    *flag = 0;
    for (i = 0; i < n; i++) {
        if (reqs[i] == MPI_REQUEST_NULL) {
            continue;
        }
        rc = PMPI_Request_get_status(reqs[i], &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            return rc;
        }
        if (!done) {
            return MPI_SUCCESS;
        }
    }
    *flag = 1;
    return MPI_Waitall(n, reqs, statuses);
}

/*
 * Persistent all-reduces stay MPI's: MPI has no persistent generalized
 * request for MPI_Start to restart, so the library could only answer them
 * by swapping request handles behind the application's back.  They are
 * counted and traced as passthrough.
 */
COMPCOLL_EXPORT int MPI_Allreduce_init(const void *sbuf, void *rbuf,
                                       int count, MPI_Datatype dt, MPI_Op op,
                                       MPI_Comm comm, MPI_Info info,
                                       MPI_Request *request)
{
    compcoll_note_passthrough("allreduce_init", count,
                              "persistent requests stay with MPI");
    return PMPI_Allreduce_init(sbuf, rbuf, count, dt, op, comm, info,
                               request);
}

COMPCOLL_EXPORT int MPI_Allreduce_init_c(const void *sbuf, void *rbuf,
                                         MPI_Count count, MPI_Datatype dt,
                                         MPI_Op op, MPI_Comm comm,
                                         MPI_Info info, MPI_Request *request)
{
    compcoll_note_passthrough("allreduce_init_c", count,
                              "persistent requests stay with MPI");
    return PMPI_Allreduce_init_c(sbuf, rbuf, count, dt, op, comm, info,
                                 request);
}

COMPCOLL_EXPORT int MPI_Comm_free(MPI_Comm *comm)
{
    if (comm != NULL) {
        compcoll_comm_release(*comm, 0);
    }
    return PMPI_Comm_free(comm);
}

/* As MPI_Comm_free, which it is with the pending communication finished
 * first: the library's nonblocking calls on it finish before MPI frees it,
 * and its own communicators of it are disconnected as well. */
COMPCOLL_EXPORT int MPI_Comm_disconnect(MPI_Comm *comm)
{
    if (comm != NULL) {
        compcoll_comm_release(*comm, 1);
    }
    return PMPI_Comm_disconnect(comm);
}
