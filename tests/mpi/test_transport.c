/*
 * tests/mpi/test_transport.c: both transports against PMPI as the oracle:
 * bcast, all-reduce with each wire type, allgather and allgatherv (equal,
 * random and empty blocks, in place and not), and communicator set-up.
 *
 * Run under mpiexec with any number of ranks; linked against the core and
 * the UCX transport directly (not preloaded).  Each rank reaches its own
 * verdict on each test, the verdicts are combined with PMPI_Allreduce(MIN),
 * and rank 0 prints TAP.  Diagnostics for a failure go to stderr from the
 * rank that saw it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "compcoll_log.h"
#include "compcoll_transport.h"
#ifdef HAVE_UCX
#include "../../ucx_transport/compcoll_ucx.h"
#endif

#define CYCLES 20

static int world_rank, world_size;
static int test_num, test_failed;

/* ----------------------------------------------------------------- TAP */

static void diag(const char *fmt, ...)
{
    char    msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "# rank %d: %s\n", world_rank, msg);
}

/* Combine every rank's verdict; rank 0 reports.  Returns the verdict. */
static int report(int ok, const char *fmt, ...)
{
    char    desc[256];
    int     all_ok = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);
    PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    test_num++;
    if (!all_ok) {
        test_failed++;
    }
    if (world_rank == 0) {
        printf("%s %d - %s\n", all_ok ? "ok" : "not ok", test_num, desc);
        fflush(stdout);
    }
    return all_ok;
}

static void skip(const char *fmt, ...)
{
    char    desc[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(desc, sizeof(desc), fmt, ap);
    va_end(ap);
    test_num++;
    if (world_rank == 0) {
        printf("ok %d # skip %s\n", test_num, desc);
        fflush(stdout);
    }
}

/* ------------------------------------------------------------ helpers */

/* xorshift64*: reproducible on every rank from the same seed. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static uint64_t rng_seed(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (a * 0xbf58476d1ce4e5b9ull) ^
                 (b * 0x94d049bb133111ebull) ^ (c + 1);
    int i;

    for (i = 0; i < 4; i++) {
        rng_next(&s);
    }
    return s ? s : 1;
}

static void fill_bytes(unsigned char *buf, size_t n, uint64_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        buf[i] = (unsigned char)(rng_next(&seed) >> 56);
    }
}

/* Uniform in [-1, 1], never zero, so that every rank contributes. */
static void fill_floats(float *buf, size_t n, uint64_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        float v = 2.0f * (float)(rng_next(&seed) >> 40) * 0x1p-24f - 1.0f;

        buf[i] = (v == 0.0f) ? 0.5f : v;
    }
}

static const char *wire_name(compcoll_wire_t wire)
{
    switch (wire) {
    case COMPCOLL_WIRE_FP32:
        return "fp32";
    case COMPCOLL_WIRE_FP16:
        return "fp16";
    case COMPCOLL_WIRE_BF16:
        return "bf16";
    }
    return "?";
}

/* Sum of bytes_sent increments over the ranks of comm. */
static uint64_t total_sent(compcoll_tcomm_t *tc, uint64_t before, MPI_Comm comm)
{
    uint64_t mine = tc->bytes_sent - before, all = 0;

    PMPI_Allreduce(&mine, &all, 1, MPI_UINT64_T, MPI_SUM, comm);
    return all;
}

/* ------------------------------------------------------------- bcast */

/* Every root in turn; returns this rank's verdict. */
static int check_bcast(const compcoll_transport_ops_t *t, compcoll_tcomm_t *tc,
                       MPI_Comm comm, size_t bytes, int check_bytes)
{
    unsigned char *buf    = malloc(bytes ? bytes : 1);
    unsigned char *expect = malloc(bytes ? bytes : 1);
    int            ok     = (buf != NULL) && (expect != NULL);
    int            rank, size, root;

    PMPI_Comm_rank(comm, &rank);
    PMPI_Comm_size(comm, &size);
    for (root = 0; ok && (root < size); root++) {
        uint64_t          before = tc->bytes_sent;
        uint64_t          sent;
        compcoll_status_t st;

        fill_bytes(expect, bytes, rng_seed(root, bytes, 1));
        if (rank == root) {
            memcpy(buf, expect, bytes);
        } else {
            fill_bytes(buf, bytes, rng_seed(rank, bytes, 2)); /* garbage */
        }
        st = t->bcast(tc, buf, bytes, root);
        if (st != COMPCOLL_OK) {
            diag("%s bcast %zu bytes root %d: %s", t->name, bytes, root,
                 compcoll_status_string(st));
            ok = 0;
        } else if (memcmp(buf, expect, bytes) != 0) {
            diag("%s bcast %zu bytes root %d: wrong data", t->name, bytes,
                 root);
            ok = 0;
        }
        /* A tree delivers one copy to each non-root rank. */
        sent = total_sent(tc, before, comm);
        if (check_bytes && (sent != (uint64_t)(size - 1) * bytes)) {
            diag("%s bcast %zu bytes: bytes_sent sums to %llu, expected %llu",
                 t->name, bytes, (unsigned long long)sent,
                 (unsigned long long)((size - 1) * bytes));
            ok = 0;
        }
    }
    free(buf);
    free(expect);
    return ok;
}

