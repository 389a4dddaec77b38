/*
 * libcompcoll: process set-up, eligibility and dispatch.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll.h"

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll_diag.h"
#include "compcoll_fail.h"
#include "compcoll_log.h"
#include "compcoll_memtype.h"
#include "compcoll_stats.h"
#include "compcoll_topo.h"

extern char **environ;

/* Every method the library runs, by compcoll_method_id_t (none has no row:
 * it never reaches a method). */
static const compcoll_method_t *const cc_methods[] = {
    [COMPCOLL_METHOD_SCALECOM] = &compcoll_method_scalecom,
    [COMPCOLL_METHOD_ADACOMP]  = &compcoll_method_adacomp,
    [COMPCOLL_METHOD_TOPK]     = &compcoll_method_topk,
    [COMPCOLL_METHOD_DENSE]    = &compcoll_method_dense,
};

/*
 * Scratch of the calls a thread makes.  Calls on different communicators
 * run concurrently from different threads (MPI_THREAD_MULTIPLE), so what a
 * call borrows for its duration belongs to the calling thread; the blocks
 * are listed so that MPI_Finalize can free them.
 */
typedef struct cc_thread {
    struct cc_thread         *next;
    compcoll_select_scratch_t scratch;
    compcoll_buf_t            stage_g, stage_out; /* staging */
    compcoll_buf_t            stage_node;         /* hierarchical */
    compcoll_buf_t            node_pack;          /* its sparse result */
    compcoll_buf_t            pass_s, pass_r;     /* staged passthrough */
    int                       stage_depth;        /* inside cc_staged */
} cc_thread_t;

static int                             cc_initialized;
static int                             cc_active;      /* compressing at all */
static int                             cc_thread_level;
static const compcoll_method_t        *cc_method;
static const compcoll_transport_ops_t *cc_transport;
static char                            cc_errors[4096]; /* config errors */
static int                             cc_world_rank;
static pthread_mutex_t                 cc_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static cc_thread_t                    *cc_threads;     /* under the lock */
static __thread cc_thread_t           *cc_self;

/* This thread's scratch; NULL only when even that cannot be allocated. */
static cc_thread_t *cc_thread(void)
{
    cc_thread_t *t = cc_self;

    if (t == NULL && (t = calloc(1, sizeof(*t))) != NULL) {
        pthread_mutex_lock(&cc_threads_lock);
        t->next    = cc_threads;
        cc_threads = t;
        pthread_mutex_unlock(&cc_threads_lock);
        cc_self = t;
    }
    return t;
}

static void cc_threads_free(void)
{
    pthread_mutex_lock(&cc_threads_lock);
    while (cc_threads != NULL) {
        cc_thread_t *t = cc_threads;

        cc_threads = t->next;
        compcoll_buf_release(&t->stage_g);
        compcoll_buf_release(&t->stage_out);
        compcoll_buf_release(&t->stage_node);
        compcoll_buf_release(&t->node_pack);
        compcoll_buf_release(&t->pass_s);
        compcoll_buf_release(&t->pass_r);
        compcoll_select_scratch_release(&t->scratch);
        free(t);
    }
    pthread_mutex_unlock(&cc_threads_lock);
    /* a thread that calls again allocates anew */
    cc_self = NULL;
}

const compcoll_method_t *compcoll_method(void)
{
    return cc_method;
}

const compcoll_kernel_ops_t *compcoll_kernels(void)
{
    return &compcoll_host_kernels;
}

const compcoll_transport_ops_t *compcoll_transport(void)
{
    return cc_transport;
}

compcoll_select_scratch_t *compcoll_select_scratch(void)
{
    static __thread compcoll_select_scratch_t fallback; /* nothing cached */
    cc_thread_t                              *t = cc_thread();

    return t != NULL ? &t->scratch : &fallback;
}

int compcoll_thread_level(void)
{
    return cc_thread_level;
}

int compcoll_initialized(void)
{
    return cc_initialized;
}

static void cc_keep_error(void *ctx, const char *msg)
{
    size_t used = strlen(cc_errors);

    snprintf(cc_errors + used, sizeof(cc_errors) - used, "%s\n", msg);
}

static void cc_warn_unknown(void *ctx, const char *msg)
{
    if (cc_world_rank == 0) {
        compcoll_warn("%s", msg);
    }
}

static void cc_ignore(void *ctx, const char *msg)
{
}

int compcoll_env_compresses(void)
{
    compcoll_config_t cfg;

    if (compcoll_cfg_parse(&cfg, environ, cc_ignore, cc_ignore, NULL) !=
        COMPCOLL_OK) {
        return 1;
    }
    return cfg.enable && cfg.method != COMPCOLL_METHOD_NONE;
}

