#include "compcoll_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll.h"
#include "compcoll_log.h"
#include "compcoll_stats.h"
#include "compcoll_topo.h"

static int              reg_keyval = MPI_KEYVAL_INVALID;
static compcoll_comm_t *reg_comms;     /* list of live states */
static uint64_t         reg_next_id = 1;
static size_t           reg_mem_held;  /* bytes of memory held */

/* ------------------------------------------------------------ tensors */

static void reg_tensor_free(compcoll_tensor_t *t)
{
    if (t->mem != NULL) {
        reg_mem_held -= t->count * sizeof(float);
        compcoll_topo_mem_free(t->mem, t->count * sizeof(float), t->mem_kind);
    }
    free(t);
}

static void reg_comm_destroy(compcoll_comm_t *cc)
{
    size_t b;

    for (b = 0; b < cc->nbuckets; b++) {
        while (cc->buckets[b] != NULL) {
            compcoll_tensor_t *t = cc->buckets[b];

            cc->buckets[b] = t->next;
            reg_tensor_free(t);
        }
    }
    if (cc->tcomm != NULL) {
        cc->tcomm->ops->comm_destroy(cc->tcomm);
    }
    /* freeing the leaders' communicator drops the inner state with it */
    if (cc->leaders != MPI_COMM_NULL) {
        PMPI_Comm_free(&cc->leaders);
    }
    if (cc->node != MPI_COMM_NULL) {
        PMPI_Comm_free(&cc->node);
    }
    if (cc->prev != NULL) {
        cc->prev->next = cc->next;
    } else {
        reg_comms = cc->next;
    }
    if (cc->next != NULL) {
        cc->next->prev = cc->prev;
    }
    compcoll_buf_release(&cc->msg);
    compcoll_buf_release(&cc->icode);
    compcoll_buf_release(&cc->vals);
    compcoll_buf_release(&cc->gather);
    compcoll_buf_release(&cc->sizes);
    compcoll_buf_release(&cc->pipe);
    free(cc->seq.counts);
    free(cc->buckets);
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
    while (reg_comms != NULL) {
        /* Deleting the attribute runs reg_delete_fn, which unlinks it. */
        compcoll_comm_t *cc = reg_comms;

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
    cc->ncalls++;
    t->calls++;
    if (t->stats != NULL) {
        t->stats->calls++;
    }
    compcoll_stats.elements_in += n;
    compcoll_stats.bytes_dense +=
        2 * (uint64_t)(cc->size - 1) * n * sizeof(float) / (uint64_t)cc->size;
}

size_t compcoll_registry_memory(void)
{
    return reg_mem_held;
}

/* ------------------------------------------------------------ comms */

/* Everything that must be equal on all ranks for the exchange to agree. */
static uint64_t reg_config_hash(void)
{
    const compcoll_config_t *c = &compcoll_cfg;
    uint64_t                 v[] = {(uint64_t)c->method, c->ratio,
                                    c->min_count, (uint64_t)c->select,
                                    (uint64_t)(c->beta * 1e9), c->warmup,
                                    (uint64_t)c->wire, (uint64_t)c->transport,
                                    (uint64_t)c->key, (uint64_t)c->hierarchical,
                                    c->ranks_per_node};
    uint64_t                 h   = 1469598103934665603ull;
    size_t                   i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        h = (h ^ v[i]) * 1099511628211ull;
    }
    return h;
}

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
    uint64_t                        mine[3], agreed[3];

    cc = calloc(1, sizeof(*cc));
    if (cc == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    cc->comm     = comm;
    cc->node     = MPI_COMM_NULL;
    cc->leaders  = MPI_COMM_NULL;
    cc->nbuckets = 64;
    cc->buckets  = calloc(cc->nbuckets, sizeof(*cc->buckets));
    if (cc->buckets == NULL) {
        free(cc);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    cc->next = reg_comms;
    if (reg_comms != NULL) {
        reg_comms->prev = cc;
    }
    reg_comms = cc;

    status = COMPCOLL_OK;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_rank(comm, &cc->rank), status, err);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_size(comm, &cc->size), status, err);

    /* One reduction agrees on the id (max of every member's next id: unused
     * by all of them) and checks the configuration is the same everywhere
     * (max of h and of ~h differ from ours iff some rank's h differs). */
    mine[0] = reg_config_hash();
    mine[1] = ~mine[0];
    mine[2] = reg_next_id;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(mine, agreed, 3, MPI_UINT64_T,
                                           MPI_MAX, comm),
                            status, err);
    cc->id      = agreed[2];
    reg_next_id = cc->id + 1;
    if (agreed[0] != mine[0] || agreed[1] != mine[1]) {
        compcoll_error("COMPCOLL_* settings differ between the ranks of "
                       "communicator %llu; every rank must run with the same "
                       "COMPCOLL_METHOD, RATIO, MIN_COUNT, SELECT, BETA, "
                       "WARMUP, WIRE_TYPE, TRANSPORT, KEY, HIERARCHICAL and "
                       "RANKS_PER_NODE",
                       (unsigned long long)cc->id);
        status = COMPCOLL_ERR_INVALID_PARAM;
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

void compcoll_comm_release(MPI_Comm comm)
{
    void *value = NULL;
    int   found = 0;

    if (reg_keyval == MPI_KEYVAL_INVALID || comm == MPI_COMM_NULL) {
        return;
    }
    if (PMPI_Comm_get_attr(comm, reg_keyval, &value, &found) == MPI_SUCCESS &&
        found) {
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

compcoll_status_t compcoll_tensor_get(compcoll_comm_t *cc, const void *gbuf,
                                      size_t count, compcoll_tensor_t **t_p)
{
    const size_t       bytes = count * sizeof(float);
    compcoll_status_t  status;
    compcoll_tensor_t *t;
    uint64_t           key;
    size_t             h;
    char               name[96];

    if (compcoll_cfg.key == COMPCOLL_KEY_SEQUENCE) {
        status = reg_seq_position(cc, count, &key);
        if (status != COMPCOLL_OK) {
            return status;
        }
    } else {
        key = (uint64_t)(uintptr_t)gbuf;
    }
    h = reg_hash(key, count, cc->nbuckets);
    for (t = cc->buckets[h]; t != NULL; t = t->next) {
        if (t->key == key && t->count == count) {
            *t_p = t;
            return COMPCOLL_OK;
        }
    }

    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    t->key   = key;
    t->count = count;
    if (compcoll_cfg.max_memory != 0 &&
        reg_mem_held + bytes > compcoll_cfg.max_memory) {
        compcoll_warn_once("COMPCOLL_MAX_MEMORY=%zu bytes reached (%zu held): "
                           "tensors beyond it get no error-feedback memory "
                           "and are summed densely",
                           compcoll_cfg.max_memory, reg_mem_held);
    } else if (compcoll_cfg.method != COMPCOLL_METHOD_DENSE) {
        /* zeroed; bound to this process's NUMA nodes when it runs on a
         * subset of them (compcoll_topo.h) */
        t->mem = compcoll_topo_mem_alloc(bytes, &t->mem_kind);
        if (t->mem == NULL) {
            compcoll_warn_once("no memory for a %zu-byte error-feedback "
                               "buffer: such tensors are summed densely",
                               bytes);
        } else {
            reg_mem_held += bytes;
        }
    }
    if (compcoll_cfg.key == COMPCOLL_KEY_SEQUENCE) {
        snprintf(name, sizeof(name), "comm=%llu:seq=%llu:count=%zu",
                 (unsigned long long)cc->id, (unsigned long long)key, count);
    } else {
        snprintf(name, sizeof(name), "comm=%llu:addr=%#llx:count=%zu",
                 (unsigned long long)cc->id, (unsigned long long)key, count);
    }
    t->stats = compcoll_stats_tensor_new(name, count,
                                         (count + compcoll_cfg.ratio - 1) /
                                             compcoll_cfg.ratio);
    t->next         = cc->buckets[h];
    cc->buckets[h]  = t;
    if (++cc->ntensors > 2 * cc->nbuckets) {
        reg_rehash(cc);
    }
    *t_p = t;
    return COMPCOLL_OK;
}