/* ---------------------------------------------------------- allreduce */

/*
 * Error bound against the exact sum, per element, from A = sum |x|:
 * fp32: p additions, each off by at most FLT_EPSILON/2 of a partial <= A.
 * fp16/bf16: on top of that, every encode of a partial (at most p of them on
 * any element's path, input and final result included) is off by half an
 * ulp, <= u*|partial| with u = 2^-11 (fp16) or 2^-8 (bf16), or by up to
 * 2^-25 absolute where fp16 partials fall into its subnormal range.  The
 * factor (1 + p*u) covers partials that have already drifted.
 */
static double tolerance(compcoll_wire_t wire, int p, double abs_sum)
{
    double u, tiny;

    switch (wire) {
    case COMPCOLL_WIRE_FP16:
        u    = 0x1p-11;
        tiny = 0x1p-25;
        break;
    case COMPCOLL_WIRE_BF16:
        u    = 0x1p-8;
        tiny = 0.0;
        break;
    default:
        return p * FLT_EPSILON * abs_sum;
    }
    return p * (u + FLT_EPSILON) * abs_sum * (1.0 + p * u) + 2.0 * p * tiny;
}

static int check_allreduce(const compcoll_transport_ops_t *t,
                           compcoll_tcomm_t *tc, MPI_Comm comm, size_t count,
                           compcoll_wire_t wire, int check_bytes)
{
    int               rank, size, ok = 1, r;
    size_t            i, bad = 0;
    float            *buf    = malloc((count ? count : 1) * sizeof(float));
    float            *all    = NULL;
    uint32_t         *bits   = malloc((count ? count : 1) * sizeof(uint32_t));
    uint32_t         *bmax   = malloc((count ? count : 1) * sizeof(uint32_t));
    uint32_t         *bmin   = malloc((count ? count : 1) * sizeof(uint32_t));
    uint64_t          before = tc->bytes_sent, sent, expect_sent;
    compcoll_status_t st;

    PMPI_Comm_rank(comm, &rank);
    PMPI_Comm_size(comm, &size);
    all = malloc((count ? count : 1) * (size_t)size * sizeof(float));
    if (!buf || !all || !bits || !bmax || !bmin) {
        diag("out of memory for count %zu", count);
        abort();
    }

    fill_floats(buf, count, rng_seed(world_rank, count, 3 + wire));
    PMPI_Allgather(buf, (int)count, MPI_FLOAT, all, (int)count, MPI_FLOAT,
                   comm);

    st = t->allreduce(tc, buf, count, wire);
    if (st != COMPCOLL_OK) {
        diag("%s allreduce %s count %zu: %s", t->name, wire_name(wire), count,
             compcoll_status_string(st));
        ok = 0;
    }

    for (i = 0; ok && (i < count); i++) {
        double exact = 0.0, abs_sum = 0.0, err;

        for (r = 0; r < size; r++) {
            exact += all[(size_t)r * count + i];
            abs_sum += fabs(all[(size_t)r * count + i]);
        }
        err = fabs((double)buf[i] - exact);
        if (!(err <= tolerance(wire, size, abs_sum))) { /* catches NaN too */
            if (bad++ == 0) {
                diag("%s allreduce %s count %zu: [%zu] = %.9g, exact %.9g, "
                     "error %.3g > bound %.3g",
                     t->name, wire_name(wire), count, i, buf[i], exact, err,
                     tolerance(wire, size, abs_sum));
            }
        }
    }
    if (bad != 0) {
        diag("%zu of %zu elements outside the bound", bad, count);
        ok = 0;
    }

    /* Every rank must hold the very same bits. */
    for (i = 0; i < count; i++) {
        memcpy(&bits[i], &buf[i], sizeof(uint32_t));
    }
    PMPI_Allreduce(bits, bmax, (int)count, MPI_UINT32_T, MPI_MAX, comm);
    PMPI_Allreduce(bits, bmin, (int)count, MPI_UINT32_T, MPI_MIN, comm);
    for (i = 0; i < count; i++) {
        if (bmax[i] != bmin[i]) {
            diag("%s allreduce %s count %zu: ranks disagree at [%zu]", t->name,
                 wire_name(wire), count, i);
            ok = 0;
            break;
        }
    }

    /* Ring: each element crosses p-1 links in each of the two phases. */
    sent        = total_sent(tc, before, comm);
    expect_sent = 2 * (uint64_t)(size - 1) * count * compcoll_wire_size(wire);
    if (check_bytes && (sent != expect_sent)) {
        diag("%s allreduce %s count %zu: bytes_sent sums to %llu, expected "
             "%llu",
             t->name, wire_name(wire), count, (unsigned long long)sent,
             (unsigned long long)expect_sent);
        ok = 0;
    }

    free(buf);
    free(all);
    free(bits);
    free(bmax);
    free(bmin);
    return ok;
}

