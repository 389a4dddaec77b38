/*
 * libcompcoll: nonblocking calls (MPI_Iallreduce, MPI_Iallreduce_c).
 *
 * A compressed call is a sequence of blocking steps (header, selection,
 * exchange), so a nonblocking one is run by a thread of the library: each
 * communicator that has seen a nonblocking call gets one progress thread,
 * which runs that communicator's calls one after the other in the order they
 * were started and reports each with its done callback (interpose/ completes
 * the MPI generalized request the application waits on).  One thread per
 * communicator, not one per process: ranks may start calls on different
 * communicators in different orders, as MPI allows for nonblocking
 * collectives, and a single thread would then wait on one communicator
 * while a peer's waits on the other.  The state's lock serializes a
 * communicator's calls; a blocking call first waits until the nonblocking
 * calls started before it are done (MPI's order of collectives).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll.h"
#include "compcoll_log.h"

typedef struct compcoll_nbc_op {
    struct compcoll_nbc_op *next;
    const void             *sbuf;
    void                   *rbuf;
    size_t                  count;
    compcoll_done_fn_t      done;
    void                   *arg;
} compcoll_nbc_op_t;

static void *nbc_worker(void *arg)
{
    compcoll_comm_t *cc = arg;

    pthread_mutex_lock(&cc->qlock);
    for (;;) {
        compcoll_nbc_op_t *op;
        compcoll_status_t  status;

        while (cc->qhead == NULL && !cc->worker_stop) {
            pthread_cond_wait(&cc->qcond, &cc->qlock);
        }
        if (cc->qhead == NULL) {
            break; /* stopping, and nothing left */
        }
        op        = cc->qhead;
        cc->qhead = op->next;
        if (cc->qhead == NULL) {
            cc->qtail = NULL;
        }
        pthread_mutex_unlock(&cc->qlock);

        pthread_mutex_lock(&cc->lock);
        status = compcoll_comm_call(cc, op->sbuf, op->rbuf, op->count);
        pthread_mutex_unlock(&cc->lock);
        op->done(op->arg, status);
        free(op);

        pthread_mutex_lock(&cc->qlock);
        cc->pending--;
        pthread_cond_broadcast(&cc->qcond);
    }
    pthread_mutex_unlock(&cc->qlock);
    return NULL;
}

compcoll_status_t compcoll_iallreduce(const void *sbuf, void *rbuf,
                                      size_t count, MPI_Comm comm,
                                      compcoll_done_fn_t done, void *arg)
{
    compcoll_nbc_op_t *op;
    compcoll_comm_t   *cc;
    compcoll_status_t  status;
    int                rc = 0;

    status = compcoll_comm_get(comm, &cc);
    if (status != COMPCOLL_OK) {
        return status;
    }
    op = calloc(1, sizeof(*op));
    pthread_mutex_lock(&cc->qlock);
    if (op != NULL && !cc->worker_on) {
        rc = pthread_create(&cc->worker, NULL, nbc_worker, cc);
        if (rc == 0) {
            cc->worker_on   = 1;
            cc->worker_stop = 0;
        } else {
            compcoll_warn_once("cannot start a progress thread (%s): "
                               "nonblocking calls complete before they "
                               "return", strerror(rc));
        }
    }
    if (op == NULL || !cc->worker_on) {
        pthread_mutex_unlock(&cc->qlock);
        free(op);
        /* The other ranks run this call: take part now, as a blocking
         * call, and report it done at once. */
        done(arg, compcoll_allreduce(sbuf, rbuf, count, comm));
        return COMPCOLL_OK;
    }
    op->sbuf  = sbuf;
    op->rbuf  = rbuf;
    op->count = count;
    op->done  = done;
    op->arg   = arg;
    if (cc->qtail != NULL) {
        cc->qtail->next = op;
    } else {
        cc->qhead = op;
    }
    cc->qtail = op;
    cc->pending++;
    pthread_cond_broadcast(&cc->qcond);
    pthread_mutex_unlock(&cc->qlock);
    compcoll_trace("iallreduce count=%zu comm=%llu: queued on its progress "
                   "thread", count, (unsigned long long)cc->id);
    return COMPCOLL_OK;
}

/* Under qlock: until every call started on cc has completed. */
static void nbc_wait_idle(compcoll_comm_t *cc)
{
    while (cc->pending > 0) {
        pthread_cond_wait(&cc->qcond, &cc->qlock);
    }
}

void compcoll_nbc_drain(compcoll_comm_t *cc)
{
    pthread_mutex_lock(&cc->qlock);
    nbc_wait_idle(cc);
    pthread_mutex_unlock(&cc->qlock);
}

void compcoll_nbc_stop(compcoll_comm_t *cc)
{
    int on;

    pthread_mutex_lock(&cc->qlock);
    nbc_wait_idle(cc);
    on              = cc->worker_on;
    cc->worker_stop = 1;
    cc->worker_on   = 0;
    pthread_cond_broadcast(&cc->qcond);
    pthread_mutex_unlock(&cc->qlock);
    if (on) {
        pthread_join(cc->worker, NULL);
    }
}
