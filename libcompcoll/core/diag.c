/*
 * COMPCOLL_DIAG_EVERY: how much of the global top-k's energy the leader's
 * indices captured (compcoll_diag.h).
 *
 * With beta = 1, after a sparse call every rank's memory holds its a = m + g
 * off the call's indices I and 0 on them, and out holds the sum of a on I
 * and 0 off it.  So the global error-compensated sum is A = (sum of the
 * memories) + out: one dense all-reduce of the memories gives it.  The
 * fraction is sum(out^2) / (the sum of the k largest A_i^2).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_diag.h"

#include <stdlib.h>
#include <string.h>

#include "compcoll.h"
#include "compcoll_log.h"
#include "compcoll_memtype.h"
#include "compcoll_stats.h"

void compcoll_diag(compcoll_comm_t *cc, compcoll_tensor_t *t,
                   const float *out, size_t n)
{
    const compcoll_config_t *cfg = &compcoll_cfg;
    const size_t             k   = t->k_last;
    compcoll_mem_info_t      where;
    float                   *a     = NULL;
    float                   *sum   = NULL; /* COMPCOLL_MOMENTUM: S */
    uint32_t                *idx   = NULL;
    int                      have  = 0, all = 0;
    double                   e_got = 0.0, e_top = 0.0, frac;
    size_t                   i;

    if (cfg->diag_every == 0 || cfg->method != COMPCOLL_METHOD_SCALECOM ||
        cfg->beta != 1.0 || !t->sparse_last ||
        cc->sparse_calls++ % cfg->diag_every != 0) {
        return; /* alike on every rank: every N-th sparse call is measured */
    }
    compcoll_mem_query(out, &where);
    if (t->mem != NULL && where.type == COMPCOLL_MEM_HOST) {
        a    = malloc(n * sizeof(float));
        idx  = malloc(k * sizeof(uint32_t));
        have = (a != NULL && idx != NULL);
        if (cfg->momentum != 0.0) {
            sum  = calloc(n, sizeof(float));
            have = have && sum != NULL && t->mom != NULL;
        }
    }
    /* every rank must be able to take part, or none does */
    if (PMPI_Allreduce(&have, &all, 1, MPI_INT, MPI_MIN, cc->ctl) !=
            MPI_SUCCESS ||
        !all) {
        goto out;
    }
    if (sum != NULL) {
        /* the call's sum S before the momentum correction: its nonzero
         * elements, kept for the next call (scalecom.c) */
        const float    *val = t->mom + n;
        const uint32_t *ix  = (const uint32_t *)(const void *)(t->mom + 2 * n);

        for (i = 0; i < t->mom_nnz; i++) {
            sum[ix[i]] = val[i];
        }
        out = sum;
    }
    memcpy(a, t->mem, n * sizeof(float));
    if (PMPI_Allreduce(MPI_IN_PLACE, a, (int)n, MPI_FLOAT, MPI_SUM,
                       cc->ctl) != MPI_SUCCESS) {
        goto out;
    }
    for (i = 0; i < n; i++) {
        a[i] += out[i];
        e_got += (double)out[i] * out[i];
    }
    if (compcoll_host_kernels.select(COMPCOLL_SELECT_EXACT, NULL, a, n, k, idx,
                                     compcoll_select_scratch()) !=
        COMPCOLL_OK) {
        goto out;
    }
    for (i = 0; i < k; i++) {
        e_top += (double)a[idx[i]] * a[idx[i]];
    }
    frac = e_top > 0.0 ? e_got / e_top : 1.0;
    compcoll_debug("communicator %llu call %llu: the leader's %zu indices "
                   "captured %.4f of the global top-k's energy",
                   (unsigned long long)cc->id,
                   (unsigned long long)(cc->ncalls - 1), k, frac);
    if (compcoll_stats.diag_calls == 0 ||
        frac < compcoll_stats.diag_captured_min) {
        compcoll_stats.diag_captured_min = frac;
    }
    compcoll_stats.diag_calls++;
    compcoll_stats.diag_captured_sum += frac;
out:
    free(sum);
    free(idx);
    free(a);
}
