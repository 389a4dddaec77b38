#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* mincore */
#endif
#include "compcoll_registry.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compcoll.h"
#include "compcoll_agree.h"
#include "compcoll_fail.h"
#include "compcoll_log.h"
#include "compcoll_memtype.h"
#include "compcoll_stats.h"
#include "compcoll_topo.h"

/* COMPCOLL_KEY=auto stops learning a communicator's cycle after this many
 * calls without finding it, and keys by address from then on. */
#define REG_AUTO_MAX_WINDOW 4096

static int                   reg_keyval = MPI_KEYVAL_INVALID;
/* The list of live states and the memory total: under reg_lock.  A
 * communicator's tensors are under its own lock (compcoll_comm_t). */
static pthread_mutex_t       reg_lock = PTHREAD_MUTEX_INITIALIZER;
static compcoll_comm_t      *reg_comms;
static size_t                reg_mem_held;  /* bytes of memory held */
static compcoll_id_counter_t reg_ids = COMPCOLL_ID_COUNTER_INITIALIZER;

/* ------------------------------------------------------------ tensors */

/* Bytes of state reserved within COMPCOLL_MAX_MEMORY: whether they fit
 * (then they are held until reg_mem_release). */
static int reg_mem_reserve(size_t bytes)
{
    int fits;

    pthread_mutex_lock(&reg_lock);
    fits = compcoll_cfg.max_memory == 0 ||
           reg_mem_held + bytes <= compcoll_cfg.max_memory;
    if (fits) {
        reg_mem_held += bytes;
    }
    pthread_mutex_unlock(&reg_lock);
    return fits;
}

static void reg_mem_release(size_t bytes)
{
    pthread_mutex_lock(&reg_lock);
    reg_mem_held -= bytes;
    pthread_mutex_unlock(&reg_lock);
}

static void reg_tensor_free(compcoll_tensor_t *t)
{
    if (t->mem != NULL) {
        reg_mem_release(t->count * sizeof(float));
        compcoll_topo_mem_free(t->mem, t->count * sizeof(float), t->mem_kind);
    }
    if (t->mom != NULL) {
        reg_mem_release(COMPCOLL_MOM_WORDS * t->count * sizeof(float));
        free(t->mom);
    }
    free(t);
}

/* One of the library's own communicators of cc, freed or, when cc's user
 * communicator is being disconnected, disconnected. */
static void reg_comm_let_go(const compcoll_comm_t *cc, MPI_Comm *comm)
{
    if (*comm == MPI_COMM_NULL) {
        return;
    }
    if (cc->disconnect) {
        PMPI_Comm_disconnect(comm);
    } else {
        PMPI_Comm_free(comm);
    }
}

static void reg_comm_destroy(compcoll_comm_t *cc)
{
    size_t b;

    /* its nonblocking calls finish first; then nobody else uses it */
    compcoll_nbc_stop(cc);

    for (b = 0; b < cc->nbuckets; b++) {
        while (cc->buckets[b] != NULL) {
            compcoll_tensor_t *t = cc->buckets[b];

            cc->buckets[b] = t->next;
            reg_tensor_free(t);
        }
    }
    if (cc->tcomm != NULL) {
        cc->tcomm->disconnect = cc->disconnect;
        cc->tcomm->ops->comm_destroy(cc->tcomm);
    }
    /* letting the leaders' communicator go drops the inner state with it
     * (found by its attribute: at MPI_Finalize it may be gone already) */
    if (cc->disconnect && cc->leaders != MPI_COMM_NULL) {
        void *inner = NULL;
        int   found = 0;

        if (PMPI_Comm_get_attr(cc->leaders, reg_keyval, &inner, &found) ==
                MPI_SUCCESS &&
            found) {
            ((compcoll_comm_t *)inner)->disconnect = 1;
        }
    }
    reg_comm_let_go(cc, &cc->leaders);
    reg_comm_let_go(cc, &cc->node);
    reg_comm_let_go(cc, &cc->ctl);
    pthread_mutex_lock(&reg_lock);
    if (cc->prev != NULL) {
        cc->prev->next = cc->next;
    } else {
        reg_comms = cc->next;
    }
    if (cc->next != NULL) {
        cc->next->prev = cc->prev;
    }
    pthread_mutex_unlock(&reg_lock);
    compcoll_buf_release(&cc->msg);
    compcoll_buf_release(&cc->icode);
    compcoll_buf_release(&cc->vals);
    compcoll_buf_release(&cc->gather);
    compcoll_buf_release(&cc->sizes);
    compcoll_buf_release(&cc->pipe);
    compcoll_buf_release(&cc->mom);
    free(cc->seq.counts);
    free(cc->autok.win);
    free(cc->autok.cycle);
    free(cc->all);
    free(cc->buckets);
    pthread_mutex_destroy(&cc->lock);
    pthread_mutex_destroy(&cc->qlock);
    pthread_cond_destroy(&cc->qcond);
    free(cc);
}

/* MPI calls this when the communicator is freed or the attribute deleted. */
static int reg_delete_fn(MPI_Comm comm, int keyval, void *value, void *extra)
{
    compcoll_debug("dropping state of communicator %llu",
                   (unsigned long long)((compcoll_comm_t *)value)->id);
    reg_comm_destroy(value);
    return MPI_SUCCESS;
}

compcoll_status_t compcoll_registry_init(void)
{
    compcoll_status_t status = COMPCOLL_OK;

    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN,
                                                    reg_delete_fn, &reg_keyval,
                                                    NULL),
                            status, out);
