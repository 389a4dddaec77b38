/*
 * ScaleCom: cyclic local top-k with low-pass error feedback (DESIGN §2).
 *
 * Per call on communicator c with p ranks, on a tensor of n floats:
 *   leader l = s_c mod p picks k = ceil(n / ratio) indices I from |m_l + g_l|
 *   and broadcasts a header and I; every rank sends a_r[I] = (m_r + g_r)[I]
 *   into a sum over the transport; out = that sum at I and 0 elsewhere;
 *   m_r <- (1 - beta) m_r at I and m_r + beta g_r elsewhere.
 * Decisions that rest on one rank's state (warm-up, memory held) are the
 * leader's, carried in the header; the others validate it before touching
 * memory.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll.h"
#include "compcoll_fail.h"
#include "compcoll_icode.h"
#include "compcoll_log.h"
#include "compcoll_memtype.h"
#include "compcoll_scalecom.h"
#include "compcoll_stats.h"

typedef compcoll_sc_header_t sc_header_t;

#define SC_MAGIC       COMPCOLL_SC_MAGIC
#define SC_MODE_SPARSE COMPCOLL_SC_SPARSE
#define SC_MODE_DENSE  COMPCOLL_SC_DENSE
#define SC_MODE_ABORT  COMPCOLL_SC_ABORT

/* Pipelining (see sc_pipe_run). */
#define SC_PIPE_ELEMENTS 262144u /* elements a piece has at least */
#define SC_PIPE_VALUES   512u    /* values a piece has at least */
#define SC_PIPE_PIECES   COMPCOLL_SC_PIECES
#define SC_PIPE_CHUNK    65536u  /* the longest chunk two bytes address */

_Static_assert(SC_PIPE_PIECES <= COMPCOLL_SELECT_PIECES,
               "sample plans every piece a call can have");

/* The others: the leader's coded indices into idx, or an error naming what
 * was wrong with them. */
static compcoll_status_t sc_decode(const compcoll_comm_t *cc,
                                   const sc_header_t *h, const uint8_t *code,
                                   size_t n, size_t k, uint32_t *idx)
{
    size_t      at;
    const char *why = compcoll_icode_decode((compcoll_icode_t)h->coding, code,
                                            (size_t)h->ibytes, n, k, idx, &at);

    if (why != NULL) {
        compcoll_error("leader's indices of call %llu on communicator %llu "
                       "are malformed at index %zu of %zu (%s; %llu bytes); "
                       "refusing to apply them",
                       (unsigned long long)cc->ncalls,
                       (unsigned long long)cc->id, at, k, why,
                       (unsigned long long)h->ibytes);
        return COMPCOLL_ERR_PROTOCOL;
    }
    return COMPCOLL_OK;
}

/* ------------------------------------------------------- pipelining */
/*
 * With beta = 1 in host memory, a large call's exchange is cut into pieces
 * that travel one behind the other: each piece's indices go down a chain in
 * the ring's direction (leader, leader + 1, ..., leader - 1), every rank
 * takes its values for them, a ring all-reduce of the piece's own sums
 * them, and the sums are scattered, so that moving one piece overlaps
 * taking and scattering the others.  With COMPCOLL_SELECT=chunk the
 * leader's indices come chunk by chunk, so the header goes first and the
 * leader selects piece by piece while the pieces before are on their way;
 * each piece is a run of chunks, its indices fixed-width offsets within
 * them (one byte while chunks are at most 256 elements, else two).  With
 * sample the leader plans first (compcoll_host_sample_plan: each run of
 * n / pieces elements gets a quota of the k from a sample), the header
 * carries the quotas, and the leader selects each run's exact top quota as
 * it goes, its indices coded as Elias-Fano, whose bytes the run's length
 * and count fix in advance.  With exact the leader selects first; each
 * piece is the indices in a run of n / pieces elements, coded as gaps
 * (compcoll_icode.h).  The header carries every piece's count and bytes.
 * When the header goes first (chunk, sample) the others fold each piece's
 * elements when its indices come, or ahead while nothing else moves, not
 * all of them before the header.  The chain and the ring
 * are the transport's nonblocking collectives (compcoll_tcoll_ichain,
 * compcoll_tcoll_iallreduce), each piece's two on channels of their own,
 * so that they match whatever order the pieces progress in.
 */

/* The pieces a call of k of n is cut into, the same on every rank; 0 when
 * it is not pipelined (too small to gain, or a setting the pieces do not
 * serve). */
static unsigned sc_pipe_pieces(const compcoll_comm_t *cc, size_t n, size_t k)
{
    const compcoll_config_t *cfg    = &compcoll_cfg;
    size_t                   pieces = n / SC_PIPE_ELEMENTS;

    if (pieces > k / SC_PIPE_VALUES) {
        pieces = k / SC_PIPE_VALUES;
    }
    if (cfg->beta != 1.0 ||
        cc->size < 2 || cc->tcomm->ops->isend == NULL || pieces < 2 ||
        (cfg->select == COMPCOLL_SELECT_CHUNK &&
         (n + k - 1) / k > SC_PIPE_CHUNK)) {
        return 0;
    }
    return pieces > SC_PIPE_PIECES ? SC_PIPE_PIECES : (unsigned)pieces;
}

static unsigned sc_pipe_width(size_t n, size_t k)
{
    return (n + k - 1) / k <= 256 ? 1 : 2;
}

/* Chunk pieces: piece s is chunks [s k / np, (s + 1) k / np). */
static void sc_pipe_chunk_layout(sc_header_t *h, size_t n, size_t k)
{
    unsigned s;

    h->width  = sc_pipe_width(n, k);
    h->coding = COMPCOLL_ICODE_CHUNK;
    h->ibytes = (uint64_t)k * h->width;
    for (s = 0; s < h->pieces; s++) {
        h->pcount[s] = (uint32_t)((uint64_t)(s + 1) * k / h->pieces -
                                  (uint64_t)s * k / h->pieces);
        h->pbytes[s] = h->pcount[s] * h->width;
    }
}

/* The elements piece s covers: its chunks, or [s n / np, (s + 1) n / np)
 * for gap-coded pieces. */
static void sc_pipe_range(const sc_header_t *h, unsigned s, size_t c0,
                          size_t c1, size_t n, size_t k, size_t *e0,
                          size_t *e1)
{
    if (h->coding == COMPCOLL_ICODE_CHUNK) {
        *e0 = compcoll_chunk_lo(c0, n, k);
        *e1 = compcoll_chunk_lo(c1, n, k);
    } else {
        *e0 = (size_t)((uint64_t)s * n / h->pieces);
        *e1 = (size_t)((uint64_t)(s + 1) * n / h->pieces);
    }
}

/*
 * Gap pieces, after the leader's selection: piece s is the indices in its
 * run of elements, each piece coded on its own into code (room for
 * COMPCOLL_ICODE_MAX k bytes), the pieces one after the other.
 */
static void sc_pipe_gap_layout(sc_header_t *h, const uint32_t *idx, size_t n,
                               size_t k, uint8_t *code)
{
    compcoll_icode_t coding;
    size_t           c0 = 0, c1, e0, e1, off = 0;
    unsigned         s;

    h->width  = 0;
    h->coding = COMPCOLL_ICODE_GAP;
    for (s = 0; s < h->pieces; s++) {
        sc_pipe_range(h, s, 0, 0, n, k, &e0, &e1);
        for (c1 = c0; c1 < k && idx[c1] < e1; c1++) {
        }
        h->pcount[s] = (uint32_t)(c1 - c0);
        h->pbytes[s] = c1 > c0 ? (uint32_t)compcoll_icode_encode(
                                     0, idx + c0, n, c1 - c0, code + off,
                                     &coding)
                               : 0;
        off += h->pbytes[s];
        c0 = c1;
    }
    h->ibytes = off;
}

/* EF pieces, from sample's plan: piece s is the quota[s] indices in its
 * run of elements, in the bytes the run's length and that count fix. */
static void sc_pipe_ef_layout(sc_header_t *h, size_t n, size_t k,
                              const uint32_t *quota)
{
    size_t   e0, e1;
    uint64_t off = 0;
    unsigned s;

    h->width  = 0;
    h->coding = COMPCOLL_ICODE_EF;
    for (s = 0; s < h->pieces; s++) {
        sc_pipe_range(h, s, 0, 0, n, k, &e0, &e1);
        h->pcount[s] = quota[s];
        h->pbytes[s] = (uint32_t)compcoll_icode_ef_bytes(e1 - e0, quota[s]);
        off += h->pbytes[s];
    }
    h->ibytes = off;
}

/* Pieces without indices (for the log). */
static unsigned sc_pipe_empty(const sc_header_t *h)
{
    unsigned s, empty = 0;

    for (s = 0; s < h->pieces; s++) {
        empty += (h->pcount[s] == 0);
    }
    return empty;
}

