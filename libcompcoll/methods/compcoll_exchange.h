/*
 * libcompcoll: the exchange shared by the methods whose ranks choose their
 * own indices (adacomp, topk).  Each call:
 *
 *   1. allgather of a small header per rank: whether the rank needs this
 *      call summed densely (warm-up, or no memory for the tensor), whether
 *      its part has failed already, and the size of its stream; when some
 *      rank's has, the call ends there on every rank (compcoll_fail.h);
 *   2. if any rank needs it, every rank sums a = m + g densely in fp32 and
 *      its memory is emptied; otherwise
 *   3. allgatherv of the streams; every rank decodes them in rank order, so
 *      every rank gets the same bits.
 *
 * Both steps depend only on what the header carries, so all ranks make the
 * same collective calls.
 */
#ifndef COMPCOLL_EXCHANGE_H
#define COMPCOLL_EXCHANGE_H

#include "compcoll.h"

/* Step 1: *dense = some rank needs a dense call; counts[r] = stream bytes
 * of rank r (a buffer of size entries kept in the communicator state).
 * `local`: this rank's failure so far.  Not OK: the call ends here, on
 * every rank (this rank's own failure, or COMPCOLL_ERR_PEER). */
compcoll_status_t compcoll_xchg_agree(compcoll_comm_t *cc, int want_dense,
                                      size_t bytes, compcoll_status_t local,
                                      int *dense, const size_t **counts);

/* Step 2: out = sum over ranks of (m + g), m <- 0; counted as a dense call. */
compcoll_status_t compcoll_xchg_dense(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                      const float *g, float *out, size_t n);

/* Step 3: the streams of every rank, concatenated in rank order. */
compcoll_status_t compcoll_xchg_gather(compcoll_comm_t *cc, const void *mine,
                                       const size_t *counts, void **all);

/* Book-keeping common to every call of these methods. */
void compcoll_xchg_account(compcoll_comm_t *cc, compcoll_tensor_t *t,
                           size_t n, uint64_t sent0);

#endif