out:
    return status;
}

void compcoll_registry_finalize(void)
{
    for (;;) {
        /* Deleting the attribute runs reg_delete_fn, which unlinks it. */
        compcoll_comm_t *cc;

        pthread_mutex_lock(&reg_lock);
        cc = reg_comms;
        pthread_mutex_unlock(&reg_lock);
        if (cc == NULL) {
            break;
        }
        if (PMPI_Comm_delete_attr(cc->comm, reg_keyval) != MPI_SUCCESS) {
            reg_comm_destroy(cc);
        }
    }
    if (reg_keyval != MPI_KEYVAL_INVALID) {
        PMPI_Comm_free_keyval(&reg_keyval);
    }
}

void compcoll_count_call(compcoll_comm_t *cc, compcoll_tensor_t *t, size_t n)
{
    if (t->stats != NULL) {
        t->stats->calls++;
    }
    compcoll_stats.elements_in += n;
    compcoll_stats.bytes_dense +=
        2 * (uint64_t)(cc->size - 1) * n * sizeof(float) / (uint64_t)cc->size;
}

size_t compcoll_registry_memory(void)
{
    size_t held;

    pthread_mutex_lock(&reg_lock);
    held = reg_mem_held;
    pthread_mutex_unlock(&reg_lock);
    return held;
}

compcoll_status_t compcoll_tensor_momentum(compcoll_tensor_t *t)
{
    const size_t bytes = COMPCOLL_MOM_WORDS * t->count * sizeof(float);

    if (t->mom != NULL) {
        return COMPCOLL_OK;
    }
    if (reg_mem_reserve(bytes)) {
        t->mom = calloc(COMPCOLL_MOM_WORDS * t->count, sizeof(float));
        if (t->mom == NULL) {
            reg_mem_release(bytes);
        }
    }
    t->mom_nnz = 0;
    t->mom_tag = 0;
    return t->mom != NULL ? COMPCOLL_OK : COMPCOLL_ERR_NO_MEMORY;
}

void compcoll_tensor_momentum_clear(compcoll_tensor_t *t)
{
    if (t->mom != NULL) {
        memset(t->mom, 0, t->count * sizeof(float)); /* u */
    }
    t->mom_nnz = 0;
    t->mom_tag = 0;
}

/* ------------------------------------------------------------ comms */

static compcoll_status_t reg_comm_create(MPI_Comm comm, int flat,
                                         compcoll_comm_t **cc_p);

/*
 * Whether cc's communicator runs hierarchically (COMPCOLL_HIERARCHICAL,
 * COMPCOLL_RANKS_PER_NODE) and, if so, its node and leaders' communicators
 * and the leaders' inner state.  Collective over cc->comm.
 */
static compcoll_status_t reg_comm_layout(compcoll_comm_t *cc)
{
    const compcoll_config_t *cfg = &compcoll_cfg;
    compcoll_status_t        status = COMPCOLL_OK;
    int                      mine[2], agreed[2], node_size, on;

    if (cfg->hierarchical == COMPCOLL_HIER_NO || cc->size < 2) {
        return COMPCOLL_OK;
    }
    if (cfg->ranks_per_node > 0) {
        COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_split(cc->comm,
                                                cc->rank /
                                                    (int)cfg->ranks_per_node,
                                                cc->rank, &cc->node),
                                status, out);
    } else {
        COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_split_type(cc->comm,
                                                     MPI_COMM_TYPE_SHARED,
                                                     cc->rank, MPI_INFO_NULL,
                                                     &cc->node),
                                status, out);
    }
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_rank(cc->node, &cc->node_rank), status,
                            out);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_size(cc->node, &node_size), status, out);
    /* how many nodes, and the most ranks on one */
    mine[0] = (cc->node_rank == 0);
    mine[1] = node_size;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(&mine[0], &agreed[0], 1, MPI_INT,
                                           MPI_SUM, cc->comm),
                            status, out);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(&mine[1], &agreed[1], 1, MPI_INT,
                                           MPI_MAX, cc->comm),
                            status, out);
    cc->nnodes = agreed[0];
    on         = (agreed[1] > 1) && (cfg->hierarchical == COMPCOLL_HIER_YES ||
                                     cc->nnodes > 1);
    if (!on) {
        PMPI_Comm_free(&cc->node);
        cc->node = MPI_COMM_NULL;
        return COMPCOLL_OK;
    }
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_split(cc->comm,
                                            cc->node_rank == 0 ? 0
                                                               : MPI_UNDEFINED,
                                            cc->rank, &cc->leaders),
                            status, out);
    if (cc->leaders != MPI_COMM_NULL) {
        status = reg_comm_create(cc->leaders, 1, &cc->inner);
    }
    /* every rank goes hierarchical, or none does */
    mine[0] = (status == COMPCOLL_OK);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(&mine[0], &agreed[0], 1, MPI_INT,
                                           MPI_MIN, cc->comm),
                            status, out);
    if (!agreed[0]) {
        if (cc->rank == 0) {
            compcoll_warn_once("the node leaders of a communicator of %d "
                               "ranks could not set up their exchange: it "
                               "runs without COMPCOLL_HIERARCHICAL", cc->size);
        }
        if (cc->leaders != MPI_COMM_NULL) {
            PMPI_Comm_free(&cc->leaders); /* drops the inner state */
        }
        cc->inner = NULL;
        PMPI_Comm_free(&cc->node);
        cc->node = MPI_COMM_NULL;
        return COMPCOLL_OK;
    }
    if (cc->rank == 0) {
        compcoll_info("communicator %llu: hierarchical, %d ranks on %d nodes "
                      "(at most %d on one)", (unsigned long long)cc->id,
                      cc->size, cc->nnodes, agreed[1]);
    }
    if (cc->node_rank == 0 && COMPCOLL_LOG_INFO <= compcoll_log_level) {
        char topo[512];

        compcoll_topo_describe(topo, sizeof(topo));
        compcoll_info("communicator %llu: this rank leads a node of %d "
                      "ranks; %s", (unsigned long long)cc->id, node_size,
                      topo);
    }