/* A pipelined header's layout, as the others check it: the pieces this
 * rank expects, counts adding up to k, bytes within the coding's bounds
 * (exactly the chunk layout's for chunk pieces).  NULL when it holds. */
static const char *sc_pipe_check(const compcoll_comm_t *cc,
                                 const sc_header_t *h, size_t n, size_t k)
{
    uint64_t count = 0, bytes = 0;
    unsigned s;

    if (h->pieces != sc_pipe_pieces(cc, n, k)) {
        return "a number of pieces this rank does not expect";
    }
    if (h->coding == COMPCOLL_ICODE_CHUNK) {
        sc_header_t want = *h;

        if (compcoll_cfg.select != COMPCOLL_SELECT_CHUNK) {
            return "chunk pieces without COMPCOLL_SELECT=chunk here";
        }
        memset(want.pcount, 0, sizeof(want.pcount));
        memset(want.pbytes, 0, sizeof(want.pbytes));
        sc_pipe_chunk_layout(&want, n, k);
        return memcmp(&want, h, sizeof(want)) == 0
                   ? NULL
                   : "chunk pieces not laid out as this rank lays them";
    }
    if ((h->coding != COMPCOLL_ICODE_GAP && h->coding != COMPCOLL_ICODE_EF) ||
        h->width != 0) {
        return "an unknown coding";
    }
    if (h->coding == COMPCOLL_ICODE_EF &&
        compcoll_cfg.select != COMPCOLL_SELECT_SAMPLE) {
        return "planned pieces without COMPCOLL_SELECT=sample here";
    }
    for (s = 0; s < SC_PIPE_PIECES; s++) {
        size_t e0, e1;

        if (s >= h->pieces) {
            if (h->pcount[s] != 0 || h->pbytes[s] != 0) {
                return "a piece past the pieces announced";
            }
            continue;
        }
        sc_pipe_range(h, s, 0, 0, n, k, &e0, &e1);
        if (h->pcount[s] > e1 - e0) {
            return "a piece with more indices than elements";
        }
        if (h->coding == COMPCOLL_ICODE_EF
                ? h->pbytes[s] != compcoll_icode_ef_bytes(e1 - e0, h->pcount[s])
                : h->pbytes[s] < h->pcount[s] ||
                      h->pbytes[s] > COMPCOLL_ICODE_MAX *
                                         (uint64_t)h->pcount[s]) {
            return "a piece whose bytes cannot hold its indices";
        }
        count += h->pcount[s];
        bytes += h->pbytes[s];
    }
    return count == k && bytes == h->ibytes
               ? NULL
               : "pieces that do not add up to k indices";
}

static compcoll_status_t sc_validate(const compcoll_comm_t *cc,
                                     const sc_header_t *h, size_t n, size_t k)
{
    const int sparse = (h->mode == SC_MODE_SPARSE);
    /* during a ramp the leader's k, within the ramp's range: the ranks'
     * call counts of a tensor differ when its buffers are keyed apart */
    const int k_ok = h->k == k ||
                     (compcoll_cfg.ramp != 0 && h->k >= compcoll_k_min(n) &&
                      h->k <= compcoll_k_max(n));

    if (h->magic != SC_MAGIC || h->n != n || !k_ok ||
        h->seq != cc->ncalls || h->wire != (uint8_t)compcoll_cfg.wire ||
        h->select != (uint8_t)compcoll_cfg.select ||
        (!sparse && h->mode != SC_MODE_DENSE && h->mode != SC_MODE_ABORT) ||
        (sparse && h->coding != COMPCOLL_ICODE_GAP &&
         h->coding != COMPCOLL_ICODE_CHUNK &&
         (h->coding != COMPCOLL_ICODE_EF || h->pieces == 0)) ||
        (sparse ? ((h->coding != COMPCOLL_ICODE_EF && h->ibytes < h->k) ||
                   h->ibytes > COMPCOLL_ICODE_MAX * h->k)
                : h->ibytes != 0)) {
        compcoll_error("leader's header for call %llu on communicator %llu "
                       "disagrees with this rank: magic %#x mode %u n %llu "
                       "k %llu call %llu coding %u (%llu bytes), expected "
                       "n %zu k %zu call %llu; are all ranks making the same "
                       "MPI_Allreduce calls?",
                       (unsigned long long)cc->ncalls,
                       (unsigned long long)cc->id, h->magic, h->mode,
                       (unsigned long long)h->n, (unsigned long long)h->k,
                       (unsigned long long)h->seq, h->coding,
                       (unsigned long long)h->ibytes, n, k,
                       (unsigned long long)cc->ncalls);
        return COMPCOLL_ERR_PROTOCOL;
    }
    if (h->pieces != 0) {
        const char *why = sparse ? sc_pipe_check(cc, h, n, (size_t)h->k)
                                 : "pieces in a call that is not sparse";

        if (why != NULL) {
            compcoll_error("leader's header for call %llu on communicator "
                           "%llu pipelines %u pieces: %s; are all ranks "
                           "configured alike?",
                           (unsigned long long)cc->ncalls,
                           (unsigned long long)cc->id, h->pieces, why);
            return COMPCOLL_ERR_PROTOCOL;
        }
    }
    return COMPCOLL_OK;
}

/* The leader's header: dense while its tensor warms up or has no memory
 * (`has_mem`: the memory of the path that runs), and after a call that
 * left a NaN or infinity in some rank's memory; sparse otherwise. */
static void sc_header_fill(const compcoll_comm_t *cc,
                           const compcoll_tensor_t *t, int has_mem,
                           sc_header_t *h, size_t n, size_t k)
{
    const compcoll_config_t *cfg = &compcoll_cfg;

    memset(h, 0, sizeof(*h));
    h->magic  = SC_MAGIC;
    h->select = (uint8_t)cfg->select;
    h->wire   = (uint8_t)cfg->wire;
    h->n      = n;
    h->k      = k;
    h->seq    = cc->ncalls;
    h->mstate = t->stand_in ? COMPCOLL_SC_MSTATE_NONE : t->mom_tag;
    h->mode   = (t->calls < cfg->warmup || !has_mem || t->dense_next)
                    ? SC_MODE_DENSE
                    : SC_MODE_SPARSE;
}

/* ------------------------------------------------------------ a call */

/* One call's state, as its steps share it (compcoll_fail.h: a rank that
 * failed keeps making the steps, with stand-ins). */
typedef struct {
    compcoll_comm_t   *cc;
    compcoll_tensor_t *t;
    sc_header_t        h;      /* the leader's */
    const float       *g;
    float             *out;
    size_t             n, k;
    size_t             cap;    /* the k its buffers hold: any the leader's */
    int                leader;
    int                folded; /* m holds a = m + g (the beta = 1 pass) */
    uint32_t          *idx;    /* k: the call's indices */
    uint8_t           *code;   /* COMPCOLL_ICODE_MAX k: the indices as sent */
    float             *vals;   /* k: this rank's values, then their sums */
    void              *pipe;   /* a pipelined call's pieces (sc_pipe_run) */
    unsigned           pieces; /* the leader's: pieces to cut it into */
    int                fold;   /* the beta = 1 pass runs before the header */
    int                lazy;   /* a non-leader folding piece by piece */
    uint32_t           thresh; /* the leader's: sample's planned threshold */
    compcoll_gpu_tensor_t *gt; /* device buffers: the tensor's device side */
    compcoll_status_t  local;  /* this rank's first failure */
} sc_call_t;

static void sc_fail(sc_call_t *c, compcoll_status_t status)
{
    if (c->local == COMPCOLL_OK) {
        c->local = status;
    }
}

/* Why a header cannot be followed with stand-ins (sizes this rank would
 * allocate for, a layout sc_pipe_run can walk), or NULL. */
static const char *sc_unfollowable(const compcoll_comm_t *cc,
                                   const sc_header_t *h)
{
    if (h->magic != SC_MAGIC || h->mode < SC_MODE_SPARSE ||
        h->mode > SC_MODE_ABORT || h->wire >= COMPCOLL_WIRE_TYPES) {
        return "the leader's header is not one";
    }
    if (h->mode == SC_MODE_ABORT) {
        return NULL;
    }
    if (h->n == 0 || h->n > INT_MAX || h->k == 0 || h->k > h->n) {
        return "the leader's header has sizes out of range";
    }
    if (h->mode == SC_MODE_SPARSE &&
        h->ibytes > COMPCOLL_ICODE_MAX * (uint64_t)h->k) {
        return "the leader's header announces too many index bytes";
    }
    if (h->pieces != 0 && (h->mode != SC_MODE_SPARSE ||
                           sc_pipe_check(cc, h, h->n, h->k) != NULL)) {
        return "the leader's header has a pipeline this rank cannot walk";
    }
    return NULL;
}