void compcoll_init_report(void)
{
    char *line, *save = NULL;

    for (line = strtok_r(cc_errors, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        compcoll_error("%s", line);
    }
    compcoll_error("libcompcoll refuses to run with an invalid configuration; "
                   "`compcoll-info -c` lists every variable and its values");
}

compcoll_status_t compcoll_init(int thread_level)
{
    compcoll_status_t status;

    PMPI_Comm_rank(MPI_COMM_WORLD, &cc_world_rank);
    compcoll_log_set_rank(cc_world_rank);

    cc_errors[0] = '\0';
    status = compcoll_cfg_parse(&compcoll_cfg, environ, cc_keep_error,
                                cc_warn_unknown, NULL);
    compcoll_log_level = (compcoll_log_level_t)compcoll_cfg.log_level;
    if (status != COMPCOLL_OK) {
        return status;
    }

    cc_initialized = 1;
    cc_active      = compcoll_cfg.enable &&
                     compcoll_cfg.method != COMPCOLL_METHOD_NONE;
    cc_thread_level = thread_level;
    if (!cc_active) {
        compcoll_info("compression off: every call goes to the MPI library");
        return COMPCOLL_OK;
    }
    cc_method = cc_methods[compcoll_cfg.method];

    status = compcoll_registry_init();
    if (status != COMPCOLL_OK) {
        goto degrade;
    }

    cc_transport = &compcoll_mpi_transport;
    if (compcoll_cfg.transport == COMPCOLL_TRANSPORT_UCX) {
#ifdef HAVE_UCX
        /* Even when init fails locally, the ucx transport stays selected:
         * its comm_create then reports UNAVAILABLE on every rank of each
         * communicator, so all ranks fall back together. */
        cc_transport = &compcoll_ucx_transport;
#else
        if (cc_world_rank == 0) {
            compcoll_warn("built without UCX: using the mpi transport");
        }
#endif
    }
    status = cc_transport->init();
    if (status != COMPCOLL_OK && cc_transport == &compcoll_mpi_transport) {
        goto degrade;
    }
    status = (cc_transport == &compcoll_mpi_transport)
                 ? COMPCOLL_OK
                 : compcoll_mpi_transport.init();
    if (status != COMPCOLL_OK) {
        goto degrade;
    }
    compcoll_info("libcompcoll %s: method %s, transport %s, ratio %u",
                  PACKAGE_VERSION, cc_method->name, cc_transport->name,
                  compcoll_cfg.ratio);
    return COMPCOLL_OK;

degrade:
    compcoll_warn("set-up failed (%s): every call goes to the MPI library",
                  compcoll_status_string(status));
    cc_active = 0;
    return COMPCOLL_OK;
}

/* ---------------------------------------------------- settings agreement */

#define CC_VALUE_LEN 48 /* of a value as the report quotes it */

/* The effective value of row f on this rank, for the report. */
static void cc_setting_text(const compcoll_cfg_field_t *f, char *buf)
{
    const char *v = getenv(f->name);

    snprintf(buf, CC_VALUE_LEN, "%s%s", v != NULL ? v : f->dflt,
             v != NULL ? "" : " (unset)");
}

/* Rank 0: which ranks have which value of row f (texts: every rank's). */
static void cc_setting_report(const compcoll_cfg_field_t *f,
                              const char *texts, int size, const char *more)
{
    char   msg[1024];
    size_t len = 0;
    int    r, q, groups = 0;

    len += (size_t)snprintf(msg, sizeof(msg),
                            "%s differs between the ranks:", f->name);
    for (r = 0; r < size && len < sizeof(msg); r++) {
        const char *v = texts + (size_t)r * CC_VALUE_LEN;
        int         seen = 0, count = 0, shown = 0;

        for (q = 0; q < r && !seen; q++) {
            seen = strcmp(texts + (size_t)q * CC_VALUE_LEN, v) == 0;
        }
        if (seen) {
            continue;
        }
        if (++groups > 4) {
            len += (size_t)snprintf(msg + len, sizeof(msg) - len, " ...");
            break;
        }
        len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s '%s' on "
                                "rank", groups > 1 ? ";" : "", v);
        for (q = r; q < size; q++) {
            count += strcmp(texts + (size_t)q * CC_VALUE_LEN, v) == 0;
        }
        len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s",
                                count > 1 ? "s" : "");
        for (q = r; q < size && len < sizeof(msg); q++) {
            if (strcmp(texts + (size_t)q * CC_VALUE_LEN, v) != 0) {
                continue;
            }
            if (++shown > 8) {
                len += (size_t)snprintf(msg + len, sizeof(msg) - len,
                                        " and %d more", count - 8);
                break;
            }
            len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s %d",
                                    shown > 1 ? "," : "", q);
        }
    }
    compcoll_error("%s. Every rank must run with the same %s%s%s: the ranks "
                   "would make different collective calls", msg, f->name,
                   more[0] != '\0' ? ", and" : "", more);
}