out:
    return status;
}

static compcoll_status_t reg_comm_create(MPI_Comm comm, int flat,
                                         compcoll_comm_t **cc_p)
{
    const compcoll_transport_ops_t *tl = compcoll_transport();
    compcoll_status_t               status;
    compcoll_comm_t                *cc;

    cc = calloc(1, sizeof(*cc));
    if (cc == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    pthread_mutex_init(&cc->lock, NULL);
    pthread_mutex_init(&cc->qlock, NULL);
    pthread_cond_init(&cc->qcond, NULL);
    cc->comm     = comm;
    cc->ctl      = MPI_COMM_NULL;
    cc->node     = MPI_COMM_NULL;
    cc->leaders  = MPI_COMM_NULL;
    cc->nbuckets = 64;
    cc->buckets  = calloc(cc->nbuckets, sizeof(*cc->buckets));
    if (cc->buckets == NULL) {
        free(cc);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    pthread_mutex_lock(&reg_lock);
    cc->next = reg_comms;
    if (reg_comms != NULL) {
        reg_comms->prev = cc;
    }
    reg_comms = cc;
    pthread_mutex_unlock(&reg_lock);

    status = COMPCOLL_OK;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_rank(comm, &cc->rank), status, err);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_size(comm, &cc->size), status, err);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_dup(comm, &cc->ctl), status, err);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_set_errhandler(cc->ctl,
                                                     MPI_ERRORS_RETURN),
                            status, err);

    /* The settings that decide the exchange were checked at MPI_Init
     * (compcoll_settings_agree): one id is all there is to agree. */
    status = compcoll_agree_id(comm, &reg_ids, NULL, 0, &cc->id);
    if (status != COMPCOLL_OK) {
        goto err;
    }

    if (!flat) {
        status = reg_comm_layout(cc);
        if (status != COMPCOLL_OK) {
            goto err;
        }
    }
    if (cc->node != MPI_COMM_NULL) {
        /* the method runs on the leaders' inner state, with its transport */
        goto attach;
    }
    status = tl->comm_create(comm, &cc->tcomm);
    if (status == COMPCOLL_ERR_UNAVAILABLE && tl != &compcoll_mpi_transport) {
        /* Every member sees the same status: one of them says so. */
        if (cc->rank == 0) {
            compcoll_warn_once("transport %s unavailable on some rank of a "
                               "communicator of %d ranks; using the mpi "
                               "transport there (COMPCOLL_LOG_LEVEL=info "
                               "says why)", tl->name, cc->size);
        }
        compcoll_stats.transport_fallbacks++;
        status = compcoll_mpi_transport.comm_create(comm, &cc->tcomm);
    }
    if (status != COMPCOLL_OK) {
        goto err;
    }
attach:
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_set_attr(comm, reg_keyval, cc), status,
                            err);
    compcoll_debug("communicator %llu: %d ranks, %s", (unsigned long long)cc->id,
                   cc->size, cc->tcomm != NULL ? cc->tcomm->ops->name
                                               : "hierarchical");
    *cc_p = cc;
    return COMPCOLL_OK;

err:
    reg_comm_destroy(cc);
    return status;
}

compcoll_status_t compcoll_comm_get(MPI_Comm comm, compcoll_comm_t **cc_p)
{
    compcoll_status_t status = COMPCOLL_OK;
    void             *value  = NULL;
    int               found  = 0;

    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_get_attr(comm, reg_keyval, &value,
                                               &found),
                            status, out);
    if (found) {
        *cc_p = value;
        return COMPCOLL_OK;
    }
    status = reg_comm_create(comm, 0, cc_p);
out:
    return status;
}

void compcoll_comm_release(MPI_Comm comm, int disconnect)
{
    void *value = NULL;
    int   found = 0;

    if (reg_keyval == MPI_KEYVAL_INVALID || comm == MPI_COMM_NULL) {
        return;
    }
    if (PMPI_Comm_get_attr(comm, reg_keyval, &value, &found) == MPI_SUCCESS &&
        found) {
        /* MPI lets a communicator be freed with nonblocking calls pending:
         * they complete first (their peers run them on their own threads,
         * so this waits for nobody's application code) */
        compcoll_nbc_stop(value);
        ((compcoll_comm_t *)value)->disconnect = disconnect;
        PMPI_Comm_delete_attr(comm, reg_keyval);
    }
}

/* ------------------------------------------------------------ keys */

/*
 * The position of this call in the repeating sequence of counts.  The cycle
 * is learned from the first call up to the next call whose count equals the
 * first one's; a later call that breaks the cycle restarts the learning.
 */