static void sc_blind(sc_call_t *c);

/*
 * COMPCOLL_MOMENTUM: what a call returns depends on the tensor's previous
 * sum S', which every rank must hold alike.  Each rank keeps a fingerprint
 * of the tensor's calls and sums since its state was zeroed (a failed call
 * zeroes it everywhere); a rank whose fingerprint differs from the
 * leader's has followed another history of buffers, and the call fails on
 * every rank, which zeroes the state everywhere again.  A stand-in (a rank
 * that cannot take its part, and fails the call anyway) is not compared.
 */
static compcoll_status_t sc_momentum_check(const sc_call_t *c)
{
    if (compcoll_cfg.momentum == 0.0 || c->t->stand_in ||
        c->h.mstate == COMPCOLL_SC_MSTATE_NONE ||
        c->h.mstate == c->t->mom_tag) {
        return COMPCOLL_OK;
    }
    compcoll_error("call %llu on communicator %llu: the leader's momentum "
                   "state (COMPCOLL_MOMENTUM) of this tensor of %zu elements "
                   "differs from this rank's (fingerprints %#llx and "
                   "%#llx); the call fails on every rank and the state "
                   "starts again (are all ranks making the same "
                   "MPI_Allreduce calls on the same tensors?)",
                   (unsigned long long)c->cc->ncalls,
                   (unsigned long long)c->cc->id, c->n,
                   (unsigned long long)c->h.mstate,
                   (unsigned long long)c->t->mom_tag);
    return COMPCOLL_ERR_PROTOCOL;
}

/*
 * The header from the leader (a leader of a sparse, unpipelined call codes
 * its indices first); the others check it.  Returns 0 when the call goes
 * on, 1 when it ends here: the leader aborted, or this rank cannot take its
 * part with its own buffers and has followed the leader with stand-ins
 * (sc_blind).  A header that did not arrive cannot be followed: the job
 * ends (compcoll_fail_job) rather than leave the others waiting.
 */
static int sc_header_step(sc_call_t *c)
{
    compcoll_comm_t  *cc = c->cc;
    compcoll_tcomm_t *tc = cc->tcomm;
    sc_header_t      *h  = &c->h;
    compcoll_status_t status;
    double            t0;

    if (cc->rank == c->leader && h->mode == SC_MODE_SPARSE &&
        h->pieces == 0) {
        compcoll_icode_t coding;

        t0        = compcoll_time();
        h->ibytes = compcoll_icode_encode(h->select == COMPCOLL_SELECT_CHUNK,
                                          c->idx, c->n, c->k, c->code,
                                          &coding);
        h->coding = (uint8_t)coding;
        compcoll_stats.time_host += compcoll_time() - t0;
    }
    t0     = compcoll_time();
    status = tc->ops->bcast(tc, h, sizeof(*h), c->leader);
    compcoll_stats.time_comm += compcoll_time() - t0;
    if (status != COMPCOLL_OK) {
        compcoll_fail_job(cc, "the leader's header did not arrive");
    }
    if (cc->rank != c->leader && c->local == COMPCOLL_OK) {
        sc_fail(c, sc_validate(cc, h, c->n, c->k));
        sc_fail(c, sc_momentum_check(c));
        sc_fail(c, compcoll_fault(cc, COMPCOLL_FAULT_VALIDATE));
        if (c->local == COMPCOLL_OK) {
            c->k = (size_t)h->k; /* room for it: c->cap */
        }
    }
    if (h->mode == SC_MODE_ABORT) {
        /* the leader could not take its part (compcoll_call_end says so) */
        sc_fail(c, COMPCOLL_ERR_PEER);
        return 1;
    }
    if (c->local != COMPCOLL_OK && cc->rank != c->leader) {
        sc_blind(c);
        return 1;
    }
    return 0;
}

/* A sparse, unpipelined call's coded indices from the leader; the others
 * decode and check them into idx.  A rank that cannot still makes the
 * step (and sends zeros after). */
static void sc_index_step(sc_call_t *c)
{
    compcoll_comm_t  *cc = c->cc;
    compcoll_tcomm_t *tc = cc->tcomm;
    compcoll_status_t status;
    double            t0;

    t0     = compcoll_time();
    status = tc->ops->bcast(tc, c->code, (size_t)c->h.ibytes, c->leader);
    compcoll_stats.time_comm += compcoll_time() - t0;
    compcoll_transport_check(cc, status, "broadcast of the indices");
    if (cc->rank == c->leader || c->local != COMPCOLL_OK) {
        return;
    }
    t0 = compcoll_time();
    sc_fail(c, sc_decode(cc, &c->h, c->code, c->n, c->k, c->idx));
    sc_fail(c, compcoll_fault(cc, COMPCOLL_FAULT_DECODE));
    compcoll_stats.time_host += compcoll_time() - t0;
}

/* The sum of count values in buf over the ranks, travelling as `wire`; a
 * transport failure is this rank's. */
static void sc_sum_step(sc_call_t *c, float *buf, size_t count,
                        compcoll_wire_t wire)
{
    compcoll_tcomm_t *tc = c->cc->tcomm;
    double            t0 = compcoll_time();

    compcoll_transport_check(c->cc, tc->ops->allreduce(tc, buf, count, wire),
                             "all-reduce");
    sc_fail(c, compcoll_fault(c->cc, COMPCOLL_FAULT_TRANSPORT));
    compcoll_stats.time_comm += compcoll_time() - t0;
}

enum {
    SC_PIPE_IDX,  /* waiting for the piece's indices from the left */
    SC_PIPE_SUM,  /* its values' all-reduce in flight */
    SC_PIPE_FWD,  /* summed and scattered; the forwarded indices in flight */
    SC_PIPE_DONE,
};

typedef struct {
    size_t           c0, c1;  /* its indices' and values' range of [0, k) */
    size_t           e0, e1;  /* the elements they lie in */
    size_t           boff;    /* its coded indices: code + boff, */
    size_t           bytes;   /* this many */
    uint32_t         chan;    /* the chain's channel; the sum's is chan + 1 */
    int              phase;
    int              bad;     /* its indices were rejected: zeros, no take */
    int              folded;  /* c->lazy: its elements folded */
    unsigned char   *scratch; /* the sum's (compcoll_tcoll_scratch) */
    compcoll_tcoll_t chain;   /* its indices, leader to leader - 1 */
    compcoll_tcoll_t sum;     /* its values */
} sc_piece_t;

/* A non-leader's piece, once its indices are in: decode and check them,
 * each within the piece's elements. */
static compcoll_status_t sc_pipe_decode(const compcoll_comm_t *cc,
                                        const sc_header_t *h, sc_piece_t *pc,
                                        size_t n, size_t k, uint32_t *idx,
                                        const uint8_t *code)
{
    const size_t count = pc->c1 - pc->c0;
    const char  *why   = NULL;
    size_t       j, at = 0;

    if (h->coding == COMPCOLL_ICODE_CHUNK) {
        for (j = pc->c0; j < pc->c1 && why == NULL; j++) {
            const size_t lo  = compcoll_chunk_lo(j, n, k);
            const size_t off = h->width == 1
                                   ? code[j]
                                   : (size_t)code[2 * j] |
                                         (size_t)code[2 * j + 1] << 8;

            if (off >= compcoll_chunk_lo(j + 1, n, k) - lo) {
                why = "an offset outside its chunk";
                at  = j - pc->c0;
            }
            idx[j] = (uint32_t)(lo + off);
        }
    } else if (h->coding == COMPCOLL_ICODE_EF) {
        why = compcoll_icode_ef_decode(code + pc->boff, pc->bytes, pc->e0,
                                       pc->e1 - pc->e0, count, idx + pc->c0,
                                       &at);
    } else if (count != 0) {
        why = compcoll_icode_decode(COMPCOLL_ICODE_GAP, code + pc->boff,
                                    pc->bytes, n, count, idx + pc->c0, &at);
        if (why == NULL && (idx[pc->c0] < pc->e0 || idx[pc->c1 - 1] >= pc->e1)) {
            why = "an index outside its piece's elements";
        }
    }
    if (why != NULL) {
        compcoll_error("leader's indices of call %llu on communicator %llu "
                       "are malformed at index %zu of piece [%zu, %zu) "
                       "(%s); refusing to apply them",
                       (unsigned long long)cc->ncalls,
                       (unsigned long long)cc->id, pc->c0 + at, pc->c0,
                       pc->c1, why);
        return COMPCOLL_ERR_PROTOCOL;
    }
    return COMPCOLL_OK;
}

/* Then take its values: from the folded memory, or from g on a rank
 * without memory, zeroing out over the piece's elements after. */