/* --------------------------------------------- allgather, allgatherv */

/* Guard bytes after the gathered result, to catch a block written long. */
#define GUARD 16

/* Payload bytes are never zero and rbuf starts zeroed, so a byte that no
 * block wrote, or one written past the end, cannot pass for data. */
static void fill_payload(unsigned char *buf, size_t n, uint64_t seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        buf[i] = (unsigned char)(1 + (rng_next(&seed) >> 32) % 255);
    }
}

enum { COUNTS_RANDOM, COUNTS_ZERO, COUNTS_ONE };

/* The same counts on every rank, from a seed they share.  Random counts mix
 * empty, tiny, eager-sized and rendezvous-sized blocks. */
static size_t make_counts(size_t *counts, int p, int kind, uint64_t seed)
{
    uint64_t s     = rng_seed(p, seed, 5);
    size_t   total = 0;
    int      r, one = (int)(seed % (uint64_t)p);

    for (r = 0; r < p; r++) {
        uint64_t v = rng_next(&s);

        switch (kind) {
        case COUNTS_RANDOM:
            switch (v % 4) {
            case 0:
                counts[r] = 0;
                break;
            case 1:
                counts[r] = 1 + (v >> 8) % 16;
                break;
            case 2:
                counts[r] = 1 + (v >> 8) % 4096;
                break;
            default:
                counts[r] = 1 + (v >> 8) % 100000;
                break;
            }
            break;
        case COUNTS_ONE:
            counts[r] = (r == one) ? 5000 : 0;
            break;
        default:
            counts[r] = 0;
            break;
        }
        total += counts[r];
    }
    return total;
}

/*
 * counts == NULL: allgather of `bytes` per rank; otherwise allgatherv.  The
 * oracle is PMPI_Allgatherv of the same blocks.  bytes_sent, per rank: for
 * ucx the ring's exact count, every block but the right neighbour's; for mpi
 * the model, its own block times (p - 1).
 */
static int check_allgather(const compcoll_transport_ops_t *t,
                           compcoll_tcomm_t *tc, MPI_Comm comm,
                           const size_t *counts, size_t bytes, int in_place,
                           int is_ucx, uint64_t seed)
{
    const char       *name  = counts ? "allgatherv" : "allgather";
    const char       *how   = in_place ? "in place" : "out of place";
    size_t            total = 0, mine = 0, len, i;
    uint64_t          before = tc->bytes_sent, sent, expect_sent;
    unsigned char    *sbuf, *rbuf, *expect;
    int              *icounts, *displs;
    int               rank, size, r, ok = 1;
    compcoll_status_t st;

    PMPI_Comm_rank(comm, &rank);
    PMPI_Comm_size(comm, &size);
    icounts = malloc(2 * (size_t)size * sizeof(int));
    if (icounts == NULL) {
        diag("out of memory for %d counts", size);
        abort();
    }
    displs = icounts + size;
    for (r = 0; r < size; r++) {
        len        = counts ? counts[r] : bytes;
        icounts[r] = (int)len;
        displs[r]  = (int)total;
        if (r == rank) {
            mine = total;
        }
        total += len;
    }
    len    = counts ? counts[rank] : bytes;
    sbuf   = malloc(len + 1);
    rbuf   = calloc(1, total + GUARD);
    expect = malloc(total + 1);
    if (!sbuf || !rbuf || !expect) {
        diag("out of memory for %zu bytes", total);
        abort();
    }

    fill_payload(sbuf, len, rng_seed(rank, seed, 6));
    PMPI_Allgatherv(sbuf, (int)len, MPI_BYTE, expect, icounts, displs, MPI_BYTE,
                    comm);

    if (in_place) {
        memcpy(rbuf + mine, sbuf, len);
    }
    if (counts != NULL) {
        st = t->allgatherv(tc, in_place ? rbuf + mine : sbuf, rbuf, counts);
    } else {
        st = t->allgather(tc, in_place ? rbuf + mine : sbuf, rbuf, bytes);
    }
    if (st != COMPCOLL_OK) {
        diag("%s %s %zu bytes %s: %s", t->name, name, total, how,
             compcoll_status_string(st));
        ok = 0;
    }

    for (i = 0; ok && (i < total); i++) {
        if (rbuf[i] != expect[i]) {
            r = size - 1;
            while ((size_t)displs[r] > i) {
                r--;
            }
            diag("%s %s %zu bytes %s: byte %zu (block of rank %d, %zu bytes) "
                 "is %u, expected %u",
                 t->name, name, total, how, i, r, (size_t)icounts[r], rbuf[i],
                 expect[i]);
            ok = 0;
        }
    }
    for (i = total; ok && (i < total + GUARD); i++) {
        if (rbuf[i] != 0) {
            diag("%s %s %zu bytes %s: written past the end", t->name, name,
                 total, how);
            ok = 0;
        }
    }
    if (ok && !in_place && (memcmp(sbuf, expect + mine, len) != 0)) {
        diag("%s %s %zu bytes %s: the send buffer changed", t->name, name,
             total, how);
        ok = 0;
    }

    sent        = tc->bytes_sent - before;
    expect_sent = is_ucx ? total - icounts[(rank + 1) % size]
                         : (uint64_t)len * (uint64_t)(size - 1);
    if (sent != expect_sent) {
        diag("%s %s %zu bytes %s: bytes_sent grew by %llu, expected %llu",
             t->name, name, total, how, (unsigned long long)sent,
             (unsigned long long)expect_sent);
        ok = 0;
    }

    free(icounts);
    free(sbuf);
    free(rbuf);
    free(expect);
    return ok;
}