static compcoll_status_t reg_seq_position(compcoll_comm_t *cc, size_t count,
                                          uint64_t *pos)
{
    compcoll_seq_t *s = &cc->seq;

    if (s->learned && s->counts[s->pos] != count) {
        compcoll_warn_once("the sequence of compressed calls on communicator "
                           "%llu changed (count %zu where %zu was expected); "
                           "COMPCOLL_KEY=sequence learns it anew",
                           (unsigned long long)cc->id, count,
                           s->counts[s->pos]);
        s->learned = 0;
        s->len     = 0;
    }
    if (!s->learned && s->len > 0 && s->counts[0] == count) {
        s->learned = 1;
        s->pos     = 0;
        compcoll_debug("communicator %llu: call cycle of %zu learned",
                       (unsigned long long)cc->id, s->len);
    }
    if (s->learned) {
        *pos   = s->pos;
        s->pos = (s->pos + 1) % s->len;
        return COMPCOLL_OK;
    }
    if (s->len == s->cap) {
        size_t  cap = s->cap ? 2 * s->cap : 64;
        size_t *p   = realloc(s->counts, cap * sizeof(*p));

        if (p == NULL) {
            return COMPCOLL_ERR_NO_MEMORY;
        }
        s->counts = p;
        s->cap    = cap;
    }
    *pos                = s->len;
    s->counts[s->len++] = count;
    return COMPCOLL_OK;
}

