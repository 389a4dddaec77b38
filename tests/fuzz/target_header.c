/*
 * Fuzz target: the checks a non-leader makes of ScaleCom's header
 * (compcoll_sc_header_check, compcoll_scalecom.h) before it touches its
 * memory, and the test of whether it could follow the call with stand-ins
 * when it refuses it (libcompcoll/core/fail.c's rule).
 *
 * Input: this rank's side (n: 4 bytes little-endian, ratio: 2 bytes, the
 * call number: 1 byte, communicator size 2..9 and, in bit 3, whether
 * COMPCOLL_RAMP is on: 1 byte), then the header's
 * bytes as they arrive (a short input is padded with zeros, as a receive
 * buffer of the header's size holds them).  Valid inputs are the headers a
 * leader with the same settings sends: sparse (one run of gap-coded
 * indices, or pipelined pieces, gap- or Elias-Fano-coded, none holding
 * more indices than its elements), dense, abort.  What must hold:
 *   - an accepted header can be followed;
 *   - an accepted header describes this rank's call (sizes, call number,
 *     wire type and selection as this rank's; during a ramp, the leader's
 *     k anywhere in the ramp's range), self-consistently (pieces
 *     adding up to k and to the bytes, none with more indices than
 *     elements, Elias-Fano pieces in the bytes their counts fix);
 *   - a header judged followable has sizes a rank can make stand-ins for.
 */
#include <stdio.h>
#include <string.h>

#include "compcoll_config.h"
#include "compcoll_icode.h"
#include "compcoll_log.h"
#include "compcoll_registry.h"
#include "compcoll_scalecom.h"
#include "fuzz.h"

#define SIDE 8 /* n, ratio, call, size */
#define HDR  sizeof(compcoll_sc_header_t)

static compcoll_status_t no_isend(compcoll_tcomm_t *tc, int peer,
                                  const void *buf, size_t bytes,
                                  uint32_t chan, compcoll_treq_t *req)
{
    return COMPCOLL_ERR_NOT_SUPPORTED; /* never called: its presence counts */
}

static const compcoll_transport_ops_t fake_ops = {.name  = "fuzz",
                                                  .isend = no_isend};
static compcoll_tcomm_t fake_tc = {.ops = &fake_ops};
static unsigned long    n_accepted, n_followed, n_pieces, n_ramp;