compcoll_status_t compcoll_settings_agree(void)
{
    const size_t n = compcoll_cfg_table_size;
    uint64_t    *mine, *most;
    char        *texts = NULL, text[CC_VALUE_LEN], more[256] = "";
    size_t       i, first = n, len = 0;
    int          rank = 0, size = 1;
    compcoll_status_t status = COMPCOLL_OK;

    mine = calloc(4 * n, sizeof(*mine));
    if (mine == NULL) {
        return COMPCOLL_ERR_NO_MEMORY; /* every rank stops: it is MPI_Init */
    }
    most = mine + 2 * n;
    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    /* a row differs iff max(d) != min(d), i.e. max(d) != ~max(~d) */
    compcoll_cfg_digest(&compcoll_cfg, mine);
    for (i = 0; i < n; i++) {
        mine[n + i] = ~mine[i];
    }
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(mine, most, (int)(2 * n),
                                           MPI_UINT64_T, MPI_MAX,
                                           MPI_COMM_WORLD),
                            status, out);
    for (i = 0; i < n; i++) {
        if (most[i] == ~most[n + i]) {
            continue;
        }
        if (first == n) {
            first = i;
        } else if (len < sizeof(more) &&
                   compcoll_cfg_table[first].offset !=
                       offsetof(compcoll_config_t, enable) &&
                   compcoll_cfg_table[first].offset !=
                       offsetof(compcoll_config_t, method)) {
            /* (when compression itself differs, the rest is moot) */
            len += (size_t)snprintf(more + len, sizeof(more) - len, " %s",
                                    compcoll_cfg_table[i].name);
        }
    }
    if (first == n) {
        goto out;
    }
    /* the first differing variable, with every rank's value */
    cc_setting_text(&compcoll_cfg_table[first], text);
    if (rank == 0) {
        texts = malloc((size_t)size * CC_VALUE_LEN);
        if (texts == NULL) {
            /* the job stops either way: without every rank's value */
            compcoll_error("%s differs between the ranks; every rank must "
                           "run with the same value",
                           compcoll_cfg_table[first].name);
            PMPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Gather(text, CC_VALUE_LEN, MPI_CHAR, texts,
                                        CC_VALUE_LEN, MPI_CHAR, 0,
                                        MPI_COMM_WORLD),
                            status, out);
    if (rank == 0) {
        cc_setting_report(&compcoll_cfg_table[first], texts, size, more);
    }
    status = COMPCOLL_ERR_INVALID_PARAM;
out:
    free(texts);
    free(mine);
    return status;
}

void compcoll_finalize(void)
{
    if (!cc_initialized) {
        return;
    }
    if (compcoll_cfg.stats != COMPCOLL_STATS_OFF) {
        compcoll_stats_report(MPI_COMM_WORLD);
    }
    /* device state goes first: it frees streams of the GPU module */
    compcoll_gpu_finalize();
    if (cc_active) {
        compcoll_registry_finalize();
        if (cc_transport != &compcoll_mpi_transport) {
            cc_transport->finalize();
        }
        compcoll_mpi_transport.finalize();
    }
    cc_threads_free();
    compcoll_stats_free();
    /* the topology last: the registry was its only user */
    compcoll_topo_finalize();
    cc_active      = 0;
    cc_initialized = 0;
}

/* float32 under the names C and Fortran give it (MPICH's Fortran binding
 * calls the C entry point with MPI_REAL; mpi_f08 may pass MPI_FLOAT). */
static int cc_float32(MPI_Datatype dt)
{
    return dt == MPI_FLOAT || dt == MPI_REAL || dt == MPI_REAL4;
}

int compcoll_allreduce_eligible(MPI_Count count, MPI_Datatype dt, MPI_Op op,
                                MPI_Comm comm, int nonblocking,
                                const char **why)
{
    int inter = 0, size = 0;

    if (!cc_initialized) {
        *why = "library not initialised (MPI_Init not intercepted)";
    } else if (!cc_active) {
        *why = "compression off";
    } else if (!cc_float32(dt)) {
        *why = "datatype is not float32 (MPI_FLOAT, MPI_REAL, MPI_REAL4)";
    } else if (op != MPI_SUM) {
        *why = "op is not MPI_SUM";
    } else if (count < 0 || (MPI_Count)compcoll_cfg.min_count > count) {
        *why = "count below COMPCOLL_MIN_COUNT";
    } else if (count > INT_MAX) {
        /* the exchange counts in int where MPI does (PMPI collectives) */
        *why = "count above INT_MAX";
    } else if (comm == MPI_COMM_NULL) {
        *why = "MPI_COMM_NULL";
    } else if (PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter) {
        *why = "intercommunicator";
    } else if (PMPI_Comm_size(comm, &size) != MPI_SUCCESS || size < 2) {
        *why = "one-rank communicator (the sum is the input)";
    } else if (nonblocking && cc_thread_level != MPI_THREAD_MULTIPLE) {
        *why = "nonblocking call without MPI_THREAD_MULTIPLE (no progress "
               "thread)";
    } else {
        return 1;
    }
    return 0;
}

void compcoll_note_passthrough(const char *what, MPI_Count count,
                               const char *why)
{
    compcoll_stats.calls_passthrough++;
    compcoll_trace("%s count=%lld: passthrough: %s", what, (long long)count,
                   why);
}

static const char *cc_memtype_name(compcoll_memtype_t type)
{
    switch (type) {
    case COMPCOLL_MEM_DEVICE:
        return "device";
    case COMPCOLL_MEM_MANAGED:
        return "managed";
    default:
        return "host";
    }
}

/*
 * A rank that cannot reach its buffers still makes the call's collective
 * steps, with zeros and no memory, so that the other ranks do not hang;
 * then it fails the call with `why`.
 */
static compcoll_status_t cc_stand_in(compcoll_comm_t *cc,
                                     compcoll_tensor_t *t, size_t n,
                                     compcoll_status_t why)
{
    compcoll_tensor_t stand_in = *t;
    float            *zeros    = calloc(n ? n : 1, sizeof(float));

    if (zeros != NULL) {
        stand_in.mem      = NULL;
        stand_in.stats    = NULL;
        stand_in.stand_in = 1;
        cc_method->allreduce(cc, &stand_in, zeros, zeros, n);
        free(zeros);
    } else {
        compcoll_fail_job(cc, "no memory for a stand-in gradient");
    }
    return why;
}

