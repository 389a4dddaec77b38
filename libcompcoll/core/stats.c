/*
 * Statistics: counters kept per process, reduced to rank 0 of
 * MPI_COMM_WORLD at MPI_Finalize.  Call counts are per rank (every rank
 * makes the same calls); bytes and elements are summed over ranks; times
 * are given as the mean and the maximum over ranks.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_stats.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll.h"
#include "compcoll_locale.h"
#include "compcoll_log.h"

#define STATS_MAX_TENSORS 4096

/* One block per thread that ever counted, never freed before the process
 * ends (a thread may exit and leave its figures behind). */
typedef struct stats_block {
    struct stats_block *next;
    compcoll_stats_t    s;
} stats_block_t;

static pthread_mutex_t               stats_lock = PTHREAD_MUTEX_INITIALIZER;
static stats_block_t                *stats_blocks;   /* under stats_lock */
static compcoll_stats_t              stats_dummy;    /* when calloc fails */
static __thread compcoll_stats_t    *stats_mine;
static struct compcoll_stats_tensor *stats_head, *stats_tail;
static size_t                        stats_ntensors;

compcoll_stats_t *compcoll_stats_local(void)
{
    stats_block_t *b;

    if (stats_mine != NULL) {
        return stats_mine;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        /* shared and racy, but only after an allocation failure */
        return &stats_dummy;
    }
    pthread_mutex_lock(&stats_lock);
    b->next      = stats_blocks;
    stats_blocks = b;
    pthread_mutex_unlock(&stats_lock);
    stats_mine = &b->s;
    return stats_mine;
}

static void stats_add(compcoll_stats_t *t, const compcoll_stats_t *s)
{
    t->calls_compressed += s->calls_compressed;
    t->calls_dense += s->calls_dense;
    t->calls_passthrough += s->calls_passthrough;
    t->calls_hierarchical += s->calls_hierarchical;
    t->calls_pipelined += s->calls_pipelined;
    t->calls_no_memory += s->calls_no_memory;
    t->calls_failed += s->calls_failed;
    t->calls_nonfinite += s->calls_nonfinite;
    t->select_fallbacks += s->select_fallbacks;
    if (s->diag_calls > 0) {
        if (t->diag_calls == 0 || s->diag_captured_min < t->diag_captured_min) {
            t->diag_captured_min = s->diag_captured_min;
        }
        t->diag_calls += s->diag_calls;
        t->diag_captured_sum += s->diag_captured_sum;
    }
    t->bytes_dense += s->bytes_dense;
    t->bytes_sent += s->bytes_sent;
    t->elements_in += s->elements_in;
    t->elements_sent += s->elements_sent;
    t->time_select += s->time_select;
    t->time_host += s->time_host;
    t->time_comm += s->time_comm;
    t->time_node += s->time_node;
    t->tensors_unlisted += s->tensors_unlisted;
    t->transport_fallbacks += s->transport_fallbacks;
    t->tensors_retired += s->tensors_retired;
}

/* Every thread's figures added up (the report runs after the calls). */
static void stats_total(compcoll_stats_t *t)
{
    stats_block_t *b;

    memset(t, 0, sizeof(*t));
    stats_add(t, &stats_dummy);
    pthread_mutex_lock(&stats_lock);
    for (b = stats_blocks; b != NULL; b = b->next) {
        stats_add(t, &b->s);
    }
    pthread_mutex_unlock(&stats_lock);
}

struct compcoll_stats_tensor *compcoll_stats_tensor_new(const char *key,
                                                        size_t count, size_t k)
{
    struct compcoll_stats_tensor *r = NULL;

    pthread_mutex_lock(&stats_lock);
    if (stats_ntensors == STATS_MAX_TENSORS ||
        (r = calloc(1, sizeof(*r))) == NULL) {
        pthread_mutex_unlock(&stats_lock);
        compcoll_stats.tensors_unlisted++;
        return NULL;
    }
    snprintf(r->key, sizeof(r->key), "%s", key);
    r->count = count;
    r->k     = k;
    if (stats_tail != NULL) {
        stats_tail->next = r;
    } else {
        stats_head = r;
    }
    stats_tail = r;
    stats_ntensors++;
    pthread_mutex_unlock(&stats_lock);
    return r;
}

void compcoll_stats_free(void)
{
    stats_block_t *b;

    pthread_mutex_lock(&stats_lock);
    while (stats_head != NULL) {
        struct compcoll_stats_tensor *r = stats_head;

        stats_head = r->next;
        free(r);
    }
    stats_tail     = NULL;
    stats_ntensors = 0;
    for (b = stats_blocks; b != NULL; b = b->next) {
        memset(&b->s, 0, sizeof(b->s));
    }
    memset(&stats_dummy, 0, sizeof(stats_dummy));
    pthread_mutex_unlock(&stats_lock);
}

