/*
 * libcompcoll: the end of every call, and the faults a test can inject
 * (compcoll_fail.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_fail.h"

#include <stdlib.h>
#include <string.h>

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

compcoll_status_t compcoll_agree_status(compcoll_comm_t *cc,
                                        compcoll_status_t local, int *who)
{
    /* the ranks take MAXLOC of a severity (ties: the lowest rank): 0 for
     * success, 1 for "another rank failed", 1 - status for a failure of
     * the rank's own, so the call fails with the status of a rank where
     * it failed first hand */
    struct {
        int code;
        int rank;
    } mine = {local == COMPCOLL_OK     ? 0
              : local == COMPCOLL_ERR_PEER ? 1
                                           : 1 - (int)local,
              cc->rank},
      agreed;

    if (PMPI_Allreduce(&mine, &agreed, 1, MPI_2INT, MPI_MAXLOC, cc->ctl) !=
        MPI_SUCCESS) {
        compcoll_error("the ranks of communicator %llu could not agree on "
                       "the outcome of call %llu: failing it here",
                       (unsigned long long)cc->id,
                       (unsigned long long)cc->ncalls);
        return local != COMPCOLL_OK ? local : COMPCOLL_ERR_MPI;
    }
    if (who != NULL) {
        *who = agreed.rank;
    }
    return agreed.code == 0   ? COMPCOLL_OK
           : agreed.code == 1 ? COMPCOLL_ERR_PEER
                              : (compcoll_status_t)(1 - agreed.code);
}

compcoll_status_t compcoll_call_end(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                    compcoll_status_t local)
{
    compcoll_status_t status;
    int               who = cc->rank;

    status = compcoll_agree_status(cc, local, &who);
    if (status != COMPCOLL_OK) {
        if (local == COMPCOLL_OK || local == COMPCOLL_ERR_PEER) {
            compcoll_error("call %llu on communicator %llu failed on rank %d "
                           "(%s); it fails on every rank",
                           (unsigned long long)cc->ncalls,
                           (unsigned long long)cc->id, who,
                           compcoll_status_string(status));
        }
        compcoll_stats.calls_failed++;
        if (t != NULL && t->mem != NULL) {
            memset(t->mem, 0, t->count * sizeof(float));
        }
        if (t != NULL) {
            compcoll_gpu_tensor_clear(cc, t);
        }
        if (status == COMPCOLL_ERR_TRANSPORT && !cc->broken) {
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

void compcoll_fail_job(compcoll_comm_t *cc, const char *why)
{
    compcoll_error("call %llu on communicator %llu: %s; this rank cannot "
                   "take its part, and the others would wait for it: "
                   "ending the job", (unsigned long long)cc->ncalls,
                   (unsigned long long)cc->id, why);
    PMPI_Abort(cc->comm, 1);
    abort();
}