static compcoll_status_t cc_blind(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                  size_t n, compcoll_status_t why)
{
    compcoll_error("this rank cannot read or write the buffers of an "
                   "MPI_Allreduce of %zu floats (%s); it takes part with "
                   "zeros and fails the call", n,
                   compcoll_status_string(why));
    return cc_stand_in(cc, t, n, why);
}

int compcoll_staging(void)
{
    return cc_self != NULL && cc_self->stage_depth > 0;
}

/* Device buffers, method without a device path: through host memory. */
static compcoll_status_t cc_staged(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                   const float *g,
                                   const compcoll_mem_info_t *gw, float *out,
                                   const compcoll_mem_info_t *ow, size_t n)
{
    const size_t      bytes = n * sizeof(float);
    cc_thread_t      *self  = cc_thread();
    compcoll_status_t status;
    const float      *hg    = g;
    float            *ho    = out;

    if (self == NULL) {
        return cc_blind(cc, t, n, COMPCOLL_ERR_NO_MEMORY);
    }
    if (gw->type == COMPCOLL_MEM_DEVICE) {
        float *p = compcoll_buf_reserve(&self->stage_g, bytes);

        if (p == NULL) {
            return cc_blind(cc, t, n, COMPCOLL_ERR_NO_MEMORY);
        }
        status = compcoll_mem_copy(gw, p, g, bytes);
        if (status != COMPCOLL_OK) {
            return cc_blind(cc, t, n, status);
        }
        hg = p;
    }
    if (out == g) {
        ho = (float *)hg;
    } else if (ow->type == COMPCOLL_MEM_DEVICE) {
        ho = compcoll_buf_reserve(&self->stage_out, bytes);
        if (ho == NULL) {
            return cc_blind(cc, t, n, COMPCOLL_ERR_NO_MEMORY);
        }
    }
    status = compcoll_gpu_tensor_to_host(cc, t);
    if (status != COMPCOLL_OK) {
        return cc_blind(cc, t, n, status);
    }
    self->stage_depth++;
    status = cc_method->allreduce(cc, t, hg, ho, n);
    self->stage_depth--;
    if (status == COMPCOLL_OK && ho != out) {
        status = compcoll_mem_copy(ow, out, ho, bytes);
    }
    return status;
}

/* The method on tensor t, wherever its buffers live. */
static compcoll_status_t cc_call(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                 const float *g, float *out, size_t n)
{
    compcoll_mem_info_t    gw, ow;
    compcoll_gpu_tensor_t *gt;
    compcoll_status_t      status;

    if (!compcoll_gpu_present()) {
        /* a CPU-only process: host memory, nothing asked */
        return cc_method->allreduce(cc, t, g, out, n);
    }
    compcoll_mem_query(g, &gw);
    if (out == g) {
        ow = gw;
    } else {
        compcoll_mem_query(out, &ow);
    }
    if (gw.type == COMPCOLL_MEM_HOST && ow.type == COMPCOLL_MEM_HOST) {
        status = compcoll_gpu_tensor_to_host(cc, t);
        if (status != COMPCOLL_OK) {
            return cc_blind(cc, t, n, status);
        }
        return cc_method->allreduce(cc, t, g, out, n);
    }
    compcoll_trace("allreduce count=%zu: gradient in %s memory (device %d), "
                   "output in %s memory (device %d)", n,
                   cc_memtype_name(gw.type), gw.device,
                   cc_memtype_name(ow.type), ow.device);
    /* COMPCOLL_MOMENTUM's correction runs on the host: straight there,
     * without moving the tensor's memory to the device first */
    if (cc_method->allreduce_gpu != NULL && compcoll_cfg.momentum == 0.0 &&
        gw.type != COMPCOLL_MEM_HOST &&
        ow.type != COMPCOLL_MEM_HOST && gw.device == ow.device &&
        gw.context == ow.context) {
        status = compcoll_gpu_tensor_get(cc, t, &gw, &gt);
        if (status == COMPCOLL_OK) {
            return cc_method->allreduce_gpu(cc, t, gt, g, out, n);
        }
        compcoll_warn_once("no device path for a tensor of %zu elements "
                           "(%s): device buffers go through host memory",
                           n, compcoll_status_string(status));
    }
    return cc_staged(cc, t, g, &gw, out, &ow, n);
}

compcoll_status_t compcoll_allreduce_staged(compcoll_comm_t *cc,
                                            compcoll_tensor_t *t,
                                            const float *g, float *out,
                                            size_t n)
{
    compcoll_mem_info_t gw, ow;

    compcoll_warn_once("device path of a tensor of %zu elements unavailable "
                       "on this rank: its buffers go through host memory", n);
    compcoll_mem_query(g, &gw);
    compcoll_mem_query(out, &ow);
    return cc_staged(cc, t, g, &gw, out, &ow, n);
}