static void sc_pipe_take(compcoll_tensor_t *t, const sc_piece_t *pc,
                         const float *g, float *out, int folded,
                         const uint32_t *idx, float *vals)
{
    const size_t count = pc->c1 - pc->c0;
    size_t       j;

    if (folded) {
        compcoll_host_take(t->mem, idx + pc->c0, count, vals + pc->c0);
    } else {
        for (j = pc->c0; j < pc->c1; j++) {
            vals[j] = g[idx[j]];
        }
        memset(out + pc->e0, 0, (pc->e1 - pc->e0) * sizeof(float));
    }
}

/* A lazy rank's fold of a piece's elements (m <- m + g, out <- 0 there),
 * once; the caller counts its time. */
static void sc_pipe_fold(sc_call_t *c, sc_piece_t *pc)
{
    const int stream = compcoll_host_fold_streams(c->g, c->out, c->n);

    compcoll_host_fold_range(c->t->mem, c->g, c->out, pc->e0, pc->e1, stream);
    compcoll_host_stream_fence(stream);
    pc->folded = 1;
}

/*
 * The leader's piece of sample's plan: its elements folded and its exact
 * top quota taken (compcoll_host_sample_piece), coded as Elias-Fano.  A
 * piece that cannot be selected still goes, as the first elements of its
 * run with zeros (the call fails at its end), so that nobody waits for it.
 */
static void sc_pipe_select(sc_call_t *c, sc_piece_t *q)
{
    compcoll_select_scratch_t *scratch = compcoll_select_scratch();
    const uint64_t             fb      = scratch->sample_fallbacks;
    const size_t               count   = q->c1 - q->c0;
    compcoll_status_t          status;
    size_t                     j;

    status = compcoll_host_sample_piece(c->t->mem, c->g, c->out, c->n, q->e0,
                                        q->e1, count, c->thresh,
                                        c->idx + q->c0, c->vals + q->c0,
                                        scratch);
    compcoll_stats.select_fallbacks += scratch->sample_fallbacks - fb;
    if (status != COMPCOLL_OK) {
        compcoll_error("index selection of elements [%zu, %zu) failed: %s",
                       q->e0, q->e1, compcoll_status_string(status));
        sc_fail(c, status);
        for (j = 0; j < count; j++) {
            c->idx[q->c0 + j]  = (uint32_t)(q->e0 + j);
            c->vals[q->c0 + j] = 0.0f;
        }
    }
    compcoll_icode_ef_encode(c->idx + q->c0, count, q->e0, q->e1 - q->e0,
                             c->code + q->boff);
}

/* The leader's piece, its indices and values there, or another rank's, its
 * values taken: start the sum. */
static compcoll_status_t sc_pipe_sum(sc_call_t *c, sc_piece_t *pc)
{
    compcoll_tcomm_t *tc = c->cc->tcomm;

    pc->phase = SC_PIPE_SUM;
    return compcoll_tcoll_iallreduce(tc, c->vals + pc->c0, pc->c1 - pc->c0,
                                     (compcoll_wire_t)c->h.wire, pc->scratch,
                                     pc->chan + 1, &pc->sum);
}

/* One look at a piece: move it on as far as its messages allow; *moved
 * says whether it did.  A piece whose indices this rank rejects goes on
 * with zeros (the call fails at its end). */
static compcoll_status_t sc_pipe_advance(sc_call_t *c, sc_piece_t *pc,
                                         int *moved)
{
    compcoll_comm_t  *cc = c->cc;
    compcoll_tcomm_t *tc = cc->tcomm;
    const unsigned    chain0 = pc->chain.moves, sum0 = pc->sum.moves;
    compcoll_status_t status;
    int               chained, summed = 0;
    double            t0;

    status = compcoll_tcoll_test(tc, &pc->chain, &chained);
    if (status == COMPCOLL_OK && pc->phase == SC_PIPE_IDX &&
        pc->chain.ready) {
        t0      = compcoll_time();
        pc->bad = (c->local != COMPCOLL_OK);
        if (!pc->bad) {
            status = sc_pipe_decode(cc, &c->h, pc, c->n, c->k, c->idx,
                                    c->code);
            if (status == COMPCOLL_OK) {
                status = compcoll_fault(cc, COMPCOLL_FAULT_DECODE);
            }
            pc->bad = (status != COMPCOLL_OK);
            sc_fail(c, status);
        }
        if (c->lazy && !pc->folded) {
            sc_pipe_fold(c, pc); /* rejected or not: m holds a after */
        }
        if (pc->bad) {
            memset(c->vals + pc->c0, 0, (pc->c1 - pc->c0) * sizeof(float));
        } else {
            sc_pipe_take(c->t, pc, c->g, c->out, c->folded, c->idx, c->vals);
        }
        compcoll_stats.time_host += compcoll_time() - t0;
        status = sc_pipe_sum(c, pc);
        *moved = 1;
    }
    if (status == COMPCOLL_OK && pc->phase == SC_PIPE_SUM) {
        status = compcoll_tcoll_test(tc, &pc->sum, &summed);
    }
    if (status == COMPCOLL_OK && summed) {
        if (!pc->bad) {
            t0 = compcoll_time();
            compcoll_host_kernels.scatter(c->out, c->idx + pc->c0,
                                          c->vals + pc->c0, pc->c1 - pc->c0);
            compcoll_stats.time_host += compcoll_time() - t0;
        }
        pc->phase = SC_PIPE_FWD;
    }
    if (status == COMPCOLL_OK && pc->phase == SC_PIPE_FWD && chained) {
        pc->phase = SC_PIPE_DONE;
    }
    if (pc->chain.moves != chain0 || pc->sum.moves != sum0) {
        *moved = 1;
    }
    return status;
}

/* The bytes of a pipelined call's pieces and their sums' scratch
 * (sc_pipe_run) for k values on p ranks: at most ceil(count / p) floats a
 * piece for an fp32 wire, count 16-bit values for the others. */
static size_t sc_pipe_bytes(size_t k, int p)
{
    const size_t fp32 = (k / (size_t)p + SC_PIPE_PIECES) * sizeof(float);
    const size_t w16  = k * sizeof(uint16_t);

    return SC_PIPE_PIECES * sizeof(sc_piece_t) + (fp32 > w16 ? fp32 : w16);
}

/* The pieces' states and their sums' scratch of a call of k on p ranks,
 * reserved before the header when the call can be pipelined.  0, or -1
 * when the memory is not there. */
static int sc_pipe_reserve(compcoll_comm_t *cc, size_t n, size_t k)
{
    if (sc_pipe_pieces(cc, n, k) == 0) {
        return 0;
    }
    return compcoll_buf_reserve(&cc->pipe, sc_pipe_bytes(k, cc->size)) != NULL
               ? 0
               : -1;
}

/*
 * The sparse part of a pipelined call, after the header.  The leader starts
 * a piece once its indices and values are there (chunk and EF pieces:
 * selected one by one, looking at the pieces in flight in between; gap
 * pieces: all at once, the selection being done); the others receive,
 * forward, take, sum and scatter as the pieces come, a lazy one folding
 * each piece first, or the next one ahead while nothing moves.  A
 * transport failure stops it (the peers' pieces cannot move without this
 * rank's).
 */
