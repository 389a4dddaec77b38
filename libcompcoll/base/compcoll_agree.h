/*
 * libcompcoll: agreeing on a communicator id.
 *
 * Each layer that names communicators in its traffic (the registry, the
 * UCX tags) keeps a counter; an id agreed over a communicator is above the
 * counter of every member and is taken from each member's counter under its
 * lock, so no two communicators sharing a member get the same id, even when
 * threads create communicators concurrently and in different orders.
 */
#ifndef COMPCOLL_AGREE_H
#define COMPCOLL_AGREE_H

#include <mpi.h>
#include <pthread.h>
#include <stdint.h>

#include "compcoll_status.h"

typedef struct {
    pthread_mutex_t lock;
    uint64_t        next; /* every id below is taken or skipped */
} compcoll_id_counter_t;

#define COMPCOLL_ID_COUNTER_INITIALIZER {PTHREAD_MUTEX_INITIALIZER, 1}

/* The most values agreed along with the id. */
#define COMPCOLL_AGREE_MAX_EXTRA 4

/*
 * Collective over comm: *id, unique as above, and the maximum over ranks of
 * each of the nextra values in extra (in place).  Every rank returns the
 * same status.
 */
compcoll_status_t compcoll_agree_id(MPI_Comm comm, compcoll_id_counter_t *ctr,
                                    uint64_t *extra, int nextra,
                                    uint64_t *id);

#endif