/*
 * Passthrough with device buffers: the MPI library is not CUDA-aware, so the
 * buffer's extent goes to host memory and back around PMPI_Allreduce.  The
 * receive buffer is copied in first unless the type is contiguous, so that
 * the gaps of a derived datatype keep their contents.  A rank that cannot
 * stage its buffers fails the call when it is alone in an
 * intracommunicator,
 * and otherwise ends the job: the others are in the all-reduce, some
 * perhaps with host buffers and no step at which they could learn of it,
 * and a stand-in contribution would hand them a wrong result as a success.
 */
static compcoll_status_t cc_pass_staged(const void *sbuf,
                                        const compcoll_mem_info_t *sw,
                                        void *rbuf,
                                        const compcoll_mem_info_t *rw,
                                        int count, MPI_Datatype dt, MPI_Op op,
                                        MPI_Comm comm, int *rc)
{
    cc_thread_t      *self    = cc_thread();
    const int         inplace = (sbuf == MPI_IN_PLACE);
    const int         rdev    = (rw->type == COMPCOLL_MEM_DEVICE);
    const int         sdev    = (!inplace && sw->type == COMPCOLL_MEM_DEVICE);
    compcoll_status_t status  = COMPCOLL_OK;
    MPI_Aint          lb, extent, true_lb, true_extent;
    int               size, nranks, inter = 1;
    size_t            span;
    char             *hs = NULL, *hr = NULL;

    COMPCOLL_MPI_CHECK_GOTO(PMPI_Type_get_extent(dt, &lb, &extent), status,
                            out);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Type_get_true_extent(dt, &true_lb,
                                                      &true_extent),
                            status, out);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Type_size(dt, &size), status, out);
    if (extent < 0 || true_extent < 0) {
        compcoll_error("MPI_Allreduce with a device buffer and a datatype of "
                       "negative extent cannot be staged: refusing the call");
        return COMPCOLL_ERR_NOT_SUPPORTED;
    }
    span = (size_t)true_extent + (size_t)(count - 1) * (size_t)extent;
    if (self != NULL) {
        hr = compcoll_buf_reserve(&self->pass_r, span);
        hs = sdev ? compcoll_buf_reserve(&self->pass_s, span) : NULL;
    }
    if (hr == NULL || (sdev && hs == NULL)) {
        status = COMPCOLL_ERR_NO_MEMORY;
    }
    if (status == COMPCOLL_OK && rdev &&
        (inplace || true_lb != 0 || (size_t)size * (size_t)count != span)) {
        status = compcoll_mem_copy(rw, hr, (char *)rbuf + true_lb, span);
    }
    if (status == COMPCOLL_OK && sdev) {
        status = compcoll_mem_copy(sw, hs, (const char *)sbuf + true_lb,
                                   span);
    }
    if (status != COMPCOLL_OK && PMPI_Comm_test_inter(comm, &inter) ==
                                     MPI_SUCCESS && !inter &&
        PMPI_Comm_size(comm, &nranks) == MPI_SUCCESS && nranks == 1) {
        compcoll_error("MPI_Allreduce of %d elements with a device buffer "
                       "cannot be staged through host memory (%s): failing "
                       "the call", count, compcoll_status_string(status));
        return status; /* nobody else waits */
    }
    if (status != COMPCOLL_OK) {
        compcoll_error("MPI_Allreduce of %d elements with a device buffer "
                       "goes to the MPI library, which is not CUDA-aware, and "
                       "this rank cannot stage it through host memory (%s): "
                       "the other ranks cannot learn of it in the "
                       "all-reduce, so the job ends",
                       count, compcoll_status_string(status));
        PMPI_Abort(comm, 1);
        abort();
    }
    *rc = PMPI_Allreduce(inplace ? MPI_IN_PLACE : (sdev ? hs - true_lb : sbuf),
                         rdev ? hr - true_lb : rbuf, count, dt, op, comm);
    if (*rc == MPI_SUCCESS && rdev) {
        status = compcoll_mem_copy(rw, (char *)rbuf + true_lb, hr, span);
        if (status != COMPCOLL_OK) {
            compcoll_error("MPI_Allreduce of %d elements: the result could "
                           "not be copied back to the device buffer (%s); "
                           "this rank fails the call", count,
                           compcoll_status_string(status));
        }
    }
out:
    return status;
}

compcoll_status_t compcoll_passthrough_allreduce(const void *sbuf, void *rbuf,
                                                 int count, MPI_Datatype dt,
                                                 MPI_Op op, MPI_Comm comm,
                                                 int *rc)
{
    compcoll_mem_info_t sw, rw;

    /* Device buffers are the library's business only while it is enabled:
     * COMPCOLL_ENABLE=n and METHOD=none leave every call to MPI as is. */
    if (count <= 0 || !cc_initialized || !compcoll_cfg.enable ||
        compcoll_cfg.method == COMPCOLL_METHOD_NONE ||
        !compcoll_gpu_present()) {
        *rc = PMPI_Allreduce(sbuf, rbuf, count, dt, op, comm);
        return COMPCOLL_OK;
    }
    sw.type = COMPCOLL_MEM_HOST;
    if (sbuf != MPI_IN_PLACE) {
        compcoll_mem_query(sbuf, &sw);
    }
    compcoll_mem_query(rbuf, &rw);
    if (sw.type != COMPCOLL_MEM_DEVICE && rw.type != COMPCOLL_MEM_DEVICE) {
        *rc = PMPI_Allreduce(sbuf, rbuf, count, dt, op, comm);
        return COMPCOLL_OK;
    }
    compcoll_trace("allreduce count=%d: passthrough staged through host "
                   "memory (send buffer %s, receive buffer %s)", count,
                   sbuf == MPI_IN_PLACE ? "in place" : cc_memtype_name(sw.type),
                   cc_memtype_name(rw.type));
    return cc_pass_staged(sbuf, &sw, rbuf, &rw, count, dt, op, comm, rc);
}