static void sc_pipe_run(sc_call_t *c)
{
    compcoll_comm_t      *cc     = c->cc;
    const sc_header_t    *h      = &c->h;
    const size_t          n = c->n, k = c->k;
    const int             leader = c->leader;
    compcoll_tcomm_t     *tc     = cc->tcomm;
    const int             p = tc->size, r = tc->rank;
    const unsigned        np = h->pieces;
    const int             chunks = (h->coding == COMPCOLL_ICODE_CHUNK);
    const int             ahead  = chunks || h->coding == COMPCOLL_ICODE_EF;
    const compcoll_wire_t wire   = (compcoll_wire_t)h->wire;
    compcoll_status_t     status = COMPCOLL_OK;
    sc_piece_t           *pc     = c->pipe; /* sc_pipe_reserve */
    unsigned char        *scratch = (unsigned char *)(pc + SC_PIPE_PIECES);
    uint32_t              base;
    uint64_t              events = tc->events;
    unsigned              s, first = 0, next = 0, idle = 0, unfolded = 0;
    double                t0, t_loop = compcoll_time(), t_sel = 0.0, host0;
    size_t                c0 = 0, boff = 0, j;

    memset(pc, 0, np * sizeof(*pc));
    host0 = compcoll_stats.time_host;
    base  = tc->ops->channels(tc, 2 * np);
    for (s = 0; s < np; s++) {
        pc[s].c0      = c0;
        pc[s].c1      = c0 + h->pcount[s];
        pc[s].boff    = chunks ? c0 * h->width : boff;
        pc[s].bytes   = h->pbytes[s];
        pc[s].chan    = base + 2 * s;
        pc[s].scratch = scratch;
        scratch += compcoll_tcoll_scratch(p, h->pcount[s], wire);
        pc[s].phase = SC_PIPE_IDX;
        sc_pipe_range(h, s, pc[s].c0, pc[s].c1, n, k, &pc[s].e0, &pc[s].e1);
        c0 = pc[s].c1;
        boff += pc[s].bytes;
        if (r != leader && status == COMPCOLL_OK) {
            status = compcoll_tcoll_ichain(tc, c->code + pc[s].boff,
                                           pc[s].bytes, leader, pc[s].chan,
                                           &pc[s].chain);
        }
    }
    while (status == COMPCOLL_OK && first < np) {
        int moved = 0;

        if (r == leader && next < np) {
            sc_piece_t *q = &pc[next++];

            if (chunks) {
                t0 = compcoll_time();
                compcoll_host_chunk_fold(c->t->mem, c->g, c->out, n, k, q->c0,
                                         q->c1, c->idx, c->vals);
                for (j = q->c0; j < q->c1; j++) {
                    const size_t off = c->idx[j] - compcoll_chunk_lo(j, n, k);

                    c->code[j * h->width] = (uint8_t)off;
                    if (h->width == 2) {
                        c->code[j * h->width + 1] = (uint8_t)(off >> 8);
                    }
                }
                t_sel += compcoll_time() - t0;
            } else if (ahead) {
                t0 = compcoll_time();
                sc_pipe_select(c, q);
                t_sel += compcoll_time() - t0;
            }
            status = compcoll_tcoll_ichain(tc, c->code + q->boff, q->bytes,
                                           leader, q->chan, &q->chain);
            if (status == COMPCOLL_OK) {
                status = sc_pipe_sum(c, q);
            }
            moved = 1;
            if (!ahead && next < np) {
                continue; /* start every gap piece before waiting */
            }
        }
        for (s = first; s < np && status == COMPCOLL_OK; s++) {
            if (r == leader && s >= next) {
                break; /* not started yet */
            }
            status = sc_pipe_advance(c, &pc[s], &moved);
        }
        while (first < np && pc[first].phase == SC_PIPE_DONE) {
            first++;
        }
        if (c->lazy && !moved && status == COMPCOLL_OK) {
            /* nothing came: fold the next piece before its indices do */
            while (unfolded < np && pc[unfolded].folded) {
                unfolded++;
            }
            if (unfolded < np && pc[unfolded].phase == SC_PIPE_IDX) {
                t0 = compcoll_time();
                sc_pipe_fold(c, &pc[unfolded]);
                compcoll_stats.time_host += compcoll_time() - t0;
                moved = 1;
            }
        }
        compcoll_tcoll_pace(tc, moved, &events, &idle);
    }
    compcoll_transport_check(cc, status, "pipelined exchange");
    sc_fail(c, compcoll_fault(cc, COMPCOLL_FAULT_TRANSPORT));
    compcoll_stats.time_select += t_sel;
    compcoll_stats.time_comm += compcoll_time() - t_loop - t_sel -
                                (compcoll_stats.time_host - host0);
}

/*
 * A rank that cannot take its part with its own buffers (they could not be
 * had, the header was rejected): the call as the leader's header lays it
 * out, with zeros in and the results dropped, in stand-in buffers of its
 * own, so that no rank waits for it.  Its failure is already in c->local.
 */
static void sc_blind(sc_call_t *c)
{
    const sc_header_t *h   = &c->h;
    const char        *why = sc_unfollowable(c->cc, h);
    compcoll_tensor_t  stand_in;
    sc_call_t          b   = *c;
    size_t             n, k;
    float             *zeros;

    if (why != NULL) {
        compcoll_fail_job(c->cc, why);
    }
    n = (size_t)h->n;
    k = (size_t)h->k;
    memset(&stand_in, 0, sizeof(stand_in));
    stand_in.count = n;
    zeros  = calloc(n, sizeof(float));
    b.idx  = calloc(k, sizeof(uint32_t));
    b.code = calloc(COMPCOLL_ICODE_MAX * k, 1);
    b.vals = calloc(k, sizeof(float));
    b.pipe = h->pieces != 0 ? calloc(1, sc_pipe_bytes(k, c->cc->size)) : NULL;
    if (zeros == NULL || b.idx == NULL || b.code == NULL || b.vals == NULL ||
        (h->pieces != 0 && b.pipe == NULL)) {
        compcoll_fail_job(c->cc, "no memory for stand-in buffers");
    }
    b.t      = &stand_in;
    b.g      = zeros;
    b.out    = zeros;
    b.n      = n;
    b.k      = k;
    b.folded = 0;
    b.local  = COMPCOLL_ERR_PROTOCOL; /* nothing of it is applied */
    if (h->mode == SC_MODE_DENSE) {
        sc_sum_step(&b, zeros, n, COMPCOLL_WIRE_FP32);
    } else if (h->pieces != 0) {
        sc_pipe_run(&b);
    } else {
        sc_index_step(&b);
        sc_sum_step(&b, b.vals, k, (compcoll_wire_t)h->wire);
    }
    free(b.pipe);
    free(b.vals);
    free(b.code);
    free(b.idx);
    free(zeros);
}

/*
 * The leader's header and, for a sparse call, its selection (fused with
 * the fold when `fold`): chunk pieces start with the header and select as
 * they go (sc_pipe_run); sample's pieces start with the header too, laid
 * out from its plan, and select as they go; gap pieces are laid out from
 * the selection.  A leader that cannot take its part says so in the header
 * (SC_MODE_ABORT).
 */
static void sc_lead(sc_call_t *c)
{
    const int      fold = c->fold;
    const unsigned pipe = c->pieces;
    const compcoll_config_t     *cfg = &compcoll_cfg;
    const compcoll_kernel_ops_t *ker = compcoll_kernels();
    /* sample's pieces: planned first, selected as they go */
    const int planned =
        fold && pipe != 0 && cfg->select == COMPCOLL_SELECT_SAMPLE;
    compcoll_tensor_t           *t   = c->t;
    sc_header_t                 *h   = &c->h;
    uint32_t                     quota[SC_PIPE_PIECES];
    compcoll_status_t            status;
    double                       t0;

    sc_header_fill(c->cc, t, t->mem != NULL, h, c->n, c->k);
    if (c->local != COMPCOLL_OK) {
        h->mode = SC_MODE_ABORT; /* the others fail with us */
        return;
    }
    if (h->mode != SC_MODE_SPARSE) {
        return;
    }
    if (fold && pipe != 0 && cfg->select == COMPCOLL_SELECT_CHUNK) {
        /* the header goes now; the selection follows piece by piece,
         * folding as it goes (sc_pipe_run) */
        h->pieces = pipe;
        c->folded = 1;
        sc_pipe_chunk_layout(h, c->n, c->k);
        return;
    }
    t0     = compcoll_time();
    status = compcoll_fault(c->cc, COMPCOLL_FAULT_KERNEL);
    if (status == COMPCOLL_OK) {
        compcoll_select_scratch_t *scratch = compcoll_select_scratch();
        const uint64_t             fb      = scratch->sample_fallbacks;

        if (planned) {
            /* the plan's quotas go in the header; each piece is selected,
             * folding as it goes, while those before it travel
             * (sc_pipe_run) */
            status = compcoll_host_sample_plan(t->mem, c->g, c->n, c->k, pipe,
                                               quota, &c->thresh, scratch);
        } else if (fold) {
            status = ker->fold_select(cfg->select, t->mem, c->g, c->out, c->n,
                                      c->k, c->idx, c->vals, scratch);
        } else {
            status = ker->select(cfg->select, t->mem, c->g, c->n, c->k, c->idx,
                                 scratch);
        }
        compcoll_stats.select_fallbacks += scratch->sample_fallbacks - fb;
        /* planned: the pieces fold as they go (sc_pipe_run); else m holds
         * a now, whether the selection failed or not */
        c->folded = planned ? status == COMPCOLL_OK : fold;
    }
    compcoll_stats.time_select += compcoll_time() - t0;
    if (status != COMPCOLL_OK) {
        compcoll_error("index selection failed: %s",
                       compcoll_status_string(status));
        sc_fail(c, status);
        h->mode = SC_MODE_ABORT;
    } else if (fold && pipe != 0) {
        t0        = compcoll_time();
        h->pieces = pipe;
        if (planned) {
            sc_pipe_ef_layout(h, c->n, c->k, quota);
        } else {
            sc_pipe_gap_layout(h, c->idx, c->n, c->k, c->code);
        }
        compcoll_stats.time_host += compcoll_time() - t0;
    }
}

/* A dense call: out = a (from the folded memory, or m + g), the memory
 * kept as the method says, and out summed in fp32. */