/* The figures of the report, after the reduction. */
typedef struct {
    int      ranks;
    uint64_t sum[8];   /* bytes_dense, bytes_sent, elements in/sent,
                          calls_no_memory, transport_fallbacks,
                          tensors_retired, select_fallbacks */
    double   tsum[4];  /* select, host, comm, node */
    double   tmax[4];
    uint64_t calls[4]; /* compressed, dense, failed, nonfinite: the most any
                          rank made (under the hierarchy only node leaders
                          make the first two) */
} stats_report_t;

static const char *stats_method(void)
{
    return compcoll_method() ? compcoll_method()->name : "none";
}

static const char *stats_transport(void)
{
    return compcoll_transport() ? compcoll_transport()->name : "none";
}

static void stats_print_bytes(FILE *out, const char *label, uint64_t b,
                              const char *note)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double                   v      = (double)b;
    int                      u      = 0;

    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    fprintf(out, "  %-22s %12.2f %-3s  %s\n", label, v, unit[u], note);
}

static void stats_print_summary(FILE *out, const stats_report_t *r,
                                const compcoll_stats_t *s)
{
    struct compcoll_stats_tensor  *t;
    static const char *const       tname[] = {"time select", "time host pass",
                                              "time comm", "time node"};
    int                            i;

    fprintf(out, "libcompcoll %s statistics: %d ranks, method %s, transport "
                 "%s", PACKAGE_VERSION, r->ranks, stats_method(),
            stats_transport());
    if (r->sum[5] > 0) {
        /* communicators where it could not be set up ran on mpi */
        fprintf(out, ", and mpi where %s could not be set up (%llu "
                     "communicator fallbacks, summed over ranks)",
                stats_transport(), (unsigned long long)r->sum[5]);
    }
    fputc('\n', out);
    fprintf(out, "  %-22s %12llu      per rank\n", "calls compressed",
            (unsigned long long)r->calls[0]);
    fprintf(out, "  %-22s %12llu      per rank (warm-up, no memory, dense)\n",
            "calls dense", (unsigned long long)r->calls[1]);
    fprintf(out, "  %-22s %12llu      per rank\n", "calls passthrough",
            (unsigned long long)s->calls_passthrough);
    if (r->calls[2] > 0) {
        fprintf(out, "  %-22s %12llu      per rank (returned an error on "
                     "every rank)\n", "calls failed",
                (unsigned long long)r->calls[2]);
    }
    if (r->calls[3] > 0) {
        fprintf(out, "  %-22s %12llu      per rank (left a NaN or infinity; "
                     "the next summed densely)\n", "calls non-finite",
                (unsigned long long)r->calls[3]);
    }
    if (s->diag_calls > 0) {
        fprintf(out, "  %-22s %12.4f      mean over %llu calls measured "
                     "(least %.4f; COMPCOLL_DIAG_EVERY)\n",
                "top-k energy captured",
                s->diag_captured_sum / (double)s->diag_calls,
                (unsigned long long)s->diag_calls, s->diag_captured_min);
    }
    if (s->calls_hierarchical > 0) {
        fprintf(out, "  %-22s %12llu      per rank (summed on the node "
                     "first)\n", "calls hierarchical",
                (unsigned long long)s->calls_hierarchical);
    }
    if (s->calls_pipelined > 0) {
        fprintf(out, "  %-22s %12llu      rank 0 (selection overlapped "
                     "with the exchange)\n", "calls pipelined",
                (unsigned long long)s->calls_pipelined);
    }
    fprintf(out, "  %-22s %12llu      all ranks\n", "elements in",
            (unsigned long long)r->sum[2]);
    fprintf(out, "  %-22s %12llu      all ranks\n", "values sent",
            (unsigned long long)r->sum[3]);
    stats_print_bytes(out, "bytes dense", r->sum[0],
                      "all ranks, a ring all-reduce of the same calls");
    stats_print_bytes(out, "bytes sent", r->sum[1], "all ranks, by the transport");
    if (r->sum[1] > 0) {
        fprintf(out, "  %-22s %12.2f x\n", "compression ratio",
                (double)r->sum[0] / (double)r->sum[1]);
    } else {
        fprintf(out, "  %-22s %12s\n", "compression ratio", "n/a");
    }
    for (i = 0; i < 4; i++) {
        fprintf(out, "  %-22s %12.6f s    mean per rank (max %.6f s)\n",
                tname[i], r->tsum[i] / r->ranks, r->tmax[i]);
    }
    if (r->sum[4] > 0) {
        fprintf(out, "  %-22s %12llu      all ranks (COMPCOLL_MAX_MEMORY)\n",
                "calls without memory", (unsigned long long)r->sum[4]);
    }
    if (r->sum[5] > 0) {
        fprintf(out, "  communicators that fell back to the mpi transport: "
                     "%llu\n", (unsigned long long)r->sum[5]);
    }
    if (r->sum[6] > 0) {
        fprintf(out, "  %-22s %12llu      all ranks (unused for %u calls "
                     "of their communicator)\n", "memories retired",
                (unsigned long long)r->sum[6], COMPCOLL_RETIRE_CYCLES);
    }
    if (r->sum[7] > 0) {
        fprintf(out, "  %-22s %12llu      all ranks (the sample misjudged; "
                     "exact selection ran)\n", "selection fallbacks",
                (unsigned long long)r->sum[7]);
    }
    fprintf(out, "  tensors (rank 0): %zu%s\n", stats_ntensors,
            s->tensors_unlisted ? " listed, more not listed" : "");
    if (stats_head != NULL) {
        fprintf(out, "    %-48s %12s %10s %10s\n", "key", "count", "calls",
                "k");
    }
    for (t = stats_head; t != NULL; t = t->next) {
        fprintf(out, "    %-48s %12llu %10llu %10llu\n", t->key,
                (unsigned long long)t->count, (unsigned long long)t->calls,
                (unsigned long long)t->k);
    }
}

