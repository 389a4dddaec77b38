/*
 * ucx_transport: the process-wide UCX state, the endpoint cache, waiting, and
 * the transport's table of operations.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_ucx.h"

#include <stdlib.h>
#include <string.h>

/* Closing endpoints at finalize waits this long for peers before giving up on
 * a clean flush; the worker's destruction then releases what is left. */
#define COMPCOLL_UCX_CLOSE_TIMEOUT_S 10.0

#define COMPCOLL_UCX_EP_MIN_BUCKETS 64

#define COMPCOLL_UCX_INIT_FAILED "UCX transport unavailable"

struct compcoll_ucx_ep_entry {
    compcoll_ucx_ep_entry_t *next;
    uint64_t                 hash;
    ucp_ep_h                 ep;
    void                    *close_req;
    size_t                   len;
    /* A private copy: aligned for UCX and independent of the exchange
     * buffer it came in. */
    unsigned char address[];
};

compcoll_ucx_context_t compcoll_ucx_ctx = {
    .ids     = COMPCOLL_ID_COUNTER_INITIALIZER,
    .ep_lock = PTHREAD_MUTEX_INITIALIZER,
};

static uint64_t compcoll_ucx_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t             h = 14695981039346656037ull; /* FNV-1a */
    size_t               i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ------------------------------------------------------------------ waiting */

/* Returns 1 when op has completed (and has been released), 0 while pending. */
int compcoll_ucx_op_done(compcoll_ucx_op_t *op, const char *what,
                         compcoll_status_t *status)
{
    ucp_tag_recv_info_t info;
    ucs_status_t        ust;

    if (op->is_recv) {
        ust = ucp_tag_recv_request_test(op->req, &info);
    } else {
        ust = ucp_request_check_status(op->req);
    }
    if (ust == UCS_INPROGRESS) {
        return 0;
    }
    ucp_request_free(op->req);
    op->req = NULL;

    /* Only the first failure of a wait is logged: the rest are its echoes. */
    if (ust != UCS_OK) {
        if (*status == COMPCOLL_OK) {
            compcoll_error(
                "%s: %s %s rank %d completed with: %s", what,
                op->is_recv ? "ucp_tag_recv_nbx" : "ucp_tag_send_nbx",
                op->is_recv ? "from" : "to", op->peer, ucs_status_string(ust));
        }
        *status = COMPCOLL_ERR_TRANSPORT;
    } else if (op->is_recv && info.length != op->expected) {
        if (*status == COMPCOLL_OK) {
            compcoll_error("%s: rank %d sent %zu bytes, expected %zu "
                           "(ranks disagree on the call's size)",
                           what, op->peer, info.length, op->expected);
        }
        *status = COMPCOLL_ERR_PROTOCOL;
    }
    return 1;
}

/* Progress until every op has completed; *status keeps the first failure. */
static void compcoll_ucx_wait_all(compcoll_ucx_op_t *ops, int nops,
                                  const char *what, compcoll_status_t *status)
{
    unsigned idle = 0;
    int      pending, i;

    for (;;) {
        unsigned events = ucp_worker_progress(compcoll_ucx_ctx.worker);

        pending = 0;
        for (i = 0; i < nops; i++) {
            if ((ops[i].req != NULL) &&
                !compcoll_ucx_op_done(&ops[i], what, status)) {
                pending++;
            }
        }
        if (pending == 0) {
            return;
        }
        if (events != 0) {
            idle = 0;
        } else {
            compcoll_backoff(&idle);
        }
    }
}

compcoll_status_t compcoll_ucx_wait(compcoll_ucx_op_t *ops, int nops,
                                    const char *what)
{
    compcoll_status_t status = COMPCOLL_OK;

    compcoll_ucx_wait_all(ops, nops, what, &status);
    return status;
}

void compcoll_ucx_abandon(compcoll_ucx_op_t *ops, int nops)
{
    /* Starting from a failure keeps the echoes out of the log. */
    compcoll_status_t ignored = COMPCOLL_ERR_TRANSPORT;
    int               i;

    /* Buffers must not be reused while UCX may still write into them:
     * cancel what can be cancelled (receives) and wait for the rest. */
    for (i = 0; i < nops; i++) {
        if ((ops[i].req != NULL) && ops[i].is_recv) {
            ucp_request_cancel(compcoll_ucx_ctx.worker, ops[i].req);
        }
    }
    compcoll_ucx_wait_all(ops, nops, "abandon", &ignored);
}