static void sc_dense(sc_call_t *c)
{
    compcoll_tensor_t *t = c->t;
    double             t0 = compcoll_time();

    if (c->folded) {
        /* dense with beta = 1 from the folded memory: out = a, m = 0 */
        memcpy(c->out, t->mem, c->n * sizeof(float));
        memset(t->mem, 0, c->n * sizeof(float));
    } else {
        compcoll_kernels()->dense(t->mem, c->g, c->out, c->n,
                                  (float)compcoll_cfg.beta);
    }
    compcoll_stats.time_host += compcoll_time() - t0;
    sc_sum_step(c, c->out, c->n, COMPCOLL_WIRE_FP32);
    compcoll_stats.calls_dense++;
    compcoll_stats.elements_sent += c->n;
}

/* A sparse call on a rank without error-feedback memory for the tensor
 * (mem, of the path that runs): said once, counted. */
static void sc_no_memory(const sc_call_t *c, const float *mem)
{
    if (mem == NULL) {
        compcoll_warn_once("a tensor of %zu elements has no error-feedback "
                           "memory on this rank (COMPCOLL_MAX_MEMORY): "
                           "what it does not send is discarded", c->n);
        compcoll_stats.calls_no_memory++;
    }
}

/* A sparse call after the header: pipelined, or the indices, this rank's
 * values at them, their sum and its scatter into out. */
static void sc_sparse(sc_call_t *c)
{
    const compcoll_kernel_ops_t *ker = compcoll_kernels();
    compcoll_tensor_t           *t   = c->t;
    double                       t0;

    sc_no_memory(c, t->mem);
    if (c->h.pieces != 0) {
        /* a rank that has not folded (the header came first, or its
         * tensor was still warming up when the leader's was not) folds
         * piece by piece (beta is 1 here) */
        c->lazy   = (!c->folded && t->mem != NULL);
        c->folded = (t->mem != NULL);
        sc_pipe_run(c);
        compcoll_stats.calls_pipelined++;
        return;
    }
    sc_index_step(c);
    t0 = compcoll_time();
    if (c->local != COMPCOLL_OK) {
        memset(c->vals, 0, c->k * sizeof(float)); /* nothing of ours */
    } else if (!c->folded) {
        ker->compress(t->mem, c->g, c->out, c->n, c->idx, c->k,
                      (float)compcoll_cfg.beta, c->vals);
    } else if (c->cc->rank != c->leader) { /* the leader took in fold_select */
        ker->take(t->mem, c->idx, c->k, c->vals);
    }
    compcoll_stats.time_host += compcoll_time() - t0;
    sc_sum_step(c, c->vals, c->k, (compcoll_wire_t)compcoll_cfg.wire);
    if (c->local == COMPCOLL_OK) {
        t0 = compcoll_time();
        ker->scatter(c->out, c->idx, c->vals, c->k);
        compcoll_stats.time_host += compcoll_time() - t0;
    }
}

/*
 * Host buffers: the call's buffers (a rank without them goes on with
 * stand-ins and fails the call), whether the leader pipelines it, and, with
 * beta = 1, the pass over n that needs no indices (compcoll_kernels.h:
 * fold, take): every rank but the leader makes it before the header
 * arrives, the leader fused with its selection and take (fold_select), so
 * the others' pass runs while the leader selects; in a call whose header
 * comes first (pipelined, chunk or sample) they make it piece by piece in
 * sc_pipe_run instead.  Whether the call will be sparse is the leader's to
 * say; a rank that folded for a call that turns out dense moves a from m
 * to out instead.
 */
static int sc_host_prepare(sc_call_t *c)
{
    const compcoll_config_t     *cfg = &compcoll_cfg;
    const compcoll_kernel_ops_t *ker = compcoll_kernels();
    compcoll_comm_t             *cc  = c->cc;
    compcoll_tensor_t           *t   = c->t;
    double                       t0;

    c->idx  = compcoll_buf_reserve(&cc->msg, c->cap * sizeof(uint32_t));
    c->code = compcoll_buf_reserve(&cc->icode, COMPCOLL_ICODE_MAX * c->cap);
    c->vals = compcoll_buf_reserve(&cc->vals, c->cap * sizeof(float));
    if (c->idx == NULL || c->code == NULL || c->vals == NULL ||
        sc_pipe_reserve(cc, c->n, c->cap) != 0) {
        compcoll_error("no memory for the buffers of a call of %zu elements",
                       c->n);
        sc_fail(c, COMPCOLL_ERR_NO_MEMORY);
    }
    sc_fail(c, compcoll_fault(cc, COMPCOLL_FAULT_ALLOC));
    c->pipe = cc->pipe.ptr;
    c->fold = (cfg->beta == 1.0 && t->mem != NULL && ker->fold != NULL &&
               t->calls >= cfg->warmup && !t->dense_next);
    /* a leader staging device buffers does not pipeline: the device ranks
     * could not follow */
    c->pieces = !compcoll_staging() ? sc_pipe_pieces(cc, c->n, c->k) : 0;
    if (c->fold && cc->rank != c->leader && c->local == COMPCOLL_OK &&
        !(c->pieces != 0 && (cfg->select == COMPCOLL_SELECT_CHUNK ||
                             cfg->select == COMPCOLL_SELECT_SAMPLE))) {
        t0 = compcoll_time();
        ker->fold(t->mem, c->g, c->out, c->n);
        c->folded = 1;
        compcoll_stats.time_host += compcoll_time() - t0;
    }
    return 0;
}

/* A device step of this rank that failed: said once, the call fails. */
static void sc_gpu_fail(sc_call_t *c, compcoll_status_t st, const char *what)
{
    if (st == COMPCOLL_OK) {
        return;
    }
    compcoll_error("device work of call %llu on communicator %llu failed on "
                   "this rank (%s: %s); it takes its part with zeros and "
                   "fails the call", (unsigned long long)c->cc->ncalls,
                   (unsigned long long)c->cc->id, what,
                   compcoll_status_string(st));
    sc_fail(c, st);
}

/* The status of the first of a, b that failed. */
static compcoll_status_t sc_first(compcoll_status_t a, compcoll_status_t b)
{
    return a != COMPCOLL_OK ? a : b;
}

/*
 * The leader on the device: its header and, for a sparse call, its
 * selection on the tensor's stream (chunk: selection and compression in one
 * pass), the indices to host memory and checked before anything touches m
 * or out; the compression then runs during the broadcast.
 */
static void sc_gpu_lead(sc_call_t *c)
{
    compcoll_gpu_tensor_t       *gt   = c->gt;
    const compcoll_config_t     *cfg  = &compcoll_cfg;
    const compcoll_gpu_module_t *gpu  = compcoll_gpu_module();
    compcoll_gpu_stream_t       *s    = gt->stream;
    const float                  beta = (float)cfg->beta;
    const int                    fused = (cfg->select == COMPCOLL_SELECT_CHUNK);
    compcoll_status_t            st;
    double                       t0;

    sc_header_fill(c->cc, c->t, gt->mem != NULL, &c->h, c->n, c->k);
    if (c->local != COMPCOLL_OK) {
        c->h.mode = SC_MODE_ABORT; /* the others fail with us */
        return;
    }
    if (c->h.mode != SC_MODE_SPARSE) {
        return;
    }
    t0 = compcoll_time();
    st = compcoll_fault(c->cc, COMPCOLL_FAULT_KERNEL);
    if (st == COMPCOLL_OK) {
        const uint64_t fb = gpu->sample_fallbacks(s);

        st = fused ? gpu->chunk_compress(s, gt->mem, c->g, c->out, c->n, c->k,
                                         beta, gt->idx, gt->vals)
                   : gpu->select(s, (compcoll_select_t)cfg->select, gt->mem,
                                 c->g, c->n, c->k, gt->idx);
        compcoll_stats.select_fallbacks += gpu->sample_fallbacks(s) - fb;
    }
    if (st == COMPCOLL_OK) {
        st = gpu->copy(s, c->idx, gt->idx, c->k * sizeof(uint32_t));
    }
    if (st == COMPCOLL_OK) {
        st = gpu->mark(s);
    }
    if (st == COMPCOLL_OK) {
        st = gpu->mark_wait(s);
    }
    if (st == COMPCOLL_OK && !fused) {
        /* queued after the check: runs during the broadcast */
        st = gpu->compress(s, gt->mem, c->g, c->out, c->n, gt->idx, c->k,
                           beta, gt->vals);
    }
    if (st == COMPCOLL_OK) {
        st = gpu->copy(s, c->vals, gt->vals, c->k * sizeof(float));
    }
    compcoll_stats.time_select += compcoll_time() - t0;
    if (st != COMPCOLL_OK) {
        compcoll_error("device index selection failed: %s",
                       compcoll_status_string(st));
        gpu->stream_sync(s);
        sc_fail(c, st);
        c->h.mode = SC_MODE_ABORT;
    }
}