static void stats_write_json(FILE *out, const stats_report_t *r,
                             const compcoll_stats_t *s)
{
    const compcoll_config_t      *c = &compcoll_cfg;
    struct compcoll_stats_tensor *t;

    fprintf(out, "{\n  \"version\": \"%s\",\n", PACKAGE_VERSION);
    fprintf(out, "  \"method\": \"%s\",\n  \"transport\": \"%s\",\n",
            stats_method(), stats_transport());
    fprintf(out, "  \"ranks\": %d,\n", r->ranks);
    fprintf(out, "  \"ratio\": %u,\n  \"select\": \"%s\",\n  \"beta\": %g,\n"
                 "  \"warmup\": %u,\n  \"ramp\": %u,\n"
                 "  \"wire_type\": \"%s\",\n",
            c->ratio, compcoll_cfg_enum_name("COMPCOLL_SELECT", c->select),
            c->beta, c->warmup, c->ramp,
            compcoll_cfg_enum_name("COMPCOLL_WIRE_TYPE", c->wire));
    fprintf(out, "  \"calls_compressed\": %llu,\n  \"calls_dense\": %llu,\n"
                 "  \"calls_passthrough\": %llu,\n"
                 "  \"calls_hierarchical\": %llu,\n"
                 "  \"calls_pipelined\": %llu,\n"
                 "  \"calls_failed\": %llu,\n"
                 "  \"calls_nonfinite\": %llu,\n",
            (unsigned long long)r->calls[0],
            (unsigned long long)r->calls[1],
            (unsigned long long)s->calls_passthrough,
            (unsigned long long)s->calls_hierarchical,
            (unsigned long long)s->calls_pipelined,
            (unsigned long long)r->calls[2],
            (unsigned long long)r->calls[3]);
    if (s->diag_calls > 0) {
        fprintf(out, "  \"topk_energy_captured\": {\"calls\": %llu, "
                     "\"mean\": %.6f, \"min\": %.6f},\n",
                (unsigned long long)s->diag_calls,
                s->diag_captured_sum / (double)s->diag_calls,
                s->diag_captured_min);
    }
    fprintf(out, "  \"calls_without_memory\": %llu,\n"
                 "  \"transport_fallbacks\": %llu,\n",
            (unsigned long long)r->sum[4], (unsigned long long)r->sum[5]);
    fprintf(out, "  \"elements_in\": %llu,\n  \"elements_sent\": %llu,\n",
            (unsigned long long)r->sum[2], (unsigned long long)r->sum[3]);
    fprintf(out, "  \"bytes_dense\": %llu,\n  \"bytes_sent\": %llu,\n",
            (unsigned long long)r->sum[0], (unsigned long long)r->sum[1]);
    if (r->sum[1] > 0) {
        fprintf(out, "  \"compression_ratio\": %.6g,\n",
                (double)r->sum[0] / (double)r->sum[1]);
    } else {
        fprintf(out, "  \"compression_ratio\": null,\n");
    }
    fprintf(out, "  \"time_select_s\": %.9g,\n  \"time_host_s\": %.9g,\n"
                 "  \"time_comm_s\": %.9g,\n  \"time_node_s\": %.9g,\n",
            r->tsum[0] / r->ranks, r->tsum[1] / r->ranks,
            r->tsum[2] / r->ranks, r->tsum[3] / r->ranks);
    fprintf(out, "  \"time_select_max_s\": %.9g,\n  \"time_host_max_s\": "
                 "%.9g,\n  \"time_comm_max_s\": %.9g,\n"
                 "  \"time_node_max_s\": %.9g,\n",
            r->tmax[0], r->tmax[1], r->tmax[2], r->tmax[3]);
    fprintf(out, "  \"tensors_retired\": %llu,\n",
            (unsigned long long)r->sum[6]);
    fprintf(out, "  \"select_fallbacks\": %llu,\n",
            (unsigned long long)r->sum[7]);
    fprintf(out, "  \"tensors_unlisted\": %llu,\n  \"tensors\": [",
            (unsigned long long)s->tensors_unlisted);
    for (t = stats_head; t != NULL; t = t->next) {
        fprintf(out, "%s\n    {\"key\": \"%s\", \"count\": %llu, \"calls\": "
                     "%llu, \"k\": %llu, \"elements_sent\": %llu, "
                     "\"bytes_sent\": %llu}",
                t == stats_head ? "" : ",", t->key,
                (unsigned long long)t->count, (unsigned long long)t->calls,
                (unsigned long long)t->k,
                (unsigned long long)t->elements_sent,
                (unsigned long long)t->bytes_sent);
    }
    fprintf(out, "%s]\n}\n", stats_head ? "\n  " : "");
}