/*
 * The method on comm's tensor keyed by `key` (the caller's gradient
 * buffer), with its per-tensor statistics, ended by the outcome agreement.
 * `why` other than OK: this rank cannot reach its buffers and takes part
 * with zeros (cc_blind), then fails the call.
 */
static compcoll_status_t cc_tensor_call(compcoll_comm_t *cc, const void *key,
                                        const float *g, float *out, size_t n,
                                        compcoll_status_t why)
{
    compcoll_status_t  status;
    compcoll_tensor_t *t, stand_in;
    const uint64_t     bytes0 = compcoll_stats.bytes_sent;
    const uint64_t     elems0 = compcoll_stats.elements_sent;
    /* a failed call is counted as failed, not as what it set out to be */
    const uint64_t     sparse0 = compcoll_stats.calls_compressed;
    const uint64_t     dense0  = compcoll_stats.calls_dense;
    const uint64_t     piped0  = compcoll_stats.calls_pipelined;

    status = compcoll_tensor_get(cc, key, n, &t);
    if (status != COMPCOLL_OK) {
        /* no state for it here: the call is made with a stand-in */
        memset(&stand_in, 0, sizeof(stand_in));
        stand_in.count = n;
        return compcoll_call_end(cc, NULL, cc_blind(cc, &stand_in, n, status),
                                 0);
    }
    compcoll_host_nonfinite = 0;
    if (why == COMPCOLL_OK) {
        status = cc_call(cc, t, g, out, n);
    } else {
        compcoll_error("a rank of this node could not take its part in an "
                       "MPI_Allreduce of %zu floats (%s); its leader takes "
                       "part with zeros and the call fails", n,
                       compcoll_status_string(why));
        status = cc_stand_in(cc, t, n, why);
    }
    if (t->stats != NULL) {
        t->stats->bytes_sent += compcoll_stats.bytes_sent - bytes0;
        t->stats->elements_sent += compcoll_stats.elements_sent - elems0;
    }
    status = compcoll_call_end(cc, t, status, compcoll_host_nonfinite);
    if (status == COMPCOLL_OK) {
        compcoll_diag(cc, t, out, n);
    } else {
        compcoll_stats.calls_compressed = sparse0;
        compcoll_stats.calls_dense      = dense0;
        compcoll_stats.calls_pipelined  = piped0;
    }
    return status;
}

/*
 * Copies for a hierarchical call with a device buffer: MPI is not
 * CUDA-aware, so the node's reduce and broadcast work on host memory.
 */
static compcoll_status_t cc_hier_copy(const compcoll_mem_info_t *where,
                                      void *dst, const void *src, size_t bytes)
{
    if (where->type != COMPCOLL_MEM_DEVICE) {
        memcpy(dst, src, bytes);
        return COMPCOLL_OK;
    }
    return compcoll_mem_copy(where, dst, src, bytes);
}

/*
 * A hierarchical call (COMPCOLL_HIERARCHICAL; compcoll_registry.h): the
 * node's gradients summed by PMPI_Allreduce (cc_hier_node_sum),
 * the method run by the node leaders on their inner state with that sum as
 * the gradient (in place), then the leader's status and, when it is good,
 * its result broadcast to the node.  A rank that cannot reach its buffers
 * takes part with zeros (a leader: without memory) and fails the call.
 */
/*
 * A node leader's result, when at most a quarter of it is not +0 (a
 * compressed call's is: k sums among zeros): its nonzero words as (index,
 * bits) lists, idx then bits, in pack (2 nnz words).  Returns nnz, or -1
 * when the result is denser or pack cannot be had: then it goes dense.
 */
static int cc_hier_pack(cc_thread_t *self, const float *work, size_t n)
{
    const uint32_t *w = (const uint32_t *)(const void *)work;
    uint32_t       *pack;
    size_t          i, nnz = 0;

    for (i = 0; i < n; i++) {
        nnz += (w[i] != 0);
    }
    if (nnz > n / 4) {
        return -1;
    }
    pack = (self != NULL) ? compcoll_buf_reserve(&self->node_pack,
                                                 2 * nnz * sizeof(uint32_t) + 1)
                          : NULL;
    if (pack == NULL) {
        return -1;
    }
    for (i = 0, nnz = 0; i < n; i++) {
        if (w[i] != 0) {
            pack[nnz++] = (uint32_t)i;
        }
    }
    for (i = 0; i < nnz; i++) {
        pack[nnz + i] = w[pack[i]];
    }
    return (int)nnz;
}

/* The other ranks: the dense result from the leader's lists. */
static void cc_hier_unpack(float *work, size_t n, const uint32_t *pack,
                           size_t nnz)
{
    uint32_t *w = (uint32_t *)(void *)work;
    size_t    j;

    memset(w, 0, n * sizeof(uint32_t));
    for (j = 0; j < nnz; j++) {
        w[pack[j]] = pack[nnz + j];
    }
}