/* A dense call on the device: out = a there, through a host buffer for the
 * sum, and back. */
static void sc_gpu_dense(sc_call_t *c)
{
    compcoll_gpu_tensor_t       *gt    = c->gt;
    const compcoll_gpu_module_t *gpu   = compcoll_gpu_module();
    compcoll_gpu_stream_t       *s     = gt->stream;
    const size_t                 bytes = c->n * sizeof(float);
    float                       *bulk, *spare = NULL;
    compcoll_status_t            st;
    double                       t0;

    bulk = compcoll_gpu_stage(gt, COMPCOLL_STAGE_BULK, bytes);
    if (bulk == NULL) {
        /* the exchange goes on, with zeros from this rank */
        sc_fail(c, COMPCOLL_ERR_NO_MEMORY);
        bulk = spare = calloc(c->n, sizeof(float));
        if (spare == NULL) {
            compcoll_fail_job(c->cc, "no memory for a stand-in gradient");
        }
    } else {
        t0 = compcoll_time();
        st = gpu->dense(s, gt->mem, c->g, c->out, c->n,
                        (float)compcoll_cfg.beta);
        if (st == COMPCOLL_OK) {
            st = gpu->copy(s, bulk, c->out, bytes);
        }
        st = sc_first(st, gpu->stream_sync(s));
        if (st != COMPCOLL_OK) {
            memset(bulk, 0, bytes);
        }
        sc_gpu_fail(c, st, "dense pass");
        compcoll_stats.time_host += compcoll_time() - t0;
    }
    sc_sum_step(c, bulk, c->n, COMPCOLL_WIRE_FP32);
    if (c->local == COMPCOLL_OK) {
        t0 = compcoll_time();
        st = gpu->copy(s, c->out, bulk, bytes);
        sc_gpu_fail(c, sc_first(st, gpu->stream_sync(s)), "the sum back");
        compcoll_stats.time_host += compcoll_time() - t0;
    }
    free(spare);
    compcoll_stats.calls_dense++;
    compcoll_stats.elements_sent += c->n;
}

/* A sparse call on the device after the header: the others compress at
 * the leader's indices, the k values are summed in host memory and
 * scattered into out on the device. */
static void sc_gpu_sparse(sc_call_t *c)
{
    compcoll_gpu_tensor_t       *gt  = c->gt;
    const compcoll_gpu_module_t *gpu = compcoll_gpu_module();
    compcoll_gpu_stream_t       *s   = gt->stream;
    const size_t                 k   = c->k;
    compcoll_status_t            st  = COMPCOLL_OK;
    double                       t0;

    sc_no_memory(c, gt->mem);
    sc_index_step(c);
    t0 = compcoll_time();
    if (c->cc->rank != c->leader && c->local == COMPCOLL_OK) {
        st = gpu->copy(s, gt->idx, c->idx, k * sizeof(uint32_t));
        if (st == COMPCOLL_OK) {
            st = gpu->compress(s, gt->mem, c->g, c->out, c->n, gt->idx, k,
                               (float)compcoll_cfg.beta, gt->vals);
        }
        if (st == COMPCOLL_OK) {
            st = gpu->copy(s, c->vals, gt->vals, k * sizeof(float));
        }
    }
    /* the leader's queued compression too */
    sc_gpu_fail(c, sc_first(st, gpu->stream_sync(s)), "compression");
    if (c->local != COMPCOLL_OK) {
        memset(c->vals, 0, k * sizeof(float));
    }
    compcoll_stats.time_host += compcoll_time() - t0;
    sc_sum_step(c, c->vals, k, (compcoll_wire_t)compcoll_cfg.wire);
    if (c->local == COMPCOLL_OK) {
        t0 = compcoll_time();
        st = gpu->copy(s, gt->vals, c->vals, k * sizeof(float));
        if (st == COMPCOLL_OK) {
            st = gpu->scatter(s, c->out, gt->idx, gt->vals, k);
        }
        sc_gpu_fail(c, sc_first(st, gpu->stream_sync(s)), "scatter");
        compcoll_stats.time_host += compcoll_time() - t0;
    }
}

/*
 * Device buffers (compcoll_memtype.h): the passes run on the tensor's
 * stream, and only the header and indices (the leader's) and the k values
 * cross to pinned host memory for the transport.  A rank whose device work
 * fails still takes its part in the exchange (with zeros) and then fails
 * the call, so no rank waits forever; a leader whose selection fails
 * broadcasts SC_MODE_ABORT.  When the staging buffers cannot be had
 * (before anything is exchanged), -1: the call goes through host memory
 * instead (compcoll_allreduce_staged), which makes the same steps.
 */
static int sc_device_prepare(sc_call_t *c)
{
    c->idx  = compcoll_gpu_stage(c->gt, COMPCOLL_STAGE_MSG,
                                 c->cap * sizeof(uint32_t));
    c->code = compcoll_buf_reserve(&c->cc->icode,
                                   COMPCOLL_ICODE_MAX * c->cap);
    c->vals = compcoll_gpu_stage(c->gt, COMPCOLL_STAGE_VALS,
                                 c->cap * sizeof(float));
    if (c->idx == NULL || c->code == NULL || c->vals == NULL ||
        sc_pipe_reserve(c->cc, c->n, c->cap) != 0 ||
        compcoll_gpu_tensor_reserve(c->gt, c->cap) != COMPCOLL_OK ||
        compcoll_fault(c->cc, COMPCOLL_FAULT_ALLOC) != COMPCOLL_OK) {
        return -1;
    }
    c->pipe = c->cc->pipe.ptr;
    return 0;
}

/* The leader's queued device work, when the call ends at its header. */
static void sc_device_abandon(sc_call_t *c)
{
    compcoll_gpu_module()->stream_sync(c->gt->stream);
}

/* Where a call's buffers live: the steps that differ (prepare returns -1
 * when the call must go another way before anything was exchanged). */
typedef struct {
    int  (*prepare)(sc_call_t *c);
    void (*lead)(sc_call_t *c);
    void (*dense)(sc_call_t *c);
    void (*sparse)(sc_call_t *c);
    void (*abandon)(sc_call_t *c);
} sc_place_t;

static const sc_place_t sc_host_place = {
    .prepare = sc_host_prepare,
    .lead    = sc_lead,
    .dense   = sc_dense,
    .sparse  = sc_sparse,
    .abandon = NULL,
};

static const sc_place_t sc_device_place = {
    .prepare = sc_device_prepare,
    .lead    = sc_gpu_lead,
    .dense   = sc_gpu_dense,
    .sparse  = sc_gpu_sparse,
    .abandon = sc_device_abandon,
};

/*
 * One call, wherever its buffers live (gt: the tensor's device side when
 * they are device memory, else NULL): the leader's header (and selection),
 * the others' check of it, then a dense or sparse exchange.
 */
static compcoll_status_t sc_call(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                 compcoll_gpu_tensor_t *gt, const float *g,
                                 float *out, size_t n, compcoll_status_t why)
{
    const sc_place_t *at    = gt != NULL ? &sc_device_place : &sc_host_place;
    const uint64_t    sent0 = cc->tcomm->bytes_sent;
    sc_call_t         c;

    memset(&c, 0, sizeof(c));
    c.cc     = cc;
    c.t      = t;
    c.gt     = gt;
    c.g      = g;
    c.out    = out;
    c.n      = n;
    c.k      = compcoll_tensor_k(t, n);
    c.cap    = compcoll_k_max(n);
    c.leader = (int)(cc->ncalls % (uint64_t)cc->size);
    c.local  = why; /* not OK: takes its part with stand-ins, fails */
    if (at->prepare(&c) != 0) {
        return compcoll_allreduce_staged(cc, t, g, out, n);
    }
    if (cc->rank == c.leader) {
        at->lead(&c);
    }
    t->sparse_last = 0;
    if (sc_header_step(&c)) {
        if (at->abandon != NULL) {
            at->abandon(&c);
        }
        return c.local;
    }
    t->sparse_last = (c.h.mode == SC_MODE_SPARSE);
    t->k_last      = c.k;
    compcoll_trace("allreduce count=%zu comm=%llu call=%llu: scalecom %s "
                   "k=%zu leader=%d pieces=%u (%u empty), on %s %d", n,
                   (unsigned long long)cc->id, (unsigned long long)cc->ncalls,
                   c.h.mode == SC_MODE_SPARSE ? "sparse" : "dense", c.k,
                   c.leader, c.h.pieces, sc_pipe_empty(&c.h),
                   gt != NULL ? "device" : "the host, rank",
                   gt != NULL ? gt->where.device : cc->rank);
    compcoll_count_call(cc, t, n);
    if (gt != NULL && c.h.pieces != 0) {
        /* the leader's buffers are in host memory, this rank's on a device:
         * it takes its part with zeros, so that nobody waits for it, and
         * fails the call */
        compcoll_error("call %llu on communicator %llu: the leader pipelines "
                       "from host memory, which a rank with device buffers "
                       "cannot follow; this rank takes part with zeros and "
                       "fails the call (keep every rank's buffers in the "
                       "same kind of memory)",
                       (unsigned long long)cc->ncalls,
                       (unsigned long long)cc->id);
        sc_fail(&c, COMPCOLL_ERR_NOT_SUPPORTED);
        sc_blind(&c);
    } else if (c.h.mode == SC_MODE_DENSE) {
        at->dense(&c);
    } else {
        at->sparse(&c);
        compcoll_stats.calls_compressed++;
        compcoll_stats.elements_sent += c.k;
    }
    compcoll_stats.bytes_sent += cc->tcomm->bytes_sent - sent0;
    return c.local;
}

