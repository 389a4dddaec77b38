/*
 * libcompcoll: agreeing on a communicator id (compcoll_agree.h).
 *
 * A round offers each member's next free id and takes the maximum; each
 * member then claims it if its counter has not passed it meanwhile (another
 * thread's communicator may have claimed it since), and a second reduction
 * says whether every member did.  A round that fails leaves the claimed ids
 * unused and tries above them; two communicators racing on the same members
 * pick apart after a round or two.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_agree.h"

#include <string.h>

#include "compcoll_log.h"

compcoll_status_t compcoll_agree_id(MPI_Comm comm, compcoll_id_counter_t *ctr,
                                    uint64_t *extra, int nextra, uint64_t *id)
{
    compcoll_status_t status = COMPCOLL_OK;
    uint64_t          mine[1 + COMPCOLL_AGREE_MAX_EXTRA];
    uint64_t          agreed[1 + COMPCOLL_AGREE_MAX_EXTRA];
    unsigned          round;
    int               claimed, all_claimed;

    if (nextra < 0 || nextra > COMPCOLL_AGREE_MAX_EXTRA) {
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    if (nextra > 0) {
        memcpy(mine + 1, extra, (size_t)nextra * sizeof(uint64_t));
    }
    for (round = 0;; round++) {
        pthread_mutex_lock(&ctr->lock);
        /* after a failed round, spread the racers apart */
        mine[0] = ctr->next + (uint64_t)round * 7u;
        pthread_mutex_unlock(&ctr->lock);
        COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(mine, agreed, 1 + nextra,
                                               MPI_UINT64_T, MPI_MAX, comm),
                                status, out);
        pthread_mutex_lock(&ctr->lock);
        claimed = (agreed[0] >= ctr->next);
        if (claimed) {
            ctr->next = agreed[0] + 1;
        }
        pthread_mutex_unlock(&ctr->lock);
        COMPCOLL_MPI_CHECK_GOTO(PMPI_Allreduce(&claimed, &all_claimed, 1,
                                               MPI_INT, MPI_MIN, comm),
                                status, out);
        if (all_claimed) {
            break;
        }
        compcoll_debug("communicator id %llu taken on some member; trying "
                       "above it", (unsigned long long)agreed[0]);
    }
    *id = agreed[0];
    if (nextra > 0) {
        memcpy(extra, agreed + 1, (size_t)nextra * sizeof(uint64_t));
    }
out:
    return status;
}
