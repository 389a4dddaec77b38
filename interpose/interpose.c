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

#include "compcoll.h"
#include "compcoll_log.h"

/*
 * Set-up after PMPI_Init(_thread) succeeded.  A bad configuration stops the
 * job: the ranks agree on it, the lowest failing rank prints the errors, and
 * every rank finalizes MPI and exits non-zero.
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
        return;
    }
    if (rank == first) {
        compcoll_init_report();
    }
    compcoll_finalize();
    PMPI_Finalize();
    exit(EXIT_FAILURE);
}

/* The only place a status becomes an MPI error: raise it on comm's error
 * handler, as the MPI library would have for its own failure. */
static int compcoll_status_to_mpi(compcoll_status_t status, MPI_Comm comm)
{
    int code;

    switch (status) {
    case COMPCOLL_OK:
        return MPI_SUCCESS;
    case COMPCOLL_ERR_NO_MEMORY:
        code = MPI_ERR_NO_MEM;
        break;
    case COMPCOLL_ERR_INVALID_PARAM:
        code = MPI_ERR_ARG;
        break;
    default:
        code = MPI_ERR_OTHER;
        break;
    }
    PMPI_Comm_call_errhandler(comm, code);
    return code;
}

COMPCOLL_EXPORT int MPI_Init(int *argc, char ***argv)
{
    int rc = PMPI_Init(argc, argv);

    if (rc == MPI_SUCCESS) {
        int provided = MPI_THREAD_SINGLE;

        PMPI_Query_thread(&provided);
        compcoll_mpi_setup(provided);
    }
    return rc;
}

COMPCOLL_EXPORT int MPI_Init_thread(int *argc, char ***argv, int required,
                                   int *provided)
{
    int rc = PMPI_Init_thread(argc, argv, required, provided);

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

COMPCOLL_EXPORT int MPI_Allreduce(const void *sbuf, void *rbuf, int count,
                                  MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    const char *why;

    if (!compcoll_allreduce_eligible(count, dt, op, comm, &why)) {
        compcoll_status_t status;
        int               rc = MPI_SUCCESS;

        compcoll_note_passthrough("allreduce", count, why);
        /* PMPI_Allreduce, with device buffers staged through host memory */
        status = compcoll_passthrough_allreduce(sbuf, rbuf, count, dt, op,
                                                comm, &rc);
        return status == COMPCOLL_OK ? rc
                                     : compcoll_status_to_mpi(status, comm);
    }
    return compcoll_status_to_mpi(compcoll_allreduce(sbuf, rbuf, count, comm),
                                  comm);
}

COMPCOLL_EXPORT int MPI_Comm_free(MPI_Comm *comm)
{
    if (comm != NULL) {
        compcoll_comm_release(*comm);
    }
    return PMPI_Comm_free(comm);
}