static size_t reg_hash(uint64_t key, size_t count, size_t nbuckets)
{
    uint64_t h = (key ^ (count * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

    return (size_t)(h >> 32) & (nbuckets - 1);
}

static void reg_rehash(compcoll_comm_t *cc)
{
    size_t              nb = cc->nbuckets * 2, b;
    compcoll_tensor_t **nt = calloc(nb, sizeof(*nt));

    if (nt == NULL) {
        return; /* longer chains, still correct */
    }
    for (b = 0; b < cc->nbuckets; b++) {
        while (cc->buckets[b] != NULL) {
            compcoll_tensor_t *t = cc->buckets[b];
            size_t             h = reg_hash(t->key, t->count, nb);

            cc->buckets[b] = t->next;
            t->next        = nt[h];
            nt[h]          = t;
        }
    }
    free(cc->buckets);
    cc->buckets  = nt;
    cc->nbuckets = nb;
}

/* A new tensor on cc under key, with memory within the cap. */
static compcoll_status_t reg_tensor_new(compcoll_comm_t *cc, uint64_t key,
                                        uint64_t addr, size_t count,
                                        compcoll_tensor_t **t_p)
{
    const size_t       bytes = count * sizeof(float);
    compcoll_tensor_t *t;
    size_t             h;
    int                fits;
    char               name[96];

    if (compcoll_fault(cc, COMPCOLL_FAULT_TENSOR) != COMPCOLL_OK) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    if (cc->nall == cc->allcap) {
        size_t              cap = cc->allcap ? 2 * cc->allcap : 16;
        compcoll_tensor_t **p   = realloc(cc->all, cap * sizeof(*p));

        if (p == NULL) {
            return COMPCOLL_ERR_NO_MEMORY;
        }
        cc->all    = p;
        cc->allcap = cap;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    t->key   = key;
    t->addr  = addr;
    t->count = count;
    fits = reg_mem_reserve(bytes); /* given back if not allocated */
    if (!fits) {
        compcoll_warn_once("COMPCOLL_MAX_MEMORY=%zu bytes reached (%zu held): "
                           "tensors beyond it get no error-feedback memory "
                           "and are summed densely",
                           compcoll_cfg.max_memory,
                           compcoll_registry_memory());
    } else if (compcoll_cfg.method != COMPCOLL_METHOD_DENSE) {
        /* zeroed; bound to this process's NUMA nodes when it runs on a
         * subset of them (compcoll_topo.h) */
        t->mem = compcoll_topo_mem_alloc(bytes, &t->mem_kind);
        if (t->mem == NULL) {
            compcoll_warn_once("no memory for a %zu-byte error-feedback "
                               "buffer: such tensors are summed densely",
                               bytes);
        }
    }
    if (fits && t->mem == NULL) {
        reg_mem_release(bytes);
    }
    switch (compcoll_cfg.key) {
    case COMPCOLL_KEY_SEQUENCE:
        snprintf(name, sizeof(name), "comm=%llu:seq=%llu:count=%zu",
                 (unsigned long long)cc->id, (unsigned long long)key, count);
        break;
    case COMPCOLL_KEY_AUTO:
        snprintf(name, sizeof(name), "comm=%llu:tensor=%llu:count=%zu",
                 (unsigned long long)cc->id, (unsigned long long)key, count);
        break;
    default:
        snprintf(name, sizeof(name), "comm=%llu:addr=%#llx:count=%zu",
                 (unsigned long long)cc->id, (unsigned long long)key, count);
        break;
    }
    t->stats = compcoll_stats_tensor_new(name, count,
                                         (count + compcoll_cfg.ratio - 1) /
                                             compcoll_cfg.ratio);
    h              = reg_hash(t->key, t->count, cc->nbuckets);
    t->next        = cc->buckets[h];
    cc->buckets[h] = t;
    cc->all[cc->nall++] = t;
    if (++cc->ntensors > 2 * cc->nbuckets) {
        reg_rehash(cc);
    }
    *t_p = t;
    return COMPCOLL_OK;
}

/* The k of a call of n elements that is call c of its tensor's ramp (c
 * counted after the warm-up; from COMPCOLL_RAMP on, the ramp is over). */
static size_t reg_ramp_k(size_t n, uint64_t c)
{
    const compcoll_config_t *cfg   = &compcoll_cfg;
    const double             start = cfg->ratio < 4 ? cfg->ratio : 4.0;
    double                   ratio;
    size_t                   k;

    if (c >= cfg->ramp) {
        return compcoll_k_min(n);
    }
    ratio = start * pow(cfg->ratio / start, (double)c / cfg->ramp);
    k     = (size_t)ceil((double)n / ratio);
    return k < 1 ? 1 : k > n ? n : k;
}

size_t compcoll_tensor_k(const compcoll_tensor_t *t, size_t n)
{
    const uint64_t warmup = compcoll_cfg.warmup;

    return reg_ramp_k(n, t->calls > warmup ? t->calls - warmup : 0);
}

size_t compcoll_k_min(size_t n)
{
    return (n + compcoll_cfg.ratio - 1) / compcoll_cfg.ratio;
}

size_t compcoll_k_max(size_t n)
{
    return reg_ramp_k(n, 0); /* the ratio only rises over the ramp */
}

static compcoll_tensor_t *reg_hash_find(compcoll_comm_t *cc, uint64_t key,
                                        size_t count)
{
    compcoll_tensor_t *t;

    for (t = cc->buckets[reg_hash(key, count, cc->nbuckets)]; t != NULL;
         t = t->next) {
        if (t->key == key && t->count == count) {
            return t;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ auto */

static void reg_unhash(compcoll_comm_t *cc, compcoll_tensor_t *t);

/* A tensor of cc gone for good while cc lives on: out of the hash, its
 * device state freed with it (it is found by t's address, which a later
 * tensor may be given), then t. */
static void reg_tensor_drop(compcoll_comm_t *cc, compcoll_tensor_t *t)
{
    reg_unhash(cc, t);
    compcoll_gpu_tensor_forget(cc, t);
    reg_tensor_free(t);
}

/* Whether the page of a buffer the program passed earlier is gone from its
 * address space (it freed a buffer the allocator had mapped for it). */
static int reg_unmapped(uint64_t addr)
{
    const long     page = sysconf(_SC_PAGESIZE);
    unsigned char  vec;
    uintptr_t      base;

    if (page <= 0) {
        return 0;
    }
    base = (uintptr_t)addr & ~((uintptr_t)page - 1);
    return mincore((void *)base, 1, &vec) != 0 && errno == ENOMEM;
}

/*
 * Whether call i of the learning window (buffer addr, count) starts the
 * communicator's second cycle, so that calls 0..i-1 were one cycle.  A
 * step's gradient buffers are all alive while it runs, so within one
 * cycle no two calls share a buffer; the cycle has ended when
 *  - the calls so far, two or more, all had different counts and the first
 *    count comes again (nothing else could tell the tensors apart),
 *  - the first call's buffer comes again with its count (a program that
 *    reuses its buffers, or an allocator that hands the same one back),
 *  - or a call of the first call's count comes in a buffer an earlier call
 *    of that count used (the allocator handed the buffers back in another
 *    order),
 *  - or a call of the first call's count comes in a new buffer while the
 *    first call's buffer has been unmapped (a fresh buffer every step).
 */
static int reg_auto_cycle_ends(const compcoll_comm_t *cc, uint64_t addr,
                               size_t count)
{
    const compcoll_auto_t *a = &cc->autok;
    size_t                 j;
    int                    seen = 0;

    size_t                 q;
    int                    distinct = (a->wlen > 1);

    if (a->wlen == 0 || count != a->win[0].count) {
        return 0;
    }
    /* a step whose calls all have different counts ends where its first
     * count comes again, whatever the buffers; but not straight after the
     * first call, in another buffer: steps often begin with tensors of one
     * size (query, key and value projections), which only the buffers can
     * tell from steps of one tensor */
    for (j = 0; distinct && j < a->wlen; j++) {
        for (q = j + 1; distinct && q < a->wlen; q++) {
            distinct = (a->win[j].count != a->win[q].count);
        }
    }
    if (distinct) {
        return 1;
    }
    for (j = 0; j < a->wlen; j++) {
        if (a->win[j].addr == addr) {
            if (a->win[j].count == count) {
                return 1;
            }
            seen = 1;
        }
    }
    return !seen && reg_unmapped(a->win[0].addr);
}

/* Whether calls [from, from + len) of the window share a buffer. */
static int reg_auto_shares(const compcoll_auto_t *a, size_t from, size_t len)
{
    size_t i, j;

    for (i = from; i < from + len; i++) {
        for (j = i + 1; j < from + len; j++) {
            if (a->win[i].addr == a->win[j].addr) {
                return 1;
            }
        }
    }
    return 0;
}

/*
 * The cycle, once the window is known to end one (or more).  The window is
 * one cycle unless two of its calls share a buffer, which a cycle's calls
 * never do: then the allocator handed a buffer to another tensor within
 * what were several cycles (the first buffer came back late), and the cycle
 * is the shortest period of the window's counts whose repetitions have no
 * shared buffers.
 */
static size_t reg_auto_period(const compcoll_auto_t *a)
{
    const size_t n = a->wlen;
    size_t       p, i;

    if (!reg_auto_shares(a, 0, n)) {
        return n;
    }
    for (p = 1; p < n; p++) {
        int ok = (n % p == 0);

        for (i = p; ok && i < n; i++) {
            ok = (a->win[i].count == a->win[i - p].count);
        }
        for (i = 0; ok && i < n; i += p) {
            ok = !reg_auto_shares(a, i, p);
        }
        if (ok) {
            return p;
        }
    }
    return n;
}

/* Momentum state (COMPCOLL_MOMENTUM) of x's calls joined to y's, as
 * every rank merges them: the velocities add, and the previous sum and
 * its fingerprint are x's (its calls came later).  A rank where x has no
 * state keeps y's, whose fingerprint then tells the others so. */
static void reg_momentum_merge(compcoll_tensor_t *x, compcoll_tensor_t *y)
{
    size_t j;

    if (x->mom == NULL) {
        return;
    }
    if (y->mom == NULL) {
        y->mom     = x->mom; /* its bytes stay counted */
        y->mom_nnz = x->mom_nnz;
        x->mom     = NULL;
    } else {
        for (j = 0; j < x->count; j++) {
            y->mom[j] += x->mom[j];
        }
        /* the previous sums: x's, values then indices */
        memcpy(y->mom + y->count, x->mom + x->count,
               2 * x->count * sizeof(float));
        y->mom_nnz = x->mom_nnz;
    }
    y->mom_tag = x->mom_tag;
}

/* After learning a cycle shorter than the window: the tensors the window
 * made beyond it are the cycle's own, met in new buffers; their memories
 * (the residual of those calls) join the cycle's, and they go.  A position
 * whose tensor this rank could not make takes the first met later. */
static void reg_auto_merge(compcoll_comm_t *cc)
{
    compcoll_auto_t *a = &cc->autok;
    size_t           i, j, kept;

    for (i = a->len; i < a->wlen; i++) {
        compcoll_tensor_t *x = a->win[i].t, *y = a->cycle[i % a->len].t;
        int                in_cycle = 0;

        for (j = 0; j < a->len; j++) {
            in_cycle |= (a->cycle[j].t == x);
        }
        if (x == NULL || in_cycle ||
            x->count != a->cycle[i % a->len].count) {
            continue; /* met by address: its memory stays where it is */
        }
        if (y == NULL) {
            a->cycle[i % a->len].t = x;
            continue;
        }
        /* memories that live on a device (t->mem a placeholder there) come
         * home first; where one cannot, x's residual goes with x */
        if (compcoll_gpu_tensor_to_host(cc, x) != COMPCOLL_OK ||
            compcoll_gpu_tensor_to_host(cc, y) != COMPCOLL_OK) {
            compcoll_warn_once("a %zu-element error-feedback memory could "
                               "not come back from the device to be merged; "
                               "its residual is dropped", x->count);
        } else if (x->mem != NULL && y->mem != NULL) {
            for (j = 0; j < x->count; j++) {
                y->mem[j] += x->mem[j];
            }
        } else if (x->mem != NULL) {
            y->mem      = x->mem;
            y->mem_kind = x->mem_kind;
            x->mem      = NULL;
        }
        reg_momentum_merge(x, y);
        for (j = i + 1; j < a->wlen; j++) {
            if (a->win[j].t == x) {
                a->win[j].t = y;
            }
        }
        for (j = 0, kept = 0; j < cc->nall; j++) {
            if (cc->all[j] != x) {
                cc->all[kept++] = cc->all[j];
            }
        }
        cc->nall = kept;
        reg_tensor_drop(cc, x);
    }
}

/* The tensor whose latest call came in this buffer with this count. */
static compcoll_tensor_t *reg_auto_by_buffer(const compcoll_comm_t *cc,
                                             uint64_t addr, size_t count)
{
    size_t j;

    for (j = 0; j < cc->nall; j++) {
        if (cc->all[j]->addr == addr && cc->all[j]->count == count) {
            return cc->all[j];
        }
    }
    return NULL;
}

/*
 * Room for one more call in the learning window, and for a cycle as long
 * as the window: closing a cycle must not fail on one rank alone.
 */
static compcoll_status_t reg_auto_room(compcoll_auto_t *a)
{
    size_t                cap;
    compcoll_auto_call_t *p;

    if (a->wlen < a->wcap) {
        return COMPCOLL_OK;
    }
    cap = a->wcap ? 2 * a->wcap : 64;
    /* each array keeps what it held if the other cannot grow */
    if ((p = realloc(a->win, cap * sizeof(*p))) == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    a->win = p;
    if ((p = realloc(a->cycle, cap * sizeof(*p))) == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    a->cycle = p;
    a->wcap  = cap;
    return COMPCOLL_OK;
}

/* What a rank puts to the learning agreement (reg_auto_agree): the
 * largest wins. */
enum {
    REG_AUTO_GOES_ON = 0, /* the call is the window's next */
    REG_AUTO_GIVE_UP = 1, /* it is, and fills the window */
    REG_AUTO_NO_ROOM = 2, /* this rank cannot note it: the windows start
                           * again with it, unless it ends the cycle */
    REG_AUTO_ENDS    = 3, /* it begins the second cycle */
    REG_AUTO_RESTART = 4  /* a rank's window lost a call: the windows start
                           * again with this one */
};

/*
 * While learning, the ranks agree at every call on what it ends: whether a
 * buffer comes back is each rank's own allocator's doing, and a rank that
 * keyed a call apart from the others would sum its residual with theirs
 * into the wrong memory, or into none.  A reduction of one int on the
 * communicator's control duplicate (of the node leaders' communicator,
 * when hierarchical); op MPI_MAX or MPI_MIN.  The ranks cannot go on
 * unless they agree: a rank whose MPI fails here ends the job.
 */
static int reg_auto_agree(compcoll_comm_t *cc, int mine, MPI_Op op)
{
    int agreed;

    if (PMPI_Allreduce(&mine, &agreed, 1, MPI_INT, op, cc->ctl) !=
        MPI_SUCCESS) {
        compcoll_fail_job(cc, "the ranks could not agree on the cycle of "
                              "calls (COMPCOLL_KEY=auto)");
    }
    return agreed;
}

/* The tensor at the learned cycle's next position, which the call at hand
 * (buffer addr) takes; made now where this rank could not make it before
 * (it fails the call if it still cannot: the position is passed alike). */
static compcoll_status_t reg_auto_next(compcoll_comm_t *cc, uint64_t addr,
                                       compcoll_tensor_t **t_p)
{
    compcoll_auto_t   *a   = &cc->autok;
    const size_t       pos = a->pos;
    compcoll_status_t  status;

    a->pos = (pos + 1) % a->len;
    if (a->cycle[pos].t == NULL) {
        status = reg_tensor_new(cc, cc->nall, addr, a->cycle[pos].count,
                                &a->cycle[pos].t);
        if (status != COMPCOLL_OK) {
            a->cycle[pos].t = NULL;
            return status;
        }
    }
    a->cycle[pos].t->addr = addr;
    *t_p                  = a->cycle[pos].t;
    return COMPCOLL_OK;
}

/*
 * The agreed cycle of len calls, which the window's calls 0..len-1 make;
 * the call at hand is the window's next.  Where this rank's buffers put one
 * tensor at two positions (the agreed cycle is shorter than the others saw,
 * or its allocator handed a buffer to another tensor within one cycle), the
 * later position gets a tensor of its own, made at its next call: two
 * tensors never share a memory for good.
 */
static compcoll_status_t reg_auto_learned(compcoll_comm_t *cc, size_t len,
                                          uint64_t addr,
                                          compcoll_tensor_t **t_p)
{
    compcoll_auto_t *a = &cc->autok;
    size_t           i, j;

    memcpy(a->cycle, a->win, len * sizeof(*a->cycle));
    for (j = 1; j < len; j++) {
        for (i = 0; i < j && a->cycle[j].t != NULL; i++) {
            if (a->cycle[i].t == a->cycle[j].t) {
                a->cycle[j].t = NULL;
            }
        }
    }
    a->len = len;
    reg_auto_merge(cc);
    a->pos  = a->wlen % a->len;
    a->wlen = 0;
    compcoll_debug("communicator %llu: cycle of %zu compressed calls learned "
                   "(COMPCOLL_KEY=auto)", (unsigned long long)cc->id, a->len);
    return reg_auto_next(cc, addr, t_p);
}

/* By buffer: the tensor whose latest call came in addr with count, else a
 * new one. */
static compcoll_status_t reg_auto_by_buffer_or_new(compcoll_comm_t *cc,
                                                   uint64_t addr, size_t count,
                                                   compcoll_tensor_t **t_p)
{
    *t_p = reg_auto_by_buffer(cc, addr, count);
    return (*t_p != NULL) ? COMPCOLL_OK
                          : reg_tensor_new(cc, cc->nall, addr, count, t_p);
}

static compcoll_status_t reg_auto_get(compcoll_comm_t *cc, uint64_t addr,
                                      size_t count, compcoll_tensor_t **t_p)
{
    compcoll_auto_t   *a = &cc->autok;
    compcoll_tensor_t *t;
    compcoll_status_t  status, room;
    int                mine, agreed;

    if (a->len > 0) {
        if (a->cycle[a->pos].count == count) {
            return reg_auto_next(cc, addr, t_p);
        }
        compcoll_warn_once("the cycle of compressed calls on communicator "
                           "%llu changed (a call of %zu elements where %zu "
                           "were expected); COMPCOLL_KEY=auto learns it anew "
                           "and keys by buffer address meanwhile. A bucket "
                           "whose make-up changes from step to step (Horovod's "
                           "tensor fusion) cannot keep its error feedback: "
                           "fix its make-up (Horovod: DistributedOptimizer "
                           "groups=1, or HOROVOD_FUSION_THRESHOLD=0)",
                           (unsigned long long)cc->id, count,
                           a->cycle[a->pos].count);
        a->len  = 0;
        a->wlen = 0;
    }
    if (a->wlen == REG_AUTO_MAX_WINDOW) {
        /* no cycle found: by address, as COMPCOLL_KEY=address */
        return reg_auto_by_buffer_or_new(cc, addr, count, t_p);
    }
    /* learning: every rank is, in step with the others */
    room = compcoll_fault(cc, COMPCOLL_FAULT_WINDOW);
    room = (room == COMPCOLL_OK) ? reg_auto_room(a) : room;
    mine = a->lost                                ? REG_AUTO_RESTART
           : reg_auto_cycle_ends(cc, addr, count) ? REG_AUTO_ENDS
           : room != COMPCOLL_OK                  ? REG_AUTO_NO_ROOM
           : a->wlen + 1 == REG_AUTO_MAX_WINDOW   ? REG_AUTO_GIVE_UP
                                                  : REG_AUTO_GOES_ON;
    agreed = reg_auto_agree(cc, mine, MPI_MAX);
    if (agreed == REG_AUTO_ENDS) {
        /*
         * Some rank's buffers show that the window is whole cycles.  Each
         * rank's shortest period without a shared buffer is the window, or
         * shorter where its buffers show several cycles in it (no cycle
         * has two calls in one buffer); the shortest of the ranks' is
         * taken: a rank whose buffers are all new cannot tell one cycle
         * from two.  A rank whose own buffers disagree keeps its tensors
         * apart (reg_auto_learned).
         */
        return reg_auto_learned(cc,
                                (size_t)reg_auto_agree(
                                    cc, (int)reg_auto_period(a), MPI_MIN),
                                addr, t_p);
    }
    if (agreed == REG_AUTO_RESTART || agreed == REG_AUTO_NO_ROOM) {
        /* the windows start afresh with this call */
        a->wlen = 0;
        a->lost = 0;
        room    = reg_auto_room(a);
    }
    if (room != COMPCOLL_OK) {
        a->lost = 1; /* the others' windows hold this call */
        return room;
    }
    /* within one cycle the buffer names the tensor; one this rank cannot
     * make leaves a hole in its window, in step with the others' */
    status = reg_auto_by_buffer_or_new(cc, addr, count, &t);
    a->win[a->wlen].t      = (status == COMPCOLL_OK) ? t : NULL;
    a->win[a->wlen].addr   = addr;
    a->win[a->wlen++].count = count;
    if (status == COMPCOLL_OK) {
        *t_p = t;
    }
    return status;
}

/* ------------------------------------------------------------ retirement */

static void reg_unhash(compcoll_comm_t *cc, compcoll_tensor_t *t)
{
    compcoll_tensor_t **pp = &cc->buckets[reg_hash(t->key, t->count,
                                                   cc->nbuckets)];

    while (*pp != NULL && *pp != t) {
        pp = &(*pp)->next;
    }
    if (*pp == t) {
        *pp = t->next;
    }
    cc->ntensors--;
}

/*
 * Memories unused for COMPCOLL_RETIRE_CYCLES cycles go, so that a program
 * whose buffers the key cannot follow does not grow without bound.  Swept
 * once a cycle; never while auto is learning (the window points at them).
 */
static void reg_retire(compcoll_comm_t *cc)
{
    size_t   cycle, i, kept = 0, gone = 0, bytes = 0;
    uint64_t limit;

    if (cc->ncalls < cc->retire_at) {
        return;
    }
    /* the learned cycle, else the longest a tensor went between two
     * calls; before any tensor came back, the first 64 calls are all
     * taken for one cycle */
    cycle = cc->autok.len       ? cc->autok.len
            : cc->seq.learned   ? cc->seq.len
            : cc->max_reuse > 0 ? (size_t)cc->max_reuse
            : cc->ncalls >= 64  ? 1
                                : 0;
    if (cycle == 0) {
        cc->retire_at = 64;
        return;
    }
    cc->retire_at = cc->ncalls + cycle;
    if (compcoll_cfg.key == COMPCOLL_KEY_AUTO && cc->autok.len == 0 &&
        cc->autok.wlen < REG_AUTO_MAX_WINDOW) {
        return;
    }
    limit = (uint64_t)COMPCOLL_RETIRE_CYCLES * cycle;
    for (i = 0; i < cc->nall; i++) {
        compcoll_tensor_t *t = cc->all[i];

        if (cc->ncalls - t->last > limit) {
            bytes += t->mem != NULL ? t->count * sizeof(float) : 0;
            gone++;
            reg_tensor_drop(cc, t);
        } else {
            cc->all[kept++] = t;
        }
    }
    cc->nall = kept;
    if (gone == 0) {
        return;
    }
    compcoll_stats.tensors_retired += gone;
    compcoll_warn_once("communicator %llu: %zu error-feedback memories "
                       "(%zu bytes) unused for %u cycles of %zu calls were "
                       "retired, with the residual they held; this happens "
                       "when buffers change every step and "
                       "COMPCOLL_KEY=address or sequence cannot follow them "
                       "(COMPCOLL_KEY=auto does), or when calls stop for a "
                       "tensor", (unsigned long long)cc->id, gone, bytes,
                       COMPCOLL_RETIRE_CYCLES, cycle);
}

compcoll_status_t compcoll_tensor_get(compcoll_comm_t *cc, const void *gbuf,
                                      size_t count, compcoll_tensor_t **t_p)
{
    const uint64_t     addr = (uint64_t)(uintptr_t)gbuf;
    compcoll_status_t  status;
    compcoll_tensor_t *t;
    uint64_t           key;

    reg_retire(cc);
    if (compcoll_cfg.key == COMPCOLL_KEY_AUTO) {
        status = reg_auto_get(cc, addr, count, &t);
    } else {
        if (compcoll_cfg.key == COMPCOLL_KEY_SEQUENCE) {
            status = reg_seq_position(cc, count, &key);
            if (status != COMPCOLL_OK) {
                return status;
            }
        } else {
            key = addr;
        }
        t      = reg_hash_find(cc, key, count);
        status = (t != NULL) ? COMPCOLL_OK
                             : reg_tensor_new(cc, key, addr, count, &t);
    }
    if (status == COMPCOLL_OK) {
        if (t->calls > 0 && cc->ncalls - t->last > cc->max_reuse) {
            cc->max_reuse = cc->ncalls - t->last;
        }
        t->last = cc->ncalls;
        *t_p    = t;
    }
    return status;
}