void compcoll_stats_report(MPI_Comm world)
{
    compcoll_stats_t     total, *s = &total;
    stats_report_t       r;
    uint64_t             mine[8];
    double               tmine[4];
    uint64_t             calls[4];
    int                  rank;
    FILE                *out;
    compcoll_c_numeric_t c;

    stats_total(s);
    mine[0]  = s->bytes_dense;
    mine[1]  = s->bytes_sent;
    mine[2]  = s->elements_in;
    mine[3]  = s->elements_sent;
    mine[4]  = s->calls_no_memory;
    mine[5]  = s->transport_fallbacks;
    mine[6]  = s->tensors_retired;
    mine[7]  = s->select_fallbacks;
    tmine[0] = s->time_select;
    tmine[1] = s->time_host;
    tmine[2] = s->time_comm;
    tmine[3] = s->time_node;
    calls[0] = s->calls_compressed;
    calls[1] = s->calls_dense;
    calls[2] = s->calls_failed;
    calls[3] = s->calls_nonfinite;
    memset(&r, 0, sizeof(r));
    PMPI_Comm_rank(world, &rank);
    PMPI_Comm_size(world, &r.ranks);
    if (PMPI_Reduce(mine, r.sum, 8, MPI_UINT64_T, MPI_SUM, 0, world) !=
            MPI_SUCCESS ||
        PMPI_Reduce(tmine, r.tsum, 4, MPI_DOUBLE, MPI_SUM, 0, world) !=
            MPI_SUCCESS ||
        PMPI_Reduce(tmine, r.tmax, 4, MPI_DOUBLE, MPI_MAX, 0, world) !=
            MPI_SUCCESS ||
        PMPI_Reduce(calls, r.calls, 4, MPI_UINT64_T, MPI_MAX, 0, world) !=
            MPI_SUCCESS) {
        compcoll_warn("statistics reduction failed; no report");
        return;
    }
    /*
     * MPICH 4.0 over UCX tcp can hang in MPI_Finalize when the last calls
     * before it were reductions to one root: rank 0 keeps progressing its
     * worker while the others already wait in the launcher's barrier.  A
     * barrier here completes every rank's traffic first.
     */
    PMPI_Barrier(world);
    if (rank != 0) {
        return;
    }
    compcoll_c_numeric_begin(&c); /* JSON numbers: 0.5, never 0,5 */
    if (compcoll_cfg.stats == COMPCOLL_STATS_SUMMARY) {
        stats_print_summary(stderr, &r, s);
    } else if ((out = fopen(compcoll_cfg.stats_path, "w")) == NULL) {
        compcoll_error("cannot write COMPCOLL_STATS=%s: %s",
                       compcoll_cfg.stats_path, strerror(errno));
    } else {
        stats_write_json(out, &r, s);
        if (fclose(out) != 0) {
            compcoll_error("writing COMPCOLL_STATS=%s failed: %s",
                           compcoll_cfg.stats_path, strerror(errno));
        }
    }
    compcoll_c_numeric_end(&c);
}