/* ------------------------------------------------------- endpoint cache */

static compcoll_status_t compcoll_ucx_ep_grow(void)
{
    compcoll_ucx_context_t   *ctx = &compcoll_ucx_ctx;
    compcoll_ucx_ep_entry_t **buckets, *e, *next;
    size_t                    n, i;

    n       = (ctx->ep_nbuckets == 0) ? COMPCOLL_UCX_EP_MIN_BUCKETS
                                      : 2 * ctx->ep_nbuckets;
    buckets = calloc(n, sizeof(*buckets));
    if (buckets == NULL) {
        compcoll_error("UCX: cannot allocate an endpoint table of %zu buckets",
                       n);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    for (i = 0; i < ctx->ep_nbuckets; i++) {
        for (e = ctx->ep_buckets[i]; e != NULL; e = next) {
            next                 = e->next;
            e->next              = buckets[e->hash % n];
            buckets[e->hash % n] = e;
        }
    }
    free(ctx->ep_buckets);
    ctx->ep_buckets  = buckets;
    ctx->ep_nbuckets = n;
    return COMPCOLL_OK;
}

compcoll_status_t compcoll_ucx_ep_get(const void *address, size_t len,
                                      ucp_ep_h *ep_p)
{
    compcoll_ucx_context_t  *ctx    = &compcoll_ucx_ctx;
    uint64_t                 hash   = compcoll_ucx_hash(address, len);
    compcoll_status_t        status = COMPCOLL_OK;
    compcoll_ucx_ep_entry_t *e;
    ucp_ep_params_t          params;

    pthread_mutex_lock(&ctx->ep_lock);
    if (ctx->ep_nbuckets != 0) {
        for (e = ctx->ep_buckets[hash % ctx->ep_nbuckets]; e != NULL;
             e = e->next) {
            if ((e->hash == hash) && (e->len == len) &&
                (memcmp(e->address, address, len) == 0)) {
                *ep_p = e->ep;
                goto out;
            }
        }
    }
    if (ctx->ep_count >= ctx->ep_nbuckets) {
        status = compcoll_ucx_ep_grow();
        if (status != COMPCOLL_OK) {
            goto out;
        }
    }

    e = malloc(sizeof(*e) + len);
    if (e == NULL) {
        compcoll_error("UCX: cannot allocate an endpoint entry");
        status = COMPCOLL_ERR_NO_MEMORY;
        goto out;
    }
    memcpy(e->address, address, len);
    e->len       = len;
    e->hash      = hash;
    e->close_req = NULL;

    memset(&params, 0, sizeof(params));
    params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS;
    params.address    = (const ucp_address_t *)e->address;
    COMPCOLL_UCX_CHECK_GOTO("UCX: no endpoint to a peer",
                            ucp_ep_create(ctx->worker, &params, &e->ep),
                            COMPCOLL_LOG_INFO, status, COMPCOLL_ERR_UNAVAILABLE,
                            err_free);

    e->next = ctx->ep_buckets[hash % ctx->ep_nbuckets];
    ctx->ep_buckets[hash % ctx->ep_nbuckets] = e;
    ctx->ep_count++;
    *ep_p = e->ep;
    goto out;

err_free:
    free(e);
out:
    pthread_mutex_unlock(&ctx->ep_lock);
    return status;
}

size_t compcoll_ucx_ep_cache_size(void)
{
    return compcoll_ucx_ctx.ep_count;
}

/*
 * Flush-close every cached endpoint, all at once so that peers that are
 * closing theirs toward us at the same time keep making progress together.
 */
static void compcoll_ucx_ep_close_all(void)
{
    compcoll_ucx_context_t  *ctx = &compcoll_ucx_ctx;
    compcoll_ucx_ep_entry_t *e, *next;
    ucp_request_param_t      param;
    size_t                   i, pending = 0;
    unsigned                 idle = 0;
    double                   deadline;
    void                    *req;

    memset(&param, 0, sizeof(param));
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags        = 0; /* flush, not force: our last sends must land */

    for (i = 0; i < ctx->ep_nbuckets; i++) {
        for (e = ctx->ep_buckets[i]; e != NULL; e = e->next) {
            req = ucp_ep_close_nbx(e->ep, &param);
            if (UCS_PTR_IS_ERR(req)) {
                compcoll_debug("UCX: ucp_ep_close_nbx failed: %s",
                               ucs_status_string(UCS_PTR_STATUS(req)));
            } else if (req != NULL) {
                e->close_req = req;
                pending++;
            }
        }
    }

    deadline = compcoll_time() + COMPCOLL_UCX_CLOSE_TIMEOUT_S;
    while (pending > 0) {
        unsigned events = ucp_worker_progress(ctx->worker);

        pending = 0;
        for (i = 0; i < ctx->ep_nbuckets; i++) {
            for (e = ctx->ep_buckets[i]; e != NULL; e = e->next) {
                if (e->close_req == NULL) {
                    continue;
                }
                if (ucp_request_check_status(e->close_req) != UCS_INPROGRESS) {
                    ucp_request_free(e->close_req);
                    e->close_req = NULL;
                } else {
                    pending++;
                }
            }
        }
        if ((pending > 0) && (compcoll_time() > deadline)) {
            /* The worker's destruction tears these down without the peer;
             * freeing the requests now lets UCX release them then. */
            compcoll_warn("UCX: %zu endpoint(s) did not close within %.0f s; "
                          "releasing them without a flush",
                          pending, COMPCOLL_UCX_CLOSE_TIMEOUT_S);
            for (i = 0; i < ctx->ep_nbuckets; i++) {
                for (e = ctx->ep_buckets[i]; e != NULL; e = e->next) {
                    if (e->close_req != NULL) {
                        ucp_request_free(e->close_req);
                        e->close_req = NULL;
                    }
                }
            }
            break;
        }
        if (events != 0) {
            idle = 0;
        } else {
            compcoll_backoff(&idle);
        }
    }

    for (i = 0; i < ctx->ep_nbuckets; i++) {
        for (e = ctx->ep_buckets[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(ctx->ep_buckets);
    ctx->ep_buckets  = NULL;
    ctx->ep_nbuckets = 0;
    ctx->ep_count    = 0;
}

/* ------------------------------------------------------ init and finalize */

static compcoll_status_t compcoll_ucx_init(void)
{
    compcoll_ucx_context_t *ctx    = &compcoll_ucx_ctx;
    compcoll_status_t       status = COMPCOLL_OK;
    ucp_config_t           *config = NULL;
    ucp_params_t            params;
    ucp_worker_params_t     wparams;
    int                     mpi_up = 0, world_size = 0;
    int                     thread_level = MPI_THREAD_SINGLE;

    if (ctx->ready) {
        return COMPCOLL_OK;
    }

    /* Set-up failures are logged at info: the job goes on over the mpi
     * transport, and the core announces that once per communicator.
     * "COMPCOLL" makes UCX read COMPCOLL_UCX_* for this context, so that a
     * user can tune us without touching the UCX_* that MPICH reads. */
    COMPCOLL_UCX_CHECK_GOTO(
        COMPCOLL_UCX_INIT_FAILED, ucp_config_read("COMPCOLL", NULL, &config),
        COMPCOLL_LOG_INFO, status, COMPCOLL_ERR_UNAVAILABLE, err);

    memset(&params, 0, sizeof(params));
    params.field_mask = UCP_PARAM_FIELD_FEATURES |
                        UCP_PARAM_FIELD_MT_WORKERS_SHARED |
                        UCP_PARAM_FIELD_NAME;
    params.features          = UCP_FEATURE_TAG;
    params.mt_workers_shared = 0;
    params.name              = "compcoll";
    /* UCX picks transports by expected scale; the world size is known
     * locally once MPI is up. */
    if ((PMPI_Initialized(&mpi_up) == MPI_SUCCESS) && mpi_up &&
        (PMPI_Comm_size(MPI_COMM_WORLD, &world_size) == MPI_SUCCESS)) {
        params.field_mask |= UCP_PARAM_FIELD_ESTIMATED_NUM_EPS;
        params.estimated_num_eps = (size_t)world_size;
    }
    COMPCOLL_UCX_CHECK_GOTO(
        COMPCOLL_UCX_INIT_FAILED, ucp_init(&params, config, &ctx->context),
        COMPCOLL_LOG_INFO, status, COMPCOLL_ERR_UNAVAILABLE, err_config);
    ucp_config_release(config);
    config = NULL;

    /* Under MPI_THREAD_MULTIPLE, calls on different communicators progress
     * the one worker from different threads (and nonblocking calls always
     * run on threads of the library): UCX then serializes them itself. */
    memset(&wparams, 0, sizeof(wparams));
    wparams.field_mask  = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wparams.thread_mode = UCS_THREAD_MODE_SINGLE;
    if (mpi_up && PMPI_Query_thread(&thread_level) == MPI_SUCCESS &&
        thread_level == MPI_THREAD_MULTIPLE) {
        wparams.thread_mode = UCS_THREAD_MODE_MULTI;
    }
    COMPCOLL_UCX_CHECK_GOTO(
        COMPCOLL_UCX_INIT_FAILED,
        ucp_worker_create(ctx->context, &wparams, &ctx->worker),
        COMPCOLL_LOG_INFO, status, COMPCOLL_ERR_UNAVAILABLE, err_cleanup);
    COMPCOLL_UCX_CHECK_GOTO(
        COMPCOLL_UCX_INIT_FAILED,
        ucp_worker_get_address(ctx->worker, &ctx->address, &ctx->address_len),
        COMPCOLL_LOG_INFO, status, COMPCOLL_ERR_UNAVAILABLE, err_worker);
    if (wparams.thread_mode == UCS_THREAD_MODE_MULTI) {
        ucp_worker_attr_t wattr;

        wattr.field_mask = UCP_WORKER_ATTR_FIELD_THREAD_MODE;
        if (ucp_worker_query(ctx->worker, &wattr) != UCS_OK ||
            wattr.thread_mode != UCS_THREAD_MODE_MULTI) {
            compcoll_info("UCX: no thread-safe worker (a UCX built without "
                          "--enable-mt); the transport is not used");
            status = COMPCOLL_ERR_UNAVAILABLE;
            goto err_address;
        }
    }
    ctx->ready = 1;
    compcoll_debug("UCX: context ready, worker address %zu bytes, %s",
                   ctx->address_len,
                   wparams.thread_mode == UCS_THREAD_MODE_MULTI
                       ? "thread-safe worker"
                       : "single-threaded worker");
    return COMPCOLL_OK;

err_address:
    ucp_worker_release_address(ctx->worker, ctx->address);
    ctx->address = NULL;
err_worker:
    ucp_worker_destroy(ctx->worker);
    ctx->worker = NULL;
err_cleanup:
    ucp_cleanup(ctx->context);
    ctx->context = NULL;
err_config:
    if (config != NULL) {
        ucp_config_release(config);
    }
err:
    return status;
}

static void compcoll_ucx_finalize(void)
{
    compcoll_ucx_context_t *ctx = &compcoll_ucx_ctx;

    if (!ctx->ready) {
        return;
    }
    /* Communicators that outlive us (MPI_COMM_WORLD's attributes are deleted
     * inside PMPI_Finalize, after this) see the new epoch and refuse. */
    ctx->ready = 0;
    ctx->epoch++;

    compcoll_ucx_ep_close_all();
    ucp_worker_release_address(ctx->worker, ctx->address);
    ctx->address     = NULL;
    ctx->address_len = 0;
    ucp_worker_destroy(ctx->worker);
    ctx->worker = NULL;
    ucp_cleanup(ctx->context);
    ctx->context = NULL;
}

const compcoll_transport_ops_t compcoll_ucx_transport = {
    .name         = "ucx",
    .init         = compcoll_ucx_init,
    .finalize     = compcoll_ucx_finalize,
    .comm_create  = compcoll_ucx_comm_create,
    .comm_destroy = compcoll_ucx_comm_destroy,
    .bcast        = compcoll_ucx_bcast,
    .allreduce    = compcoll_ucx_allreduce,
    .channels     = compcoll_ucx_channels,
    .isend        = compcoll_ucx_isend,
    .irecv        = compcoll_ucx_irecv,
    .test         = compcoll_ucx_test,
    .progress     = compcoll_ucx_progress,
    .cancel       = compcoll_ucx_cancel,
    .allgather    = compcoll_ucx_allgather,
    .allgatherv   = compcoll_ucx_allgatherv,
};