/* ------------------------------------------- destroy from Comm_free */

static int destroyed_in_callback;

static int destroy_cb(MPI_Comm comm, int keyval, void *attr, void *extra)
{
    const compcoll_transport_ops_t *t = extra;

    t->comm_destroy(attr);
    destroyed_in_callback++;
    return MPI_SUCCESS;
}

/* -------------------------------------------------------------- suite */

static const size_t bcast_sizes[]  = {0, 1, 7, 4096, 1u << 20};
static const size_t gather_sizes[] = {0, 1, 13, 4096};

#define GATHERV_RANDOM_TRIALS 6

static void test_allgather(const compcoll_transport_ops_t *t,
                           compcoll_tcomm_t *tc, int is_ucx)
{
    size_t     *counts = malloc((size_t)world_size * sizeof(size_t));
    size_t      i, total;
    const char *how;
    int         in_place, k, kind, zeros, r;

    if (counts == NULL) {
        diag("out of memory for %d counts", world_size);
        abort();
    }
    for (i = 0; i < sizeof(gather_sizes) / sizeof(gather_sizes[0]); i++) {
        for (in_place = 0; in_place < 2; in_place++) {
            report(check_allgather(t, tc, MPI_COMM_WORLD, NULL, gather_sizes[i],
                                   in_place, is_ucx, i),
                   "%s: allgather %zu bytes per rank, %s", t->name,
                   gather_sizes[i], in_place ? "in place" : "out of place");
        }
    }

    /* Random counts, then every count zero, then one rank alone. */
    for (k = 0; k < GATHERV_RANDOM_TRIALS + 2; k++) {
        kind  = (k < GATHERV_RANDOM_TRIALS)    ? COUNTS_RANDOM
                : (k == GATHERV_RANDOM_TRIALS) ? COUNTS_ZERO
                                               : COUNTS_ONE;
        total = make_counts(counts, world_size, kind, (uint64_t)k);
        for (zeros = 0, r = 0; r < world_size; r++) {
            zeros += (counts[r] == 0);
        }
        for (in_place = 0; in_place < 2; in_place++) {
            how = in_place ? "in place" : "out of place";
            report(check_allgather(t, tc, MPI_COMM_WORLD, counts, 0, in_place,
                                   is_ucx, 100 + (uint64_t)k),
                   "%s: allgatherv %s counts #%d (%zu bytes, %d of %d "
                   "empty), %s",
                   t->name,
                   kind == COUNTS_RANDOM ? "random"
                   : kind == COUNTS_ZERO ? "all-zero"
                                         : "one-rank",
                   k, total, zeros, world_size, how);
        }
    }
    free(counts);
}

/*
 * Nonblocking point to point around the ring: on three channels each rank
 * sends its right neighbour two messages (seeded by sender, channel and
 * order) and receives its left neighbour's, posting the receives channel
 * by channel in reverse, so only the channel and the order within it can
 * match them up.  Then a receive shorter than expected is refused and an
 * unmatched receive is cancelled.
 */