/*
 * Momentum correction (COMPCOLL_MOMENTUM = mu; libcompcoll(7), Momentum
 * correction), DGC's, made transparent to an optimizer that applies
 * momentum mu itself.  This rank's velocity u <- mu u + g is what the call
 * compresses (the error-feedback memory accumulates velocities); the
 * elements a sparse call sent, as those whose sum is not 0, have their
 * velocity cleared (DGC's momentum factor masking); the call returns
 * S - mu S', S its sum and S' the tensor's previous one, so that the
 * optimizer's buffer b <- mu b + out holds S and its step applies S once.
 * A dense call (warm-up, after a NaN or infinity) keeps the velocity: its
 * sum is the dense velocity, and the step is plain SGD with momentum.  A
 * NaN or infinity reaches the output of the call that sends it and is kept
 * in neither u nor S'.
 *
 * S' is kept as its nonzero elements (a sparse call's k), so that after
 * the call only a scan of out for them is a pass over n: the velocity's
 * update before it is the one other.
 */

/* The next fingerprint of a momentum state after a call whose sum has
 * the nnz nonzero elements idx, val (the same bits on every rank). */
static uint64_t sc_momentum_tag(uint64_t tag, const uint32_t *idx,
                                const float *val, size_t nnz)
{
    const uint64_t prime = 0x100000001b3ull;
    uint64_t       h     = (tag ^ nnz) * prime;
    uint32_t       bits;
    size_t         i;

    for (i = 0; i < nnz; i++) {
        memcpy(&bits, &val[i], sizeof(bits));
        h = (h ^ idx[i]) * prime;
        h = (h ^ bits) * prime;
    }
    h ^= h >> 31; /* tag 0 is a zeroed state's only */
    return h != 0 ? h : 1;
}

/* Out's nonzero elements (finite ones as themselves, others as 0) into
 * idx and val; their count.  A block of 16 zeros costs one test. */
static size_t sc_momentum_nonzeros(const float *out, size_t n, uint32_t *idx,
                                   float *val)
{
    const uint32_t *bits = (const uint32_t *)(const void *)out;
    size_t          i = 0, nnz = 0, j;

    for (; i + 16 <= n; i += 16) {
        uint32_t any = 0;

        for (j = 0; j < 16; j++) {
            any |= bits[i + j] << 1; /* -0 is 0 */
        }
        if (any == 0) {
            continue;
        }
        for (j = i; j < i + 16; j++) {
            if (out[j] != 0.0f) {
                idx[nnz]   = (uint32_t)j;
                val[nnz++] = isfinite(out[j]) ? out[j] : 0.0f;
            }
        }
    }
    for (; i < n; i++) {
        if (out[i] != 0.0f) {
            idx[nnz]   = (uint32_t)i;
            val[nnz++] = isfinite(out[i]) ? out[i] : 0.0f;
        }
    }
    return nnz;
}

static compcoll_status_t sc_momentum_call(compcoll_comm_t *cc,
                                          compcoll_tensor_t *t,
                                          const float *g, float *out,
                                          size_t n)
{
    const float       mu = (float)compcoll_cfg.momentum;
    compcoll_status_t status;
    float            *u, *pval, *nval;
    uint32_t         *pidx, *nidx;
    double            t0;
    size_t            i, nnz;
    int               nonfinite = 0;

    status = compcoll_tensor_momentum(t);
    if (status != COMPCOLL_OK) {
        compcoll_error("no memory for the momentum state (COMPCOLL_MOMENTUM) "
                       "of a tensor of %zu elements, %zu bytes (%zu held, "
                       "COMPCOLL_MAX_MEMORY=%zu): this rank takes part with "
                       "zeros and the call fails, as will the tensor's next "
                       "ones until it fits",
                       n, COMPCOLL_MOM_WORDS * n * sizeof(float),
                       compcoll_registry_memory(), compcoll_cfg.max_memory);
        return sc_call(cc, t, NULL, g, out, n, status);
    }
    if (compcoll_buf_reserve(&cc->mom, n * (sizeof(uint32_t) +
                                            sizeof(float))) == NULL) {
        compcoll_error("no memory for the momentum correction's scratch "
                       "(COMPCOLL_MOMENTUM) of a tensor of %zu elements, "
                       "%zu bytes: this rank takes part with zeros and the "
                       "call fails", n,
                       n * (sizeof(uint32_t) + sizeof(float)));
        return sc_call(cc, t, NULL, g, out, n, COMPCOLL_ERR_NO_MEMORY);
    }
    u    = t->mom;
    pval = t->mom + n;
    pidx = (uint32_t *)(void *)(t->mom + 2 * n);
    nidx = cc->mom.ptr;
    nval = (float *)(void *)(nidx + n);
    t0   = compcoll_time();
    for (i = 0; i < n; i++) {
        const float v = mu * u[i] + g[i];

        u[i] = v;
        nonfinite |= !(fabsf(v) <= FLT_MAX);
    }
    compcoll_stats.time_host += compcoll_time() - t0;
    status = sc_call(cc, t, NULL, u, out, n, COMPCOLL_OK);
    if (status != COMPCOLL_OK) {
        return status; /* compcoll_call_end zeroes the state on every rank */
    }
    t0  = compcoll_time();
    nnz = sc_momentum_nonzeros(out, n, nidx, nval); /* S */
    for (i = 0; i < t->mom_nnz; i++) {
        out[pidx[i]] -= mu * pval[i]; /* S - mu S' */
    }
    memcpy(pidx, nidx, nnz * sizeof(uint32_t));
    memcpy(pval, nval, nnz * sizeof(float));
    t->mom_nnz = nnz;
    if (t->sparse_last) {
        for (i = 0; i < nnz; i++) {
            u[nidx[i]] = 0.0f; /* sent */
        }
    }
    if (nonfinite) {
        for (i = 0; i < n; i++) {
            u[i] = isfinite(u[i]) ? u[i] : 0.0f;
        }
    }
    t->mom_tag = sc_momentum_tag(t->mom_tag, nidx, nval, nnz);
    compcoll_stats.time_host += compcoll_time() - t0;
    return COMPCOLL_OK;
}

static compcoll_status_t sc_allreduce(compcoll_comm_t *cc, compcoll_tensor_t *t,
                                      const float *g, float *out, size_t n)
{
    if (compcoll_cfg.momentum != 0.0 && !t->stand_in) {
        /* a stand-in's call fails: its zeros go as they are, and its
         * header carries no momentum state (sc_momentum_check) */
        return sc_momentum_call(cc, t, g, out, n);
    }
    return sc_call(cc, t, NULL, g, out, n, COMPCOLL_OK);
}

static compcoll_status_t sc_allreduce_gpu(compcoll_comm_t *cc,
                                          compcoll_tensor_t *t,
                                          compcoll_gpu_tensor_t *gt,
                                          const float *g, float *out, size_t n)
{
    /* never with COMPCOLL_MOMENTUM: cc_call takes those calls to the host
     * path, where sc_momentum_call makes the correction */
    return sc_call(cc, t, gt, g, out, n, COMPCOLL_OK);
}

compcoll_status_t compcoll_sc_header_check(const compcoll_comm_t *cc,
                                           const compcoll_sc_header_t *h,
                                           size_t n, size_t k,
                                           int *followable)
{
    *followable = (sc_unfollowable(cc, h) == NULL);
    return sc_validate(cc, h, n, k);
}

unsigned compcoll_sc_pieces(const compcoll_comm_t *cc, size_t n, size_t k)
{
    return sc_pipe_pieces(cc, n, k);
}

const compcoll_method_t compcoll_method_scalecom = {
    .id            = COMPCOLL_METHOD_SCALECOM,
    .name          = "scalecom",
    .description   = "cyclic local top-k with low-pass error feedback",
    .allreduce     = sc_allreduce,
    .allreduce_gpu = sc_allreduce_gpu,
};
