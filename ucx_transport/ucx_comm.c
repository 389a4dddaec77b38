/*
 * ucx_transport: per-communicator set-up and tear-down.
 *
 * comm_create is the only place this transport talks MPI: it swaps worker
 * addresses and agrees on an id over the user's communicator with PMPI
 * collectives.  Every branch below keeps every rank in the same sequence of
 * collectives, whatever failed locally, so that no rank is left waiting.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_ucx.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Each rank's contribution to the address exchange: this flag byte, then its
 * worker address when the flag is COMPCOLL_UCX_BLOB_OK. */
#define COMPCOLL_UCX_BLOB_NONE 0
#define COMPCOLL_UCX_BLOB_OK 1

/* This rank's contribution to the address exchange: *mine (flag byte, then
 * the worker address when this rank can use UCX here; else no_blob), its
 * length in *len.  Returns whether this rank can use UCX. */
static int compcoll_ucx_blob(int size, unsigned char *no_blob,
                             unsigned char **mine, int *len)
{
    const compcoll_ucx_context_t *ctx = &compcoll_ucx_ctx;

    *mine = no_blob;
    *len  = 1;
    if (!ctx->ready) {
        return 0;
    }
    if (size > COMPCOLL_UCX_MAX_RANKS) {
        compcoll_warn("UCX: a communicator of %d ranks exceeds the %d that "
                      "the tag layout can name",
                      size, COMPCOLL_UCX_MAX_RANKS);
        return 0;
    }
    if (ctx->address_len >= (size_t)INT_MAX ||
        (*mine = malloc(1 + ctx->address_len)) == NULL) {
        *mine = no_blob;
        return 0;
    }
    (*mine)[0] = COMPCOLL_UCX_BLOB_OK;
    memcpy(*mine + 1, ctx->address, ctx->address_len);
    *len = 1 + (int)ctx->address_len;
    return 1;
}

/* Endpoints to every other rank from the exchanged blobs; whether every
 * one could be had. */
static int compcoll_ucx_connect(compcoll_ucx_comm_t *ucomm, int rank, int size,
                                const unsigned char *all, const int *lens,
                                const int *displs)
{
    int i;

    for (i = 0; i < size; i++) {
        const unsigned char *blob = all + displs[i];

        if (i == rank) {
            continue;
        }
        if ((blob[0] != COMPCOLL_UCX_BLOB_OK) || (lens[i] < 2)) {
            compcoll_info("UCX: rank %d of this communicator has no UCX "
                          "transport",
                          i);
            return 0;
        }
        if (compcoll_ucx_ep_get(blob + 1, (size_t)lens[i] - 1,
                                &ucomm->eps[i]) != COMPCOLL_OK) {
            return 0;
        }
    }
    return 1;
}

/*
 * Collective over comm, every rank through the same collectives whatever
 * failed locally: an id and whether every rank has room for the lengths
 * (agreed), the lengths, whether every rank has room for the addresses
 * (agreed), the addresses, and whether every rank could connect (agreed).
 */