static int check_p2p(const compcoll_transport_ops_t *t, compcoll_tcomm_t *tc,
                     MPI_Comm comm)
{
    enum { NCHAN = 3, NMSG = 2 };
    const int        p = tc->size, r = tc->rank;
    const int        right = (r + 1) % p, left = (r + p - 1) % p;
    compcoll_treq_t  sreq[NCHAN][NMSG], rreq[NCHAN][NMSG], extra;
    unsigned char   *sbuf[NCHAN][NMSG], *rbuf[NCHAN][NMSG], *want, small[12];
    size_t           bytes[NMSG] = {0, 7};
    uint64_t         before = tc->bytes_sent, expect = 0;
    uint32_t         base, other[2];
    compcoll_status_t st = COMPCOLL_OK;
    int              ok = 1, c, m, pending, done;

    base = t->channels(tc, NCHAN);
    PMPI_Allreduce(&base, &other[0], 1, MPI_UINT32_T, MPI_MIN, comm);
    PMPI_Allreduce(&base, &other[1], 1, MPI_UINT32_T, MPI_MAX, comm);
    if (other[0] != base || other[1] != base) {
        diag("p2p: channels disagree: %u here, %u to %u", base, other[0],
             other[1]);
        ok = 0;
    }
    memset(sreq, 0, sizeof(sreq));
    memset(rreq, 0, sizeof(rreq));
    for (c = 0; c < NCHAN; c++) {
        for (m = 0; m < NMSG; m++) {
            size_t len = m == 0 ? 1000 * (size_t)(c + 1) + 3 : bytes[m];

            sbuf[c][m] = malloc(len);
            rbuf[c][m] = malloc(len);
            fill_bytes(sbuf[c][m], len, rng_seed((uint64_t)r, c, m));
            memset(rbuf[c][m], 0, len);
            if (st == COMPCOLL_OK) {
                st = t->isend(tc, right, sbuf[c][m], len, base + c,
                              &sreq[c][m]);
            }
            expect += len;
        }
    }
    for (c = NCHAN - 1; c >= 0 && st == COMPCOLL_OK; c--) {
        for (m = 0; m < NMSG && st == COMPCOLL_OK; m++) {
            size_t len = m == 0 ? 1000 * (size_t)(c + 1) + 3 : bytes[m];

            st = t->irecv(tc, left, rbuf[c][m], len, base + c, &rreq[c][m]);
        }
    }
    do {
        pending = 0;
        for (c = 0; c < NCHAN && st == COMPCOLL_OK; c++) {
            for (m = 0; m < NMSG && st == COMPCOLL_OK; m++) {
                st = t->test(tc, &sreq[c][m], &done);
                pending += !done;
                if (st == COMPCOLL_OK) {
                    st = t->test(tc, &rreq[c][m], &done);
                    pending += !done;
                }
            }
        }
    } while (st == COMPCOLL_OK && pending != 0);
    if (st != COMPCOLL_OK) {
        diag("p2p: %s", compcoll_status_string(st));
        ok = 0;
    }
    for (c = 0; c < NCHAN && ok; c++) {
        for (m = 0; m < NMSG && ok; m++) {
            size_t len = m == 0 ? 1000 * (size_t)(c + 1) + 3 : bytes[m];

            want = malloc(len);
            fill_bytes(want, len, rng_seed((uint64_t)left, c, m));
            if (memcmp(want, rbuf[c][m], len) != 0) {
                diag("p2p: message %d on channel %d from rank %d differs", m,
                     c, left);
                ok = 0;
            }
            free(want);
        }
    }
    for (c = 0; c < NCHAN; c++) {
        for (m = 0; m < NMSG; m++) {
            free(sbuf[c][m]);
            free(rbuf[c][m]);
        }
    }
    if (tc->bytes_sent - before != expect) {
        diag("p2p: bytes_sent grew by %llu, sent %llu",
             (unsigned long long)(tc->bytes_sent - before),
             (unsigned long long)expect);
        ok = 0;
    }

    /* 10 bytes where 12 are expected: refused, naming the sizes */
    base = t->channels(tc, 2);
    memset(&extra, 0, sizeof(extra));
    memset(sreq, 0, sizeof(sreq));
    st = t->isend(tc, right, small, 10, base, &sreq[0][0]);
    if (st == COMPCOLL_OK) {
        st = t->irecv(tc, left, small, sizeof(small), base, &extra);
    }
    pending = 1;
    while (st == COMPCOLL_OK && pending) {
        st = t->test(tc, &extra, &done);
        pending = !done;
    }
    if (st != COMPCOLL_ERR_PROTOCOL) {
        diag("p2p: a 10-byte message into a 12-byte receive gave %s",
             compcoll_status_string(st));
        ok = 0;
    }
    do {
        t->test(tc, &sreq[0][0], &done);
    } while (!done);

    /* a receive nobody sends to is cancelled and idle after */
    memset(&extra, 0, sizeof(extra));
    st = t->irecv(tc, left, small, sizeof(small), base + 1, &extra);
    t->cancel(tc, &extra);
    st = st == COMPCOLL_OK ? t->test(tc, &extra, &done) : st;
    if (st != COMPCOLL_OK || !done) {
        diag("p2p: a cancelled receive: %s, done %d",
             compcoll_status_string(st), done);
        ok = 0;
    }
    PMPI_Barrier(comm);
    return ok;
}

