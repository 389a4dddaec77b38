#include "compcoll_exchange.h"

#include <stdlib.h>
#include <string.h>

#include "compcoll_fail.h"
#include "compcoll_log.h"
#include "compcoll_stats.h"

typedef struct {
    uint32_t dense;
    uint32_t failed;
    uint64_t bytes;
} xchg_header_t;

compcoll_status_t compcoll_xchg_agree(compcoll_comm_t *cc, int want_dense,
                                      size_t bytes, compcoll_status_t local,
                                      int *dense, const size_t **counts)
{
    compcoll_tcomm_t *tc = cc->tcomm;
    xchg_header_t    *all, *spare = NULL, mine;
    size_t           *sizes;
    compcoll_status_t status;
    double            t0;
    int               r, failed = 0;

    all   = compcoll_buf_reserve(&cc->gather, cc->size * sizeof(*all));
    sizes = compcoll_buf_reserve(&cc->sizes, cc->size * sizeof(*sizes));
    if (all == NULL || sizes == NULL) {
        local = (local != COMPCOLL_OK) ? local : COMPCOLL_ERR_NO_MEMORY;
        all   = spare = calloc((size_t)cc->size, sizeof(*all));
        if (spare == NULL) {
            compcoll_fail_job(cc, "no memory for the ranks' headers");
        }
    }
    mine.dense  = (uint32_t)(want_dense != 0);
    mine.failed = (uint32_t)(local != COMPCOLL_OK);
    mine.bytes  = bytes;
    t0     = compcoll_time();
    status = tc->ops->allgather(tc, &mine, all, sizeof(mine));
    compcoll_stats.time_comm += compcoll_time() - t0;
    compcoll_transport_check(cc, status, "allgather of the headers");
    for (r = 0; r < cc->size; r++) {
        failed |= (all[r].failed != 0);
    }
    free(spare);
    if (failed) {
        return local != COMPCOLL_OK ? local : COMPCOLL_ERR_PEER;
    }
    *dense = 0;
    for (r = 0; r < cc->size; r++) {
        *dense |= (all[r].dense != 0);
        sizes[r] = (size_t)all[r].bytes;
    }
    *counts = sizes;
    return COMPCOLL_OK;
}

compcoll_status_t compcoll_xchg_dense(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                      const float *g, float *out, size_t n)
{
    compcoll_tcomm_t *tc = cc->tcomm;
    compcoll_status_t status;
    double            t0;

    t0 = compcoll_time();
    compcoll_kernels()->dense(t->mem, g, out, n, 1.0f);
    compcoll_stats.time_host += compcoll_time() - t0;
    t0     = compcoll_time();
    compcoll_transport_check(cc,
                             tc->ops->allreduce(tc, out, n, COMPCOLL_WIRE_FP32),
                             "all-reduce");
    status = compcoll_fault(cc, COMPCOLL_FAULT_TRANSPORT);
    compcoll_stats.time_comm += compcoll_time() - t0;
    compcoll_stats.calls_dense++;
    compcoll_stats.elements_sent += n;
    return status;
}

compcoll_status_t compcoll_xchg_gather(compcoll_comm_t *cc, const void *mine,
                                       const size_t *counts, void **all)
{
    compcoll_tcomm_t *tc    = cc->tcomm;
    size_t            total = 0;
    compcoll_status_t status;
    double            t0;
    int               r;

    for (r = 0; r < cc->size; r++) {
        total += counts[r];
    }
    *all = compcoll_buf_reserve(&cc->gather, total + 1);
    if (*all == NULL) {
        /* the others are in the exchange: this rank still makes it, into
         * a buffer of its own, and fails the call */
        compcoll_status_t why = COMPCOLL_ERR_NO_MEMORY;
        void             *spare = calloc(total + 1, 1);

        if (spare == NULL) {
            compcoll_fail_job(cc, "no memory for the ranks' streams");
        }
        compcoll_transport_check(cc, tc->ops->allgatherv(tc, mine, spare,
                                                         counts),
                                 "allgather of the streams");
        free(spare);
        return why;
    }
    t0     = compcoll_time();
    compcoll_transport_check(cc, tc->ops->allgatherv(tc, mine, *all, counts),
                             "allgather of the streams");
    status = compcoll_fault(cc, COMPCOLL_FAULT_TRANSPORT);
    compcoll_stats.time_comm += compcoll_time() - t0;
    return status;
}

void compcoll_xchg_account(compcoll_comm_t *cc, compcoll_tensor_t *t,
                           size_t n, uint64_t sent0)
{
    compcoll_count_call(cc, t, n);
    compcoll_stats.bytes_sent += cc->tcomm->bytes_sent - sent0;
}