/* One hierarchical call's state on a rank (cc_hier). */
typedef struct {
    compcoll_mem_info_t gw, ow;   /* where g and out live */
    int                 staged;   /* a device buffer: work is host memory */
    float              *work;     /* the node's sum, then the result */
    float              *spare;    /* a stand-in work, freed at the end */
    compcoll_status_t   local;    /* this rank's own failure */
} cc_hier_t;

/* work: out, or, with a device buffer, a host buffer holding g (a rank that
 * cannot have it goes on with zeros, its failure in h->local). */
static const float *cc_hier_stage_in(compcoll_comm_t *cc, cc_hier_t *h,
                                     const float *g, float *out, size_t n)
{
    cc_thread_t *self = cc_thread();

    h->work = out;
    if (compcoll_gpu_present()) {
        compcoll_mem_query(g, &h->gw);
        h->ow = h->gw;
        if (out != g) {
            compcoll_mem_query(out, &h->ow);
        }
        h->staged = (h->gw.type == COMPCOLL_MEM_DEVICE ||
                     h->ow.type == COMPCOLL_MEM_DEVICE);
    }
    if (!h->staged) {
        return g;
    }
    h->work  = (self != NULL) ? compcoll_buf_reserve(&self->stage_node,
                                                     n * sizeof(float))
                              : NULL;
    h->local = (h->work != NULL)
                   ? cc_hier_copy(&h->gw, h->work, g, n * sizeof(float))
                   : COMPCOLL_ERR_NO_MEMORY;
    if (h->local != COMPCOLL_OK) {
        h->work = h->spare = calloc(n, sizeof(float));
        if (h->spare == NULL) {
            compcoll_fail_job(cc, "no memory for a stand-in gradient");
        }
    }
    return h->work;
}

/*
 * The node's sum on its leader, and whether every rank of the node could
 * take its part (*node_why: the first failure, by status code, else OK),
 * so that the leader makes its call with stand-ins when one could not and
 * the call fails on every rank, memory cleared.  An all-reduce, though only
 * the leader needs the sum: MPICH's (4.0) reduce of a large vector takes
 * about twice its all-reduce.  A failure here is an MPI failure (cc_hier).
 */
static compcoll_status_t cc_hier_node_sum(compcoll_comm_t *cc, cc_hier_t *h,
                                          const float *g, size_t n,
                                          compcoll_status_t *node_why)
{
    compcoll_status_t status = COMPCOLL_OK;
    int               why    = (int)h->local, worst = 0;
    double            t0     = compcoll_time();

    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(g == h->work ? MPI_IN_PLACE : g,
                                           h->work, (int)n, MPI_FLOAT, MPI_SUM,
                                           cc->node),
                            status, out);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(&why, &worst, 1, MPI_INT, MPI_MIN,
                                           cc->node),
                            status, out);
    *node_why = (compcoll_status_t)worst;
    status    = compcoll_fault(cc, COMPCOLL_FAULT_NODE);
out:
    compcoll_stats.time_node += compcoll_time() - t0;
    return status;
}

/*
 * The leader's status (code[0]) and result to the node: dense, or, when it
 * is sparse enough, its nonzero (index, bits) pairs (code[1] of them; -1:
 * dense).  A rank that cannot hold the pairs takes its part and fails.
 */
static compcoll_status_t cc_hier_result(compcoll_comm_t *cc, cc_hier_t *h,
                                        compcoll_status_t leader_status,
                                        size_t n, compcoll_status_t *result)
{
    const int         leader = (cc->node_rank == 0);
    cc_thread_t      *self   = cc_thread();
    compcoll_status_t status = COMPCOLL_OK;
    int               code[2];
    double            t0 = compcoll_time();

    code[0] = (int)leader_status;
    code[1] = -1;
    if (leader && leader_status == COMPCOLL_OK) {
        code[1] = cc_hier_pack(self, h->work, n);
    }
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Bcast(code, 2, MPI_INT, 0, cc->node), status,
                            out);
    *result = (compcoll_status_t)code[0];
    if (code[0] == COMPCOLL_OK && code[1] < 0) {
        COMPCOLL_MPI_CHECK_GOTO(PMPI_Bcast(h->work, (int)n, MPI_FLOAT, 0,
                                           cc->node),
                                status, out);
    } else if (code[0] == COMPCOLL_OK && code[1] >= 0) {
        const size_t words = 2 * (size_t)code[1];
        uint32_t    *pack  = (self == NULL) ? NULL
                             : leader       ? self->node_pack.ptr
                                            : compcoll_buf_reserve(
                                                  &self->node_pack,
                                                  words * 4 + 1);

        if (pack == NULL) {
            /* this rank still takes its part (work holds the lists: 2 nnz
             * <= n / 2 words), then fails the call */
            h->local = COMPCOLL_ERR_NO_MEMORY;
            pack     = (uint32_t *)(void *)h->work;
        }
        if (words != 0) {
            COMPCOLL_MPI_CHECK_GOTO(PMPI_Bcast(pack, (int)words, MPI_UINT32_T,
                                               0, cc->node),
                                    status, out);
        }
        if (!leader && h->local == COMPCOLL_OK) {
            cc_hier_unpack(h->work, n, pack, (size_t)code[1]);
        }
    }
    status = compcoll_fault(cc, COMPCOLL_FAULT_RESULT);