static void test_transport(const compcoll_transport_ops_t *t, int is_ucx)
{
    const compcoll_wire_t wires[]  = {COMPCOLL_WIRE_FP32, COMPCOLL_WIRE_FP16,
                                      COMPCOLL_WIRE_BF16};
    const size_t          p        = (size_t)world_size;
    size_t                counts[] = {1, 2, 3, p - 1, p, p + 1, 1000, 262147};
    compcoll_tcomm_t     *tc       = NULL;
    compcoll_status_t     st;
    MPI_Comm              dup;
    size_t                i, w;
    int                   ok, c;

    st = t->comm_create(MPI_COMM_WORLD, &tc);
    if (!report(st == COMPCOLL_OK, "%s: comm_create on MPI_COMM_WORLD",
                t->name)) {
        diag("comm_create: %s", compcoll_status_string(st));
        return;
    }
    ok = (tc->rank == world_rank) && (tc->size == world_size) && (tc->ops == t);
    report(ok, "%s: tcomm rank, size and ops", t->name);

    for (i = 0; i < sizeof(bcast_sizes) / sizeof(bcast_sizes[0]); i++) {
        report(check_bcast(t, tc, MPI_COMM_WORLD, bcast_sizes[i], is_ucx),
               "%s: bcast %zu bytes from every root", t->name, bcast_sizes[i]);
    }
    test_allgather(t, tc, is_ucx);
    if (world_size > 1) {
        report(check_p2p(t, tc, MPI_COMM_WORLD),
               "%s: isend/irecv on channels match by channel and order; a "
               "short message is refused; a receive cancels",
               t->name);
    } else {
        skip("%s: isend/irecv need two ranks", t->name);
    }
    for (w = 0; w < 3; w++) {
        for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
            report(check_allreduce(t, tc, MPI_COMM_WORLD, counts[i], wires[w],
                                   is_ucx),
                   "%s: allreduce %s count %zu", t->name, wire_name(wires[w]),
                   counts[i]);
        }
    }

    /* Many short-lived communicators, as a program that dups per phase. */
    ok = 1;
    for (c = 0; c < CYCLES && ok; c++) {
        compcoll_tcomm_t *tmp = NULL;

        PMPI_Comm_dup(MPI_COMM_WORLD, &dup);
        st = t->comm_create(dup, &tmp);
        if (st != COMPCOLL_OK) {
            diag("cycle %d: comm_create: %s", c, compcoll_status_string(st));
            ok = 0;
        } else {
            ok = check_allreduce(t, tmp, dup, 5, COMPCOLL_WIRE_FP32, 0);
            t->comm_destroy(tmp);
        }
        PMPI_Comm_free(&dup);
    }
    report(ok, "%s: %d create/use/destroy cycles", t->name, CYCLES);

    /* The interposer drops its state from an attribute delete callback,
     * inside PMPI_Comm_free. */
    {
        compcoll_tcomm_t *tmp    = NULL;
        int               before = destroyed_in_callback;
        int               keyval;

        PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, destroy_cb, &keyval,
                                (void *)t);
        PMPI_Comm_dup(MPI_COMM_WORLD, &dup);
        st = t->comm_create(dup, &tmp);
        ok = (st == COMPCOLL_OK);
        if (ok) {
            PMPI_Comm_set_attr(dup, keyval, tmp);
            ok = check_allreduce(t, tmp, dup, 7, COMPCOLL_WIRE_BF16, 0);
        }
        PMPI_Comm_free(&dup);
        ok = ok && (destroyed_in_callback == before + 1);
        PMPI_Comm_free_keyval(&keyval);
        report(ok, "%s: comm_destroy from a Comm_free attribute callback",
               t->name);
    }

    t->comm_destroy(tc);
}

#ifdef HAVE_UCX
static int ucx_ok_everywhere(compcoll_status_t st)
{
    int ok = (st == COMPCOLL_OK), all_ok = 0;

    PMPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all_ok;
}

/* comm_create must fail the same way on every rank when any rank lacks UCX. */
static void test_ucx_unavailable(const char *why)
{
    const compcoll_transport_ops_t *t = &compcoll_ucx_transport;
    /* Not NULL, to see comm_create clear it on failure. */
    compcoll_tcomm_t *tc = (compcoll_tcomm_t *)&tc;
    compcoll_status_t st;

    st = t->comm_create(MPI_COMM_WORLD, &tc);
    if (!report((st == COMPCOLL_ERR_UNAVAILABLE) && (tc == NULL),
                "ucx: comm_create is UNAVAILABLE on every rank (%s)", why)) {
        diag("comm_create: %s", compcoll_status_string(st));
        if (st == COMPCOLL_OK) {
            t->comm_destroy(tc);
        }
    }
}

