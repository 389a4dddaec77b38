/*
 * libcompcoll: how a call fails.
 *
 * One rule keeps every rank of a communicator in step: a rank whose part
 * of a call fails locally (allocation, a rejected header or index list, a
 * transport operation, a kernel) still makes every collective step of the
 * call, with stand-in data, and every call ends in compcoll_call_end, which
 * every rank reaches.  There the ranks agree on the outcome: when any rank
 * failed, the call fails on every rank with the same status, so no rank
 * returns a result built from another rank's stand-ins.
 *
 * COMPCOLL_FAULT (a test aid) makes a chosen point fail on a chosen rank
 * and call, to prove the rule.
 */
#ifndef COMPCOLL_FAIL_H
#define COMPCOLL_FAIL_H

#include "compcoll_config.h"
#include "compcoll_registry.h"
#include "compcoll_status.h"

/*
 * The status COMPCOLL_FAULT injects at `point` into the call cc is making
 * (its call number is cc->ncalls), on this rank: COMPCOLL_OK unless asked.
 */
compcoll_status_t compcoll_fault(const compcoll_comm_t *cc,
                                 compcoll_fault_point_t point);

/*
 * The end of every call of the method on cc (tensor t; NULL for a call
 * without one), collective over cc: the ranks agree on the outcome of
 * this call given this rank's `local` status, and each returns the agreed
 * one.  Counts the call (the leader rotation, the tensor's calls).  On a
 * failure the tensor's error-feedback memory is cleared on every rank, so
 * that the ranks' memories stay what the method makes of the same calls,
 * and a transport failure leaves the communicator passing its calls to
 * MPI from then on (cc->broken), its transport's state being unknown.
 */
compcoll_status_t compcoll_call_end(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                    compcoll_status_t local, int nonfinite);
/*
 * `nonfinite`: this rank's call left a NaN or an infinity in its memory
 * (compcoll_host_nonfinite).  When any rank's did, the tensor's next call
 * is summed densely on every rank (t->dense_next), which delivers those
 * values and empties the memories, so that none lingers.
 */

/* The agreement alone, over cc->ctl: the most severe status of any rank;
 * *who is the lowest rank that had it (may be NULL); *any_nonfinite
 * whether some rank's `nonfinite` was set (may be NULL).  When the
 * agreement itself fails in MPI, the job ends (compcoll_fail_job): the
 * rank cannot tell what the others agreed. */
compcoll_status_t compcoll_agree_status(compcoll_comm_t *cc,
                                        compcoll_status_t local, int nonfinite,
                                        int *who, int *any_nonfinite);

/*
 * A rank that cannot take its part in a call it has begun (not even with
 * stand-ins: no memory for them, a header it cannot follow) would leave
 * the others waiting, and one that cannot tell what the others agreed
 * would let them return a result it does not: it ends the job instead,
 * with this message.
 */
void compcoll_fail_job(compcoll_comm_t *cc, const char *why)
    __attribute__((noreturn));

/*
 * The status of a transport operation inside a collective step (`what`
 * names it): a failed one leaves the step half made, which the other ranks
 * cannot finish without this one, so the job ends (compcoll_fail_job).
 * COMPCOLL_FAULT=transport instead reports failure after the operation
 * completed, which the call's end agreement handles.
 */
void compcoll_transport_check(compcoll_comm_t *cc, compcoll_status_t status,
                              const char *what);

#endif
