/*
 * dense: the uncompressed sum over the library's own transport.  The values
 * travel as COMPCOLL_WIRE_TYPE; there is no error feedback.
 */
#include <string.h>

#include "compcoll.h"
#include "compcoll_fail.h"
#include "compcoll_log.h"
#include "compcoll_stats.h"

static compcoll_status_t dense_allreduce(compcoll_comm_t *cc,
                                         compcoll_tensor_t *t, const float *g,
                                         float *out, size_t n)
{
    compcoll_tcomm_t *tc    = cc->tcomm;
    uint64_t          sent0 = tc->bytes_sent;
    compcoll_status_t status;
    double            t0;

    compcoll_trace("allreduce count=%zu comm=%llu call=%llu: dense", n,
                   (unsigned long long)cc->id, (unsigned long long)cc->ncalls);
    if (out != g) {
        memcpy(out, g, n * sizeof(float));
    }
    t0     = compcoll_time();
    compcoll_transport_check(cc,
                             tc->ops->allreduce(tc, out, n,
                                                (compcoll_wire_t)compcoll_cfg.wire),
                             "all-reduce");
    status = compcoll_fault(cc, COMPCOLL_FAULT_TRANSPORT);
    compcoll_stats.time_comm += compcoll_time() - t0;
    compcoll_count_call(cc, t, n);
    compcoll_stats.calls_dense++;
    compcoll_stats.elements_sent += n;
    compcoll_stats.bytes_sent += tc->bytes_sent - sent0;
    return status;
}

const compcoll_method_t compcoll_method_dense = {
    .id          = COMPCOLL_METHOD_DENSE,
    .name        = "dense",
    .description = "uncompressed sum over the library's transport",
    .allreduce   = dense_allreduce,
};