static void test_ucx_comms(void)
{
    const compcoll_transport_ops_t *t    = &compcoll_ucx_transport;
    compcoll_tcomm_t               *tsub = NULL, *tdup = NULL, *tworld = NULL;
    compcoll_status_t               s1, s2, s3;
    MPI_Comm                        sub, dup;
    uint64_t                        id[2], idmax[2], idmin[2];
    size_t                          eps, *sub_counts = NULL;
    int                             ok, c, sub_size;

    PMPI_Comm_split(MPI_COMM_WORLD, world_rank % 2, world_rank, &sub);
    PMPI_Comm_dup(MPI_COMM_WORLD, &dup);
    PMPI_Comm_size(sub, &sub_size);
    sub_counts = malloc((size_t)sub_size * sizeof(size_t));
    if (sub_counts == NULL) {
        diag("out of memory for %d counts", sub_size);
        abort();
    }
    s1 = t->comm_create(sub, &tsub);
    s2 = t->comm_create(dup, &tdup);
    ok = (s1 == COMPCOLL_OK) && (s2 == COMPCOLL_OK);
    if (!report(ok, "ucx: comm_create on a split and on a dup")) {
        diag("split: %s, dup: %s", compcoll_status_string(s1),
             compcoll_status_string(s2));
        goto out;
    }

    /* Members agree on each id; a rank's two communicators differ. */
    id[0] = compcoll_ucx_comm_id(tsub);
    id[1] = compcoll_ucx_comm_id(tdup);
    PMPI_Allreduce(&id[0], &idmax[0], 1, MPI_UINT64_T, MPI_MAX, sub);
    PMPI_Allreduce(&id[0], &idmin[0], 1, MPI_UINT64_T, MPI_MIN, sub);
    PMPI_Allreduce(&id[1], &idmax[1], 1, MPI_UINT64_T, MPI_MAX, dup);
    PMPI_Allreduce(&id[1], &idmin[1], 1, MPI_UINT64_T, MPI_MIN, dup);
    ok = (idmax[0] == idmin[0]) && (idmax[1] == idmin[1]) && (id[0] != id[1]);
    if (!ok) {
        diag("ids: split %llu (members %llu..%llu), dup %llu (%llu..%llu)",
             (unsigned long long)id[0], (unsigned long long)idmin[0],
             (unsigned long long)idmax[0], (unsigned long long)id[1],
             (unsigned long long)idmin[1], (unsigned long long)idmax[1]);
    }
    report(ok, "ucx: split and dup get different ids, agreed by members");

    /* Interleaved use of two live communicators over the same endpoints. */
    ok = check_allreduce(t, tsub, sub, 1001, COMPCOLL_WIRE_FP16, 1);
    ok = check_bcast(t, tdup, dup, 4096, 1) && ok;
    ok = check_allreduce(t, tdup, dup, 1001, COMPCOLL_WIRE_FP32, 1) && ok;
    ok = check_allreduce(t, tsub, sub, 3, COMPCOLL_WIRE_BF16, 1) && ok;
    ok = check_bcast(t, tsub, sub, 7, 1) && ok;
    make_counts(sub_counts, sub_size, COUNTS_RANDOM, 7);
    ok = check_allgather(t, tsub, sub, sub_counts, 0, 1, 1, 7) && ok;
    ok = check_allgather(t, tdup, dup, NULL, 13, 0, 1, 8) && ok;
    ok = check_allreduce(t, tsub, sub, 5, COMPCOLL_WIRE_FP32, 1) && ok;
    report(ok, "ucx: interleaved collectives on a split (%d ranks) and a dup",
           sub_size);

    /* Endpoints are per peer, not per communicator. */
    s3  = t->comm_create(MPI_COMM_WORLD, &tworld);
    ok  = (s3 == COMPCOLL_OK);
    eps = compcoll_ucx_ep_cache_size();
    for (c = 0; c < CYCLES && ok; c++) {
        compcoll_tcomm_t *a = NULL, *b = NULL;
        MPI_Comm          ca, cb;

        PMPI_Comm_dup(MPI_COMM_WORLD, &ca);
        PMPI_Comm_split(MPI_COMM_WORLD, (world_rank + c) % 3, -world_rank, &cb);
        ok = (t->comm_create(ca, &a) == COMPCOLL_OK) &&
             (t->comm_create(cb, &b) == COMPCOLL_OK);
        if (ok) {
            ok = check_allreduce(t, b, cb, 5, COMPCOLL_WIRE_FP16, 1) &&
                 check_allreduce(t, a, ca, 4, COMPCOLL_WIRE_FP32, 1);
        }
        if (a != NULL) {
            t->comm_destroy(a);
        }
        if (b != NULL) {
            t->comm_destroy(b);
        }
        PMPI_Comm_free(&ca);
        PMPI_Comm_free(&cb);
    }
    ok = ok && (eps == (size_t)world_size - 1) &&
         (compcoll_ucx_ep_cache_size() == eps);
    if (!ok) {
        diag("cached endpoints: %zu before the cycles, %zu after, world has "
             "%d peers",
             eps, compcoll_ucx_ep_cache_size(), world_size - 1);
    }
    report(ok, "ucx: %d dup+split cycles keep %d cached endpoint(s)", CYCLES,
           world_size - 1);

out:
    if (tsub != NULL) {
        t->comm_destroy(tsub);
    }
    if (tdup != NULL) {
        t->comm_destroy(tdup);
    }
    if (tworld != NULL) {
        t->comm_destroy(tworld);
    }
    PMPI_Comm_free(&sub);
    PMPI_Comm_free(&dup);
    free(sub_counts);
}