out:
    compcoll_stats.time_node += compcoll_time() - t0;
    return status;
}

static compcoll_status_t cc_hier(compcoll_comm_t *cc, const float *g,
                                 float *out, size_t n)
{
    const int          leader = (cc->node_rank == 0);
    const float *const key    = g; /* the tensor's identity, as flat */
    compcoll_status_t  status, node_why = COMPCOLL_OK;
    compcoll_status_t  result = COMPCOLL_OK;
    cc_hier_t          h;

    memset(&h, 0, sizeof(h));
    g = cc_hier_stage_in(cc, &h, g, out, n);
    compcoll_trace("allreduce count=%zu comm=%llu: hierarchical, node rank "
                   "%d%s%s", n, (unsigned long long)cc->id, cc->node_rank,
                   leader ? " (the node's leader)" : "",
                   h.staged ? ", staged through host memory" : "");
    /*
     * An MPI step among the node's ranks that fails leaves this rank unable
     * to tell what its node's other ranks saw: were it to return, a leader
     * would skip the leaders' call that the other leaders are making, or a
     * rank would miss the broadcast its leader is making.  The job ends.
     */
    status = cc_hier_node_sum(cc, &h, g, n, &node_why);
    if (status != COMPCOLL_OK) {
        compcoll_fail_job(cc, "the sum over the node's ranks failed in MPI");
    }
    if (leader) {
        result = cc_tensor_call(cc->inner, key, h.work, h.work, n, node_why);
    }
    status = cc_hier_result(cc, &h, result, n, &result);
    if (status != COMPCOLL_OK) {
        compcoll_fail_job(cc, "the node leader's broadcast of its result "
                          "failed in MPI");
    }
    compcoll_stats.calls_hierarchical++;
    status = result;
    if (status == COMPCOLL_OK && h.staged && h.local == COMPCOLL_OK) {
        h.local = cc_hier_copy(&h.ow, out, h.work, n * sizeof(float));
    }
    if (status == COMPCOLL_OK && h.local != COMPCOLL_OK) {
        compcoll_error("MPI_Allreduce of %zu floats: this rank could not "
                       "move its buffers between device and host memory "
                       "or hold its node's result (%s); it took its part "
                       "and fails the call", n,
                       compcoll_status_string(h.local));
        status = h.local;
    } else if (status != COMPCOLL_OK && !leader) {
        /* the leader said why */
        compcoll_debug("MPI_Allreduce of %zu floats failed on this "
                       "node's leader (%s)", n,
                       compcoll_status_string(status));
    }
    free(h.spare);
    if (leader && cc->inner != NULL && cc->inner->broken) {
        /* the leaders' transport failed: the whole communicator passes
         * through from now on (compcoll_call_end), node ranks included */
        status = COMPCOLL_ERR_TRANSPORT;
    }
    /* a rank's own failure after the node's broadcast, agreed */
    return compcoll_call_end(cc, NULL, status, 0);
}

/* A call on a communicator whose transport failed (compcoll_call_end):
 * to MPI, as every rank of it does. */
static compcoll_status_t cc_broken(compcoll_comm_t *cc, const void *sbuf,
                                   void *rbuf, size_t count)
{
    compcoll_status_t status;
    int               rc = MPI_SUCCESS;

    compcoll_trace("allreduce count=%zu comm=%llu: passthrough, its "
                   "transport failed earlier", count,
                   (unsigned long long)cc->id);
    compcoll_stats.calls_passthrough++;
    /* on the library's own duplicate: a nonblocking call runs on the
     * progress thread, beside the application's own collectives on comm */
    status = compcoll_passthrough_allreduce(sbuf, rbuf, (int)count,
                                            MPI_FLOAT, MPI_SUM, cc->ctl, &rc);
    return (status != COMPCOLL_OK) ? status
           : (rc != MPI_SUCCESS)   ? COMPCOLL_ERR_MPI
                                   : COMPCOLL_OK;
}

/* One call on cc, flat or hierarchical; the caller holds cc->lock. */
compcoll_status_t compcoll_comm_call(compcoll_comm_t *cc, const void *sbuf,
                                     void *rbuf, size_t count)
{
    const float *g = (sbuf == MPI_IN_PLACE) ? rbuf : sbuf;

    if (cc->broken) { /* agreed by every rank of comm (compcoll_call_end) */
        return cc_broken(cc, sbuf, rbuf, count);
    }
    return (cc->node != MPI_COMM_NULL) ? cc_hier(cc, g, rbuf, count)
                                       : cc_tensor_call(cc, g, g, rbuf, count,
                                                        COMPCOLL_OK);
}

compcoll_status_t compcoll_allreduce(const void *sbuf, void *rbuf,
                                     size_t count, MPI_Comm comm)
{
    compcoll_status_t status;
    compcoll_comm_t  *cc;

    status = compcoll_comm_get(comm, &cc);
    if (status != COMPCOLL_OK) {
        return status;
    }
    /* MPI's order of collectives on a communicator: the nonblocking calls
     * started before this one go first. */
    compcoll_nbc_drain(cc);
    pthread_mutex_lock(&cc->lock);
    status = compcoll_comm_call(cc, sbuf, rbuf, count);
    pthread_mutex_unlock(&cc->lock);
    return status;
}
