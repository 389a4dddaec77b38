/*
 * libcompcoll: ScaleCom's header, the one message a non-leader takes from
 * the leader before it touches its memory (scalecom.c), and the checks a
 * non-leader makes of it, exposed for the fuzz harness
 * (tests/fuzz/target_header.c).
 */
#ifndef COMPCOLL_SCALECOM_H
#define COMPCOLL_SCALECOM_H

#include <stddef.h>
#include <stdint.h>

#include "compcoll_registry.h"

#define COMPCOLL_SC_MAGIC  0x32434353u /* "SCC2" */
#define COMPCOLL_SC_PIECES 32u         /* pieces a pipelined call has at most */
/* the header's mstate from a stand-in, which has no momentum state */
#define COMPCOLL_SC_MSTATE_NONE UINT64_MAX

enum {
    COMPCOLL_SC_SPARSE = 1, /* the k indices that follow are the call's I */
    COMPCOLL_SC_DENSE  = 2, /* I is every index (warm-up or no memory) */
    COMPCOLL_SC_ABORT  = 3, /* the leader cannot take its part: all fail */
};

typedef struct {
    uint32_t magic;
    uint8_t  mode;
    uint8_t  select;
    uint8_t  wire;
    uint8_t  coding; /* compcoll_icode_t; 0 unless sparse */
    uint64_t n;
    uint64_t k;
    uint64_t seq;    /* s_c of the call, a check that ranks are in step */
    uint64_t ibytes; /* bytes of coded indices that follow */
    uint64_t mstate; /* COMPCOLL_MOMENTUM: the fingerprint of the leader's
                      * momentum state of the tensor (its mom_tag;
                      * COMPCOLL_SC_MSTATE_NONE from a stand-in); else 0 */
    uint32_t pieces; /* pipelined (sc_pipe_run): its pieces; else 0 */
    uint32_t width;  /* pipelined chunk offsets: bytes each; else 0 */
    uint32_t pcount[COMPCOLL_SC_PIECES]; /* pipelined: indices per piece */
    uint32_t pbytes[COMPCOLL_SC_PIECES]; /* pipelined: their coded bytes */
} compcoll_sc_header_t;

/*
 * What a non-leader of cc makes of header h for its call of n elements
 * and k values: whether it accepts it (COMPCOLL_OK, else the error it
 * names), and *followable, whether it could take its part in the call the
 * header describes with stand-ins (it must whenever it accepts).
 */
compcoll_status_t compcoll_sc_header_check(const compcoll_comm_t *cc,
                                           const compcoll_sc_header_t *h,
                                           size_t n, size_t k,
                                           int *followable);

/* The pieces a call of k of n on cc is cut into (0: not pipelined). */
unsigned compcoll_sc_pieces(const compcoll_comm_t *cc, size_t n, size_t k);

#endif