/* This rank's side of the call, from the input's first bytes. */
static void side(const uint8_t *p, compcoll_comm_t *cc, size_t *n, size_t *k)
{
    unsigned ratio;

    *n    = 1 + ((size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
                 (size_t)(p[3] & 0x3f) << 24); /* 1 .. 2^30 */
    ratio = 1 + ((unsigned)p[4] | (unsigned)p[5] << 8) % 1000;
    compcoll_cfg.ratio = ratio;
    compcoll_cfg.ramp  = (p[7] & 8) ? 16 : 0;
    *k    = compcoll_k_min(*n); /* a call past the ramp, if any */
    memset(cc, 0, sizeof(*cc));
    cc->ncalls = p[6];
    cc->size   = 2 + p[7] % 8;
    cc->tcomm  = &fake_tc;
    fake_tc.size = cc->size;
}

static void put_side(uint8_t *p, fuzz_rng_t *rng)
{
    uint64_t v = fuzz_rand(rng);
    uint32_t n = (v & 1) ? (uint32_t)fuzz_below(rng, 1u << 20)
                         : (uint32_t)fuzz_below(rng, 1u << 30);

    p[0] = (uint8_t)n;
    p[1] = (uint8_t)(n >> 8);
    p[2] = (uint8_t)(n >> 16);
    p[3] = (uint8_t)((n >> 24) & 0x3f);
    p[4] = (uint8_t)(v >> 8);
    p[5] = (uint8_t)((v >> 16) & 0x3); /* ratio up to ~1000 */
    p[6] = (uint8_t)(v >> 24);
    p[7] = (uint8_t)(v >> 32);
}

/* Piece s of np over n: [s n / np, (s + 1) n / np), its length. */
static size_t piece_len(unsigned s, size_t n, unsigned np)
{
    return (size_t)((uint64_t)(s + 1) * n / np - (uint64_t)s * n / np);
}

static size_t header_seed(fuzz_rng_t *rng, uint8_t *buf, size_t cap, int *bad)
{
    compcoll_sc_header_t h;
    compcoll_comm_t      cc;
    size_t               n, k, left;
    unsigned             s, np;
    int                  followable;

    put_side(buf, rng);
    side(buf, &cc, &n, &k);
    memset(&h, 0, sizeof(h));
    h.magic  = COMPCOLL_SC_MAGIC;
    h.select = (uint8_t)compcoll_cfg.select;
    h.wire   = (uint8_t)compcoll_cfg.wire;
    h.n      = n;
    h.k      = k;
    h.seq    = cc.ncalls;
    if (compcoll_cfg.ramp != 0 && fuzz_below(rng, 2)) {
        /* a leader that counts the tensor's calls differently: its k
         * anywhere in the ramp's range */
        k = compcoll_k_min(n) +
            fuzz_below(rng, compcoll_k_max(n) - compcoll_k_min(n) + 1);
        h.k = k;
    }
    switch (fuzz_below(rng, 8)) {
    case 0:
        h.mode = COMPCOLL_SC_DENSE;
        break;
    case 1:
        h.mode = COMPCOLL_SC_ABORT;
        break;
    default:
        h.mode   = COMPCOLL_SC_SPARSE;
        h.coding = COMPCOLL_ICODE_GAP;
        np       = compcoll_sc_pieces(&cc, n, k);
        if (np == 0 || fuzz_below(rng, 2) == 0) {
            h.ibytes = k + fuzz_below(rng, (COMPCOLL_ICODE_MAX - 1) * k + 1);
            break;
        }
        h.pieces = np;
        if (fuzz_below(rng, 2)) {
            h.coding = COMPCOLL_ICODE_EF; /* sample's planned pieces */
        }
        /* k in shares of the pieces' lengths, then moved about between
         * them as far as their lengths allow */
        for (s = 0, left = k; s < np; s++) {
            h.pcount[s] = (uint32_t)((uint64_t)(s + 1) * k / np -
                                     (uint64_t)s * k / np);
            if (h.pcount[s] > piece_len(s, n, np)) { /* k = n */
                h.pcount[s] = (uint32_t)piece_len(s, n, np);
            }
            left -= h.pcount[s];
        }
        for (s = 0; left > 0; s = (s + 1) % np) {
            const size_t add = piece_len(s, n, np) - h.pcount[s];

            h.pcount[s] += (uint32_t)(add < left ? add : left);
            left -= add < left ? add : left;
        }
        for (left = fuzz_below(rng, 8); left > 0; left--) {
            const unsigned from = (unsigned)fuzz_below(rng, np);
            const unsigned to   = (unsigned)fuzz_below(rng, np);
            const size_t   room = piece_len(to, n, np) - h.pcount[to];
            size_t         move = fuzz_below(rng, (uint64_t)h.pcount[from] + 1);

            move = from == to ? 0 : move < room ? move : room;
            h.pcount[from] -= (uint32_t)move;
            h.pcount[to] += (uint32_t)move;
        }
        for (s = 0; s < np; s++) {
            h.pbytes[s] =
                h.coding == COMPCOLL_ICODE_EF
                    ? (uint32_t)compcoll_icode_ef_bytes(piece_len(s, n, np),
                                                        h.pcount[s])
                    : h.pcount[s] + (uint32_t)fuzz_below(
                                        rng, 4 * (uint64_t)h.pcount[s] + 1);
            h.ibytes += h.pbytes[s];
        }
        break;
    }
    memcpy(buf + SIDE, &h, HDR);
    *bad = compcoll_sc_header_check(&cc, &h, n, k, &followable) != COMPCOLL_OK ||
           !followable;
    (void)cap;
    return SIDE + HDR;
}

static int header_one(const uint8_t *data, size_t len, unsigned *broken)
{
    compcoll_sc_header_t h;
    compcoll_comm_t      cc;
    uint8_t              sidebuf[SIDE] = {0};
    size_t               n, k;
    uint64_t             count = 0, bytes = 0;
    unsigned             s;
    int                  followable, accepted, pieces_ok = 1;

    memcpy(sidebuf, data, len < SIDE ? len : SIDE);
    side(sidebuf, &cc, &n, &k);
    memset(&h, 0, sizeof(h));
    if (len > SIDE) {
        memcpy(&h, data + SIDE, len - SIDE < HDR ? len - SIDE : HDR);
    }
    accepted = compcoll_sc_header_check(&cc, &h, n, k, &followable) ==
               COMPCOLL_OK;
    for (s = 0; s < COMPCOLL_SC_PIECES; s++) {
        count += h.pcount[s];
        bytes += h.pbytes[s];
        if (s < h.pieces && h.pieces <= COMPCOLL_SC_PIECES &&
            (h.pcount[s] > piece_len(s, n, h.pieces) ||
             (h.coding == COMPCOLL_ICODE_EF &&
              h.pbytes[s] != compcoll_icode_ef_bytes(piece_len(s, n, h.pieces),
                                                     h.pcount[s])))) {
            pieces_ok = 0;
        }
    }
    if (accepted && !followable) {
        *broken |= 1u << 0;
    }
    if (accepted &&
        (h.magic != COMPCOLL_SC_MAGIC || h.n != n ||
         (h.k != k && (compcoll_cfg.ramp == 0 || h.k < compcoll_k_min(n) ||
                       h.k > compcoll_k_max(n))) ||
         h.seq != cc.ncalls || h.wire != compcoll_cfg.wire ||
         h.select != compcoll_cfg.select || h.mode < COMPCOLL_SC_SPARSE ||
         h.mode > COMPCOLL_SC_ABORT ||
         (h.mode == COMPCOLL_SC_SPARSE
              ? (h.coding != COMPCOLL_ICODE_EF && h.ibytes < h.k) ||
                    h.ibytes > COMPCOLL_ICODE_MAX * h.k ||
                    (h.coding == COMPCOLL_ICODE_EF && h.pieces == 0) ||
                    (h.pieces != 0 &&
                     (h.pieces > COMPCOLL_SC_PIECES || count != h.k ||
                      bytes != h.ibytes || !pieces_ok))
              : h.ibytes != 0 || h.pieces != 0))) {
        *broken |= 1u << 1;
    }
    if (followable && h.mode != COMPCOLL_SC_ABORT &&
        (h.n == 0 || h.n > 0x7fffffffu || h.k == 0 || h.k > h.n ||
         (h.mode == COMPCOLL_SC_SPARSE &&
          h.ibytes > COMPCOLL_ICODE_MAX * h.k) ||
         (h.pieces != 0 && (h.pieces > COMPCOLL_SC_PIECES || count != h.k)))) {
        *broken |= 1u << 2;
    }
    n_accepted += accepted;
    n_followed += followable && !accepted;
    n_pieces += accepted && h.pieces != 0;
    n_ramp += accepted && h.k != k;
    return accepted ? FUZZ_ACCEPTED : FUZZ_REJECTED;
}

static void header_summary(void)
{
    printf("# accepted %lu (%lu pipelined, %lu with the leader's k of a "
           "ramp); refused but followable %lu\n",
           n_accepted, n_pieces, n_ramp, n_followed);
}

/* the library's defaults, quiet: the checks log every refusal */
__attribute__((constructor)) static void header_init(void)
{
    compcoll_cfg.beta   = 1.0;
    compcoll_cfg.select = COMPCOLL_SELECT_SAMPLE;
    compcoll_log_level  = COMPCOLL_LOG_OFF;
}

const fuzz_target_t fuzz_target = {
    .name     = "scalecom header",
    .max_len  = SIDE + HDR + 32,
    .inputs   = 300000,
    .per_seed = 64,
    .props    = {"an accepted header can be followed with stand-ins",
                 "an accepted header describes this rank's call, "
                 "self-consistently",
                 "a followable header's sizes bound the stand-ins",
                 NULL},
    .seed     = header_seed,
    .one      = header_one,
    .summary  = header_summary,
};
