/*
 * libcompcoll: the end of every call, and the faults a test can inject
 * (compcoll_fail.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compcoll_log.h"
#include "compcoll_memtype.h"
#include "compcoll_stats.h"

compcoll_status_t compcoll_fault(const compcoll_comm_t *cc,
                                 compcoll_fault_point_t point)
{
    static const compcoll_status_t injected[COMPCOLL_FAULT_POINTS] = {
        [COMPCOLL_FAULT_ALLOC]     = COMPCOLL_ERR_NO_MEMORY,
        [COMPCOLL_FAULT_VALIDATE]  = COMPCOLL_ERR_PROTOCOL,
        [COMPCOLL_FAULT_DECODE]    = COMPCOLL_ERR_PROTOCOL,
        [COMPCOLL_FAULT_TRANSPORT] = COMPCOLL_ERR_TRANSPORT,
        [COMPCOLL_FAULT_KERNEL]    = COMPCOLL_ERR_NO_RESOURCE,
        [COMPCOLL_FAULT_TENSOR]    = COMPCOLL_ERR_NO_MEMORY,
        [COMPCOLL_FAULT_WINDOW]    = COMPCOLL_ERR_NO_MEMORY,
        [COMPCOLL_FAULT_NODE]      = COMPCOLL_ERR_MPI,
        [COMPCOLL_FAULT_AGREE]     = COMPCOLL_ERR_MPI,
        [COMPCOLL_FAULT_RESULT]    = COMPCOLL_ERR_MPI,
    };
    const compcoll_faults_t *f = &compcoll_cfg.fault;
    unsigned                 i;
    int                      rank;

    for (i = 0; i < f->n; i++) {
        if (f->list[i].point != (int)point || f->list[i].call != cc->ncalls) {
            continue;
        }
        PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
        if (f->list[i].rank == rank) {
            compcoll_error("COMPCOLL_FAULT: %s fails in call %llu on "
                           "communicator %llu",
                           compcoll_fault_point_name(point),
                           (unsigned long long)cc->ncalls,
                           (unsigned long long)cc->id);
            return injected[point];
        }
    }
    return COMPCOLL_OK;
}

/* Bits of a rank in the agreed word (below its severity). */
#define FAIL_RANK_BITS 20

compcoll_status_t compcoll_agree_status(compcoll_comm_t *cc,
                                        compcoll_status_t local, int nonfinite,
                                        int *who, int *any_nonfinite)
{
    /*
     * One MAX reduction of two ints.  The first orders the ranks by a
     * severity (0 success, 1 "another rank failed", 1 - status for a
     * failure of the rank's own, so that the call fails with the status of
     * a rank where it failed first hand), ties going to the lowest rank;
     * the second is an OR of the ranks' `nonfinite`.
     */
    const int mask = (1 << FAIL_RANK_BITS) - 1;
    const int sev  = local == COMPCOLL_OK         ? 0
                     : local == COMPCOLL_ERR_PEER ? 1
                                                  : 1 - (int)local;
    int       mine[2], agreed[2];

    mine[0] = (sev << FAIL_RANK_BITS) | (mask - (cc->rank & mask));
    /* bit 0: a NaN or infinity left in a memory; bit 1: a transport
     * failure, whatever else failed elsewhere */
    mine[1] = (nonfinite != 0) | (local == COMPCOLL_ERR_TRANSPORT) << 1;
    if (PMPI_Allreduce(mine, agreed, 2, MPI_INT, MPI_MAX, cc->ctl) !=
            MPI_SUCCESS ||
        compcoll_fault(cc, COMPCOLL_FAULT_AGREE) != COMPCOLL_OK) {
        /* this rank cannot tell what the others agreed: were it to fail
         * the call alone, the others could return a result */
        compcoll_fail_job(cc, "the ranks' agreement on the outcome of the "
                          "call failed in MPI");
    }
    if (who != NULL) {
        *who = mask - (agreed[0] & mask);
    }
    if (any_nonfinite != NULL) {
        *any_nonfinite = agreed[1] & 1;
    }
    if (agreed[1] & 2) {
        cc->transport_failed = 1;
    }
    switch (agreed[0] >> FAIL_RANK_BITS) {
    case 0:
        return COMPCOLL_OK;
    case 1:
        return COMPCOLL_ERR_PEER;
    default:
        return (compcoll_status_t)(1 - (agreed[0] >> FAIL_RANK_BITS));
    }
}

compcoll_status_t compcoll_call_end(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                    compcoll_status_t local, int nonfinite)
{
    compcoll_status_t status;
    int               who = cc->rank, any_nonfinite = 0;

    status = compcoll_agree_status(cc, local, nonfinite, &who,
                                   &any_nonfinite);
    if (t != NULL) {
        t->dense_next = any_nonfinite && status == COMPCOLL_OK;
        if (t->dense_next) {
            compcoll_warn_once("a NaN or an infinity in a gradient of %zu "
                               "elements on communicator %llu: it reaches "
                               "the output of the call it came in or, from "
                               "an error-feedback memory, of the tensor's "
                               "next call, which is summed densely",
                               t->count, (unsigned long long)cc->id);
            compcoll_stats.calls_nonfinite++;
        }
    }
    if (status != COMPCOLL_OK) {
        if (local == COMPCOLL_OK || local == COMPCOLL_ERR_PEER) {
            compcoll_error("call %llu on communicator %llu failed on rank %d "
                           "(%s); it fails on every rank",
                           (unsigned long long)cc->ncalls,
                           (unsigned long long)cc->id, who,
                           compcoll_status_string(status));
        }
        compcoll_stats.calls_failed++;
        if (t != NULL && !compcoll_gpu_tensor_clear(cc, t) &&
            t->mem != NULL) {
            memset(t->mem, 0, t->count * sizeof(float));
        }
        if (t != NULL) {
            /* what COMPCOLL_MOMENTUM's output subtracts next: the same,
             * nothing, on every rank */
            compcoll_tensor_momentum_clear(t);
        }
        if (cc->transport_failed && !cc->broken) {
            cc->broken = 1;
            compcoll_warn("communicator %llu: a transport operation failed "
                          "in call %llu on rank %d; its later calls go to "
                          "the MPI library uncompressed",
                          (unsigned long long)cc->id,
                          (unsigned long long)cc->ncalls, who);
        }
    }
    cc->ncalls++;
    if (t != NULL) {
        t->calls++;
    }
    return status;
}

void compcoll_transport_check(compcoll_comm_t *cc, compcoll_status_t status,
                              const char *what)
{
    char why[256];

    if (status == COMPCOLL_OK) {
        return;
    }
    snprintf(why, sizeof(why), "the transport's %s failed (%s) in the middle "
             "of a collective step", what, compcoll_status_string(status));
    compcoll_fail_job(cc, why);
}

void compcoll_fail_job(compcoll_comm_t *cc, const char *why)
{
    compcoll_error("call %llu on communicator %llu: %s; this rank cannot "
                   "go on in step with the others: ending the job",
                   (unsigned long long)cc->ncalls, (unsigned long long)cc->id,
                   why);
    /* The launcher tears the job down as soon as it hears of the abort,
     * and may drop what this rank wrote just before: give it a moment to
     * forward the message that says why. */
    fflush(stderr);
    nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 200000000L}, NULL);
    PMPI_Abort(cc->comm, 1);
    abort();
}