/* One rank whose UCX cannot start makes every rank fall back; a later init
 * in a healthy environment works again. */
static void test_ucx_one_rank_fails(void)
{
    const compcoll_transport_ops_t *t     = &compcoll_ucx_transport;
    const char                     *var   = "COMPCOLL_UCX_TLS";
    const char                     *prev  = getenv(var);
    char                           *saved = prev ? strdup(prev) : NULL;
    compcoll_tcomm_t               *tc    = NULL;
    compcoll_status_t               st;
    int                             victim = world_size - 1, ok;

    if (world_size < 2) {
        skip("ucx: one rank without UCX (needs 2 ranks)");
        skip("ucx: init again after finalize");
        return;
    }

    t->finalize();
    if (world_rank == victim) {
        setenv(var, "nonexistent", 1);
    }
    st = t->init();
    ok = (world_rank == victim) ? (st == COMPCOLL_ERR_UNAVAILABLE)
                                : (st == COMPCOLL_OK);
    if (!ok) {
        diag("init with %s=%s: %s", var,
             world_rank == victim ? "nonexistent" : (prev ? prev : "(unset)"),
             compcoll_status_string(st));
    }
    if (report(ok, "ucx: init fails on rank %d only", victim)) {
        test_ucx_unavailable("rank without UCX");
    } else {
        skip("ucx: comm_create UNAVAILABLE everywhere (init did not fail)");
    }

    t->finalize();
    if (world_rank == victim) {
        if (saved != NULL) {
            setenv(var, saved, 1);
        } else {
            unsetenv(var);
        }
    }
    free(saved);
    st = t->init();
    ok = ucx_ok_everywhere(st);
    if (ok) {
        st = t->comm_create(MPI_COMM_WORLD, &tc);
        ok = (st == COMPCOLL_OK);
        if (ok) {
            ok = check_allreduce(t, tc, MPI_COMM_WORLD, 1000,
                                 COMPCOLL_WIRE_FP16, 1) &&
                 (compcoll_ucx_ep_cache_size() == (size_t)world_size - 1);
            t->comm_destroy(tc);
        }
    }
    report(ok, "ucx: init again after finalize");
}
#endif

int main(int argc, char **argv)
{
    compcoll_status_t st;

    PMPI_Init(&argc, &argv);
    PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &world_size);
    compcoll_log_set_rank(world_rank);

    st = compcoll_mpi_transport.init();
    if (report(st == COMPCOLL_OK, "mpi: init")) {
        test_transport(&compcoll_mpi_transport, 0);
    }

#ifdef HAVE_UCX
    st = compcoll_ucx_transport.init();
    if (ucx_ok_everywhere(st)) {
        report(1, "ucx: init");
        test_transport(&compcoll_ucx_transport, 1);
        test_ucx_comms();
        test_ucx_one_rank_fails();
    } else {
        /* The deliberate-failure run (COMPCOLL_UCX_TLS=nonexistent) lands
         * here: the fallback path is what is under test. */
        skip("ucx: init (%s on some rank)",
             compcoll_status_string(COMPCOLL_ERR_UNAVAILABLE));
        test_ucx_unavailable("init failed");
    }
    compcoll_ucx_transport.finalize();
    compcoll_ucx_transport.finalize(); /* twice, or after a failed init */
#else
    skip("ucx: not built");
#endif
    compcoll_mpi_transport.finalize();

    if (world_rank == 0) {
        printf("1..%d\n", test_num);
    }
    PMPI_Finalize();
    return test_failed ? 1 : 0;
}