compcoll_status_t compcoll_ucx_comm_create(MPI_Comm           comm,
                                           compcoll_tcomm_t **tcomm_p)
{
    compcoll_ucx_context_t *ctx     = &compcoll_ucx_ctx;
    compcoll_status_t       status  = COMPCOLL_OK;
    compcoll_ucx_comm_t    *ucomm   = NULL;
    unsigned char           no_blob = COMPCOLL_UCX_BLOB_NONE;
    unsigned char          *mine    = &no_blob;
    unsigned char          *all     = NULL;
    int                    *lens    = NULL, *displs = NULL;
    int                     my_len = 1, total = 0;
    int                     rank, size, i, ok, all_ok, room, all_room;
    uint64_t                id, cannot; /* cannot: agreed max */

    *tcomm_p = NULL;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_rank(comm, &rank), status, out);
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_size(comm, &size), status, out);

    ok   = compcoll_ucx_blob(size, &no_blob, &mine, &my_len);
    lens = malloc(2 * (size_t)size * sizeof(*lens));
    if (lens == NULL) {
        compcoll_error("UCX: cannot allocate the address exchange for %d "
                       "ranks",
                       size);
    } else {
        displs = lens + size;
    }

    /* An id no communicator sharing a member with this one has (the tag
     * keeps communicators apart on the shared worker), agreed along with
     * whether every rank can receive the lengths. */
    cannot = (lens == NULL);
    status = compcoll_agree_id(comm, &ctx->ids, &cannot, 1, &id);
    if (status != COMPCOLL_OK) {
        goto out;
    }
    if (cannot != 0) {
        status = COMPCOLL_ERR_UNAVAILABLE;
        goto out;
    }
    COMPCOLL_MPI_CHECK_GOTO(
        PMPI_Allgather(&my_len, 1, MPI_INT, lens, 1, MPI_INT, comm), status,
        out);

    /* Any rank that cannot hold the addresses makes everyone stop before
     * the Allgatherv. */
    room = 1;
    for (i = 0; i < size && room; i++) {
        displs[i] = total;
        room      = (lens[i] >= 1) && (lens[i] <= INT_MAX - total);
        total += room ? lens[i] : 0;
    }
    if (room) {
        all   = malloc((size_t)total);
        ucomm = calloc(1, sizeof(*ucomm));
        room  = (all != NULL) && (ucomm != NULL) &&
               ((ucomm->eps = calloc((size_t)size, sizeof(ucp_ep_h))) != NULL);
        if (!room) {
            compcoll_error("UCX: cannot allocate communicator state for %d "
                           "ranks",
                           size);
        }
    }
    COMPCOLL_MPI_CHECK_GOTO(
        PMPI_Allreduce(&room, &all_room, 1, MPI_INT, MPI_MIN, comm), status,
        out);
    if (!all_room) {
        status = COMPCOLL_ERR_UNAVAILABLE;
        goto out;
    }
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Allgatherv(mine, my_len, MPI_BYTE, all, lens,
                                            displs, MPI_BYTE, comm),
                            status, out);

    ok = ok && compcoll_ucx_connect(ucomm, rank, size, all, lens, displs);
    COMPCOLL_MPI_CHECK_GOTO(
        PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm), status, out);
    if (!all_ok) {
        if (ctx->ready) {
            compcoll_info("UCX: not usable on every rank of this "
                          "communicator; it needs another transport");
        }
        status = COMPCOLL_ERR_UNAVAILABLE;
        goto out;
    }

    ucomm->super.ops        = &compcoll_ucx_transport;
    ucomm->super.rank       = rank;
    ucomm->super.size       = size;
    ucomm->super.bytes_sent = 0;
    ucomm->id               = id;
    ucomm->tag_id =
        (id & ((UINT64_C(1) << COMPCOLL_UCX_TAG_ID_BITS) - 1))
        << COMPCOLL_UCX_TAG_ID_SHIFT;
    ucomm->seq   = 0;
    ucomm->epoch = ctx->epoch;
    *tcomm_p     = &ucomm->super;
    ucomm        = NULL;
    compcoll_debug("UCX: communicator id %llu over %d ranks",
                   (unsigned long long)id, size);

out:
    if (ucomm != NULL) {
        /* The endpoints stay cached for the next communicator. */
        free(ucomm->eps);
        free(ucomm);
    }
    free(all);
    if (mine != &no_blob) {
        free(mine);
    }
    free(lens);
    return status;
}

/* No MPI here: this runs inside PMPI_Comm_free's attribute callbacks. */
void compcoll_ucx_comm_destroy(compcoll_tcomm_t *tcomm)
{
    compcoll_ucx_comm_t *ucomm = (compcoll_ucx_comm_t *)tcomm;

    if (ucomm == NULL) {
        return;
    }
    free(ucomm->scratch);
    free(ucomm->eps);
    free(ucomm);
}

compcoll_status_t compcoll_ucx_comm_scratch(compcoll_ucx_comm_t *ucomm,
                                            size_t               bytes)
{
    void *p;

    if (bytes <= ucomm->scratch_size) {
        return COMPCOLL_OK;
    }
    /* The old contents are never needed, so no realloc copy. */
    p = malloc(bytes);
    if (p == NULL) {
        compcoll_error("UCX: cannot allocate %zu bytes of scratch", bytes);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    free(ucomm->scratch);
    ucomm->scratch      = p;
    ucomm->scratch_size = bytes;
    return COMPCOLL_OK;
}

uint64_t compcoll_ucx_comm_id(const compcoll_tcomm_t *tcomm)
{
    return ((const compcoll_ucx_comm_t *)tcomm)->id;
}
