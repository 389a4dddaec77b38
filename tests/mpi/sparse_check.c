/*
 * tests/mpi/sparse_check.c: the per-rank sparsifiers (COMPCOLL_METHOD=topk
 * and COMPCOLL_METHOD=adacomp) against an independent re-computation of
 * the methods as libcompcoll(7) describes them.
 *
 * A plain MPI program: it is not linked with libcompcoll and gets it
 * through LD_PRELOAD.  It reads the COMPCOLL_* environment itself to know
 * what the library was asked to do, calls MPI_Allreduce(MPI_FLOAT,
 * MPI_SUM) on random gradients and checks every element on every rank.
 * Every rank gathers every rank's gradient (PMPI_Allgather, invisible to
 * the library) and simulates every rank's error-feedback memory, so it
 * knows the stream each rank contributes:
 *
 *   topk     a = R + g; the k = ceil(n / RATIO) largest |a| (key: the bit
 *            pattern of |a| as uint32, ties to the lower index; chunk: the
 *            arg-max of each chunk [j n / k, (j + 1) n / k)); values a[i]
 *            rounded to COMPCOLL_WIRE_TYPE (round to nearest even) and back;
 *            R <- a, then R[i] <- a[i] - sent[i] where selected.
 *   adacomp  G = R + g, H = G + g; bins of L = COMPCOLL_ADACOMP_BIN (auto:
 *            50 below 65536 elements, else 500); bmax = max |G| of a bin;
 *            scale = (float)(sum_b (double)bmax_b / nbins); selected: every
 *            i with |H[i]| >= bmax of its bin, sent as +-scale by the sign
 *            bit of G[i]; R <- G, then R[i] <- R[i] - sent[i] where selected.
 *
 * and the output of a compressed call is, bit for bit: zeros, then for
 * rank 0 .. p-1, for each element that rank sent in ascending index order,
 * out[i] += value (fp32).  The first COMPCOLL_WARMUP calls on a tensor are
 * dense (sum of R + g over ranks in the transport's order: checked with a
 * tolerance) and clear R.  Calls below COMPCOLL_MIN_COUNT must equal
 * PMPI_Allreduce bit for bit.
 *
 * Also checked: every rank holds the same bits; conservation (sum over
 * calls of the output + sum over ranks of R = sum over calls and ranks of
 * g, within float rounding); and, when COMPCOLL_STATS names a .json file,
 * rank 0 reads it after MPI_Finalize and checks calls_compressed,
 * calls_dense, elements_sent and bytes_sent.  The transport's bytes are
 * modelled exactly: per compressed call, a 16-byte header per rank in an
 * allgather ring ((p - 1) * 16 bytes sent by each rank) and the streams in
 * an allgatherv ring ((p - 1) * sum of the stream sizes over all ranks);
 * a topk stream is k * (4 + wire size) bytes, an adacomp stream
 * 4 + 4 * (elements selected).
 *
 * Each rank reaches a verdict; the verdicts are combined with
 * PMPI_Allreduce(MIN) and rank 0 prints the result and the first failure.
 * Exit status: 0 when every check passed, 1 otherwise, 2 on a usage error.
 *
 * Scenario options (combine freely):
 *   --steps N        steps (default 10); one step = one call per tensor
 *   --fail-call N    the library-handled call number N of each communicator
 *                   (0-based; the job sets COMPCOLL_FAULT for it) must fail
 *                   on every rank with one error class, within 10 s
 *                   (MPI_ERRORS_RETURN); the oracle clears the tensor's
 *                   memory on every rank
 *   --fail-broken    with --fail-call: a transport failure, after which the
 *                   communicator passes its calls to MPI
 *   --count N        elements of tensor A (default 1000)
 *   --count2 N       elements of tensor B (default count * 3 / 2 + 7)
 *   --interleave     tensors A and B alternate on each communicator
 *   --inplace        MPI_IN_PLACE (the gradient lives in recvbuf)
 *   --dup            also run on an MPI_Comm_dup of MPI_COMM_WORLD with the
 *                    same buffers, interleaved with the world calls (its
 *                    own memory)
 *   --ties           gradients are multiples of 1/8 in [-1, 1]: |a| ties
 *                    are frequent
 *   --zeros          on every rank, gradients are exactly zero (-0 on odd
 *                    steps) at every index i with i % 97 == 3 and on the
 *                    run [n/3, n/3 + 120): whole adacomp bins with
 *                    max |G| = 0 (every element selected, +0 sends +scale)
 *   --fresh-odd      the odd ranks of each communicator pass fresh buffers
 *                    every call (none freed), so that COMPCOLL_KEY=address
 *                    gives them a new tensor each time: no memory, and a k
 *                    of the first call of COMPCOLL_RAMP while the even
 *                    ranks' tensors go on (topk: streams of different
 *                    lengths); no conservation check
 *   --seed N         seed of the gradients (default 1)
 *   --quiet          no summary line on success
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mpi.h>

#include "check.h"

enum method { METHOD_TOPK, METHOD_ADACOMP };
enum select { SELECT_EXACT, SELECT_CHUNK, SELECT_SAMPLE };
enum wire { WIRE_FP32, WIRE_FP16, WIRE_BF16 };

/* What the library was told, read back from the environment. */
struct config {
    enum method method;
    enum select select;
    enum wire   wire;
    long        ratio;
    long        min_count;
    long        warmup;
    long        bin; /* 0: auto */
    const char *stats_json; /* NULL unless COMPCOLL_STATS ends in .json */
};

struct options {
    int      steps;
    int      count, count2;
    int      interleave, inplace, dup, ties, zeros, quiet, fresh_odd;
    uint64_t seed;
    long     fail_call; /* -1: none */
    int      fail_broken;
};

/* Per communicator (world, dup): library-handled calls so far, and whether
 * its calls pass through after a transport failure (--fail-broken). */
static long comm_calls[2];
static int  comm_broken[2];

/* One tensor of this program: a communicator, a count, its buffers, and
 * the oracle's copy of every rank's memory for it. */
struct slot {
    const char *name;
    MPI_Comm    comm;
    int         comm_id; /* 0 world, 1 dup */
    int         size;    /* ranks of comm */
    int         count;
    float      *sendbuf, *recvbuf;
    float      *R;       /* size * count: every rank's memory */
    long        calls;   /* library-handled calls so far */
    /* conservation bookkeeping */
    double     *acc_out, *acc_g, *acc_abs;
};

static struct config cfg;
static struct options opt;

/* What the stats JSON must say (every rank computes the same). */
static long     calls_compressed, calls_dense, calls_passthrough;
static uint64_t model_bytes, model_elements;
static long     selected_min = LONG_MAX, selected_max; /* adacomp */

static double worst_rel; /* largest |got - want| / tol seen (dense) */

/* ------------------------------------------------------------ reporting */

static uint32_t bits_of(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    return u;
}

static float float_of(uint32_t u)
{
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

/* ---------------------------------------------------------- environment */

static void read_config(void)
{
    const char *v;
    size_t      len;

    if ((v = env("COMPCOLL_METHOD")) == NULL) {
        die("COMPCOLL_METHOD is not set: this test checks topk or adacomp");
    } else if (strcmp(v, "topk") == 0) {
        cfg.method = METHOD_TOPK;
    } else if (strcmp(v, "adacomp") == 0) {
        cfg.method = METHOD_ADACOMP;
    } else {
        die("COMPCOLL_METHOD=%s: this test knows topk and adacomp", v);
    }
    if ((v = env("COMPCOLL_ENABLE")) != NULL &&
        (strcasecmp(v, "n") == 0 || strcasecmp(v, "no") == 0 ||
         strcmp(v, "0") == 0)) {
        die("COMPCOLL_ENABLE=%s: this test needs the library enabled", v);
    }
    cfg.select = SELECT_SAMPLE; /* the library's default */
    if ((v = env("COMPCOLL_SELECT")) != NULL) {
        cfg.select = strcmp(v, "chunk") == 0    ? SELECT_CHUNK
                     : strcmp(v, "exact") == 0  ? SELECT_EXACT
                                                : SELECT_SAMPLE;
    }
    cfg.wire = WIRE_FP32;
    if ((v = env("COMPCOLL_WIRE_TYPE")) != NULL) {
        cfg.wire = strcmp(v, "fp16") == 0   ? WIRE_FP16
                   : strcmp(v, "bf16") == 0 ? WIRE_BF16
                                            : WIRE_FP32;
    }
    if ((v = env("COMPCOLL_KEY")) != NULL && strcmp(v, "address") != 0) {
        die("COMPCOLL_KEY=%s: this test models KEY=address only", v);
    }
    cfg.ratio     = env_long("COMPCOLL_RATIO", 100);
    cfg.min_count = env_long("COMPCOLL_MIN_COUNT", 8192);
    cfg.warmup    = env_long("COMPCOLL_WARMUP", 0);
    cfg.bin       = 0;
    if ((v = env("COMPCOLL_ADACOMP_BIN")) != NULL && strcmp(v, "auto") != 0) {
        cfg.bin = strtol(v, NULL, 10);
        if (cfg.bin < 1) {
            die("COMPCOLL_ADACOMP_BIN=%s out of range; the library should "
                "have refused it at MPI_Init", v);
        }
    }
    if (cfg.ratio < 1 || cfg.min_count < 1 || cfg.warmup < 0) {
        die("COMPCOLL_* values out of range; the library should have "
            "refused them at MPI_Init");
    }
    cfg.stats_json = NULL;
    if ((v = env("COMPCOLL_STATS")) != NULL && (len = strlen(v)) > 5 &&
        strcmp(v + len - 5, ".json") == 0) {
        cfg.stats_json = v;
    }
}

/* -------------------------------------------------------------- options */

static void parse_options(int argc, char **argv)
{
    int i;

    opt.steps  = 10;
    opt.count  = 1000;
    opt.count2 = -1;
    opt.seed   = 1;
    opt.fail_call = -1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--steps") == 0) {
            opt.steps = (int)arg_long(argc, argv, &i, 1, 100000);
        } else if (strcmp(a, "--count") == 0) {
            opt.count = (int)arg_long(argc, argv, &i, 1, 1 << 26);
        } else if (strcmp(a, "--count2") == 0) {
            opt.count2 = (int)arg_long(argc, argv, &i, 1, 1 << 26);
        } else if (strcmp(a, "--seed") == 0) {
            opt.seed = (uint64_t)arg_long(argc, argv, &i, 0, LONG_MAX);
        } else if (strcmp(a, "--interleave") == 0) {
            opt.interleave = 1;
        } else if (strcmp(a, "--inplace") == 0) {
            opt.inplace = 1;
        } else if (strcmp(a, "--dup") == 0) {
            opt.dup = 1;
        } else if (strcmp(a, "--ties") == 0) {
            opt.ties = 1;
        } else if (strcmp(a, "--zeros") == 0) {
            opt.zeros = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            opt.quiet = 1;
        } else if (strcmp(a, "--fresh-odd") == 0) {
            opt.fresh_odd = 1;
        } else if (strcmp(a, "--fail-call") == 0) {
            opt.fail_call = arg_long(argc, argv, &i, 0, LONG_MAX);
        } else if (strcmp(a, "--fail-broken") == 0) {
            opt.fail_broken = 1;
        } else {
            die("unknown option %s", a);
        }
    }
    if (opt.count2 < 0) {
        opt.count2 = opt.count * 3 / 2 + 7;
    }
}

/* ------------------------------------------------------------ gradients */

/*
 * Per (world rank, step, slot): uniform in [-1, 1] with one element in 64
 * scaled by 16 and one in 512 by 256, never zero; or with --ties, +-j/8
 * for j in 1..8.  --zeros then zeroes fixed indices.
 */
static void make_gradient(float *g, int n, int step, int slot)
{
    uint64_t s = opt.seed * 0x2545f4914f6cdd1dull;
    int      i;

    s ^= (uint64_t)(world_rank + 1) * 0x9e3779b97f4a7c15ull;
    s ^= (uint64_t)(step + 1) * 0xbf58476d1ce4e5b9ull;
    s ^= (uint64_t)(slot + 1) * 0x94d049bb133111ebull;
    splitmix64(&s);
    for (i = 0; i < n; i++) {
        uint64_t x = splitmix64(&s);

        if (opt.ties) {
            float v = (float)((x >> 61) + 1) / 8.0f;

            g[i] = (x & 1) ? -v : v;
        } else {
            double v = 2.0 * (double)(x >> 11) * 0x1p-53 - 1.0;

            if (fabs(v) < 1e-6) {
                v = 0.75;
            }
            if ((x & 63) == 0) {
                v *= 16.0;
            }
            if ((x & 511) == 1) {
                v *= 256.0;
            }
            g[i] = (float)v;
        }
        if (opt.zeros && (i % 97 == 3 || (i >= n / 3 && i < n / 3 + 120))) {
            g[i] = (step & 1) ? -0.0f : 0.0f;
        }
    }
}

/* ------------------------------------------------------------ wire types */

/* fp32 -> IEEE binary16 bits, round to nearest even; overflow to inf. */
static uint16_t fp16_encode(float f)
{
    uint32_t u    = bits_of(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a    = u & 0x7fffffffu;
    int      e;
    uint32_t m, q, r, half;

    if (a >= 0x7f800000u) { /* inf, nan */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0));
    }
    e = (int)(a >> 23) - 127; /* unbiased */
    if (e > 15) {
        return (uint16_t)(sign | 0x7c00u);
    }
    if (e >= -14) { /* normal in fp16 (may round up into the next binade) */
        m = a & 0x7fffffu;
        q = ((uint32_t)(e + 15) << 10) | (m >> 13);
        r = m & 0x1fffu;
        if (r > 0x1000u || (r == 0x1000u && (q & 1u))) {
            q++; /* carries into the exponent, up to inf */
        }
        return (uint16_t)(sign | q);
    }
    /* subnormal in fp16: value = q * 2^-24 */
    if (e < -25) {
        return sign; /* below half the smallest subnormal */
    }
    m    = (a & 0x7fffffu) | 0x800000u; /* value = m * 2^(e - 23) */
    {
        int shift = -1 - e; /* q = m >> (e - 23 + 24 ... ) */

        /* value / 2^-24 = m * 2^(e - 23 + 24) = m >> (-1 - e) */
        q    = m >> shift;
        r    = m & ((1u << shift) - 1u);
        half = 1u << (shift - 1);
    }
    if (r > half || (r == half && (q & 1u))) {
        q++;
    }
    return (uint16_t)(sign | q);
}

static float fp16_decode(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e    = (h >> 10) & 0x1fu;
    uint32_t m    = h & 0x3ffu;

    if (e == 0x1f) {
        return float_of(sign | 0x7f800000u | (m << 13));
    }
    if (e == 0) { /* zero or subnormal: m * 2^-24, exact in fp32 */
        float v = (float)m * 0x1p-24f;

        return sign ? -v : v;
    }
    return float_of(sign | ((e + 112u) << 23) | (m << 13));
}

/* fp32 -> bf16 bits, round to nearest even. */
static uint16_t bf16_encode(float f)
{
    uint32_t u = bits_of(f);

    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((u >> 16) | 0x40u); /* quiet nan */
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float bf16_decode(uint16_t b)
{
    return float_of((uint32_t)b << 16);
}

/* What a value is after a trip over the wire. */
static float wire_trip(float v)
{
    switch (cfg.wire) {
    case WIRE_FP16: return fp16_decode(fp16_encode(v));
    case WIRE_BF16: return bf16_decode(bf16_encode(v));
    default: return v;
    }
}

static int wire_size(void)
{
    return cfg.wire == WIRE_FP32 ? 4 : 2;
}

/* The encoders against the compiler's _Float16 and a direct RNE: a
 * broken oracle must not blame the library. */
static void self_test_wire(void)
{
    uint64_t s = 12345;
    long     i, bad = 0;

    for (i = 0; i < 2000000 && bad < 3; i++) {
        uint32_t u;
        float    f;

        if (i < 131072) { /* every fp16 value and its midpoints */
            u = (uint32_t)i;
            f = fp16_decode((uint16_t)(u >> 1));
            if (u & 1) {
                uint32_t b = bits_of(f) & 0x7fffffffu;

                if (b >= 0x7f800000u) {
                    continue;
                }
                f = float_of(bits_of(f) + 0x1000u); /* halfway up */
            }
        } else {
            u = (uint32_t)splitmix64(&s);
            f = float_of(u);
        }
        if (isnan(f)) {
            continue;
        }
#if defined(__FLT16_MAX__)
        {
            _Float16 h  = (_Float16)f;
            uint16_t hb;

            memcpy(&hb, &h, 2);
            if (hb != fp16_encode(f) && !(isnan((float)h))) {
                fprintf(stderr,
                        "# sparse_check: oracle fp16 encoder: %a -> 0x%04x, "
                        "_Float16 gives 0x%04x\n",
                        (double)f, fp16_encode(f), hb);
                bad++;
            }
            if (bits_of(fp16_decode(hb)) != bits_of((float)h)) {
                fprintf(stderr, "# sparse_check: oracle fp16 decoder: 0x%04x\n",
                        hb);
                bad++;
            }
        }
#endif
        {
            /* bf16: nearest even by exact arithmetic in double */
            double   x  = (double)f;
            float    lo = float_of(bits_of(f) & 0xffff0000u);
            float    hi;
            double   dl, dh;
            uint32_t want;

            if ((bits_of(f) & 0x7fffffffu) >= 0x7f7f0000u) {
                continue; /* rounds to inf or is not finite */
            }
            hi = float_of((bits_of(f) & 0xffff0000u) + 0x10000u);
            dl = fabs(x - (double)lo);
            dh = fabs((double)hi - x);
            if (dl < dh || (dl == dh && ((bits_of(lo) >> 16) & 1u) == 0)) {
                want = bits_of(lo) >> 16;
            } else {
                want = bits_of(hi) >> 16;
            }
            if (want != bf16_encode(f)) {
                fprintf(stderr,
                        "# sparse_check: oracle bf16 encoder: %a -> 0x%04x, "
                        "want 0x%04x\n",
                        (double)f, bf16_encode(f), (unsigned)want);
                bad++;
            }
        }
    }
    if (bad) {
        die("the oracle's own wire encoding is wrong; fix the test");
    }
}

/* --------------------------------------------------------------- oracle */

static const uint32_t *sort_keys;

/* Larger key first; on equal keys the lower index first. */
static int by_key_desc(const void *x, const void *y)
{
    int      i = *(const int *)x, j = *(const int *)y;
    uint32_t ki = sort_keys[i], kj = sort_keys[j];

    if (ki != kj) {
        return ki > kj ? -1 : 1;
    }
    return (i > j) - (i < j);
}

/* topk's selection from a: marks in_set[i]; keys and order: scratch of n. */
static void topk_select(const float *a, int n, int k, unsigned char *in_set,
                        uint32_t *keys, int *order)
{
    int i, j;

    for (i = 0; i < n; i++) {
        in_set[i] = 0;
        keys[i]   = bits_of(a[i]) & 0x7fffffffu;
    }
    if (cfg.select == SELECT_CHUNK) {
        for (j = 0; j < k; j++) {
            int lo   = (int)((int64_t)j * n / k);
            int hi   = (int)((int64_t)(j + 1) * n / k);
            int best = lo;

            for (i = lo + 1; i < hi; i++) {
                if (keys[i] > keys[best]) {
                    best = i;
                }
            }
            if (lo < hi) {
                in_set[best] = 1;
            }
        }
        return;
    }
    /* exact, and sample (whose result must equal the exact set) */
    for (i = 0; i < n; i++) {
        order[i] = i;
    }
    sort_keys = keys;
    qsort(order, (size_t)n, sizeof(int), by_key_desc);
    for (i = 0; i < k; i++) {
        in_set[order[i]] = 1;
    }
}

static int adacomp_bin(int n)
{
    return cfg.bin > 0 ? (int)cfg.bin : (n < 65536 ? 50 : 500);
}

struct scratch {
    float         *g_all;   /* size * n: every rank's gradient */
    float         *val;     /* size * n: value rank r sends for i (if sel) */
    unsigned char *sel;     /* size * n: rank r sends i */
    float         *want;    /* n: the exact output */
    double        *dwant, *tol; /* n: dense calls */
    float         *pmpi;    /* n: passthrough */
    float         *bmax;    /* bins */
    uint32_t      *keys, *bits_min, *bits_max;
    int           *order;
    float          scale[64];
    long           nsel[64];
    size_t         cap, cap_all;
};

static void scratch_reserve(struct scratch *s, int n, int size)
{
    size_t all = (size_t)n * (size_t)size;

    if (size > 64) {
        die("more than 64 ranks: not supported by this test");
    }
    if ((size_t)n > s->cap) {
        free(s->want), free(s->dwant), free(s->tol), free(s->pmpi);
        free(s->bmax), free(s->keys), free(s->bits_min), free(s->bits_max);
        free(s->order);
        s->cap      = (size_t)n;
        s->want     = xmalloc(s->cap * sizeof(float));
        s->dwant    = xmalloc(s->cap * sizeof(double));
        s->tol      = xmalloc(s->cap * sizeof(double));
        s->pmpi     = xmalloc(s->cap * sizeof(float));
        s->bmax     = xmalloc(s->cap * sizeof(float));
        s->keys     = xmalloc(s->cap * sizeof(uint32_t));
        s->bits_min = xmalloc(s->cap * sizeof(uint32_t));
        s->bits_max = xmalloc(s->cap * sizeof(uint32_t));
        s->order    = xmalloc(s->cap * sizeof(int));
    }
    if (all > s->cap_all) {
        free(s->g_all), free(s->val), free(s->sel);
        s->cap_all = all;
        s->g_all   = xmalloc(all * sizeof(float));
        s->val     = xmalloc(all * sizeof(float));
        s->sel     = xmalloc(all);
    }
}

/*
 * One rank's compressed contribution: fills sel/val (n each) and updates
 * its memory R in place; returns its stream size in bytes.
 */
static uint64_t topk_rank(float *R, const float *g, int n, long calls,
                          unsigned char *sel, float *val, struct scratch *s,
                          long *nsel)
{
    const int k = (int)check_k(n, calls);
    float    *a = val; /* a first, then the values sent */
    int       i;

    for (i = 0; i < n; i++) {
        a[i] = R[i] + g[i];
    }
    topk_select(a, n, k, sel, s->keys, s->order);
    for (i = 0; i < n; i++) {
        if (sel[i]) {
            float sent = wire_trip(a[i]);

            R[i]   = a[i] - sent;
            val[i] = sent;
        } else {
            R[i] = a[i];
        }
    }
    *nsel = k;
    return (uint64_t)k * (uint64_t)(4 + wire_size());
}

static uint64_t adacomp_rank(float *R, const float *g, int n,
                             unsigned char *sel, float *val, struct scratch *s,
                             long *nsel, float *scale_out)
{
    const int L     = adacomp_bin(n);
    const int nbins = (n + L - 1) / L;
    double    sum   = 0.0;
    float     scale;
    long      cnt = 0;
    int       b, i;

    /* G = R + g, kept in R; the bins' max |G| */
    for (b = 0; b < nbins; b++) {
        int   lo = b * L, hi = lo + L < n ? lo + L : n;
        float m  = 0.0f;

        for (i = lo; i < hi; i++) {
            float G = R[i] + g[i];

            R[i] = G;
            if (fabsf(G) > m) {
                m = fabsf(G);
            }
        }
        s->bmax[b] = m;
        sum += (double)m;
    }
    scale      = (float)(sum / (double)nbins);
    *scale_out = scale;
    for (b = 0; b < nbins; b++) {
        int lo = b * L, hi = lo + L < n ? lo + L : n;

        for (i = lo; i < hi; i++) {
            float G = R[i];
            float H = G + g[i];

            sel[i] = fabsf(H) >= s->bmax[b];
            if (sel[i]) {
                float sent = signbit(G) ? -scale : scale;

                val[i] = sent;
                R[i]   = G - sent;
                cnt++;
            }
        }
    }
    *nsel = cnt;
    return 4u + 4u * (uint64_t)cnt;
}

/* --------------------------------------------------------- one call */

static void explain_element(const struct slot *sl, const struct scratch *s,
                            int i)
{
    int r;

    for (r = 0; r < sl->size && r < 8; r++) {
        size_t o = (size_t)r * sl->count + i;

        if (s->sel[o]) {
            fprintf(stderr,
                    "# rank %d:   oracle: rank %d sends index %d: %.9g "
                    "(0x%08" PRIx32 ")%s\n",
                    world_rank, r, i, s->val[o], bits_of(s->val[o]),
                    cfg.method == METHOD_ADACOMP ? " (+-scale)" : "");
        } else {
            fprintf(stderr,
                    "# rank %d:   oracle: rank %d does not send index %d\n",
                    world_rank, r, i);
        }
    }
    if (cfg.method == METHOD_ADACOMP) {
        for (r = 0; r < sl->size && r < 8; r++) {
            fprintf(stderr,
                    "# rank %d:   oracle: rank %d scale %.9g (0x%08" PRIx32
                    "), %ld elements selected, bin %d\n",
                    world_rank, r, s->scale[r], bits_of(s->scale[r]),
                    s->nsel[r], adacomp_bin(sl->count));
        }
    }
}

static void do_call(struct slot *sl, int slot_idx, int step,
                    struct scratch *s)
{
    const int n    = sl->count;
    const int size = sl->size;
    const int inpl = opt.inplace;
    float    *grad;
    int       handled, dense, rc, i, r, me, failing, cls;
    double    t0, dt_max;
    char      buf[256];
    const char *why;

    scratch_reserve(s, n, size);
    PMPI_Comm_rank(sl->comm, &me);
    if (opt.fresh_odd && me % 2 == 1) {
        /* the old ones stay allocated: no address comes back */
        sl->sendbuf = xmalloc((size_t)n * sizeof(float));
        sl->recvbuf = xmalloc((size_t)n * sizeof(float));
    }
    grad = inpl ? sl->recvbuf : sl->sendbuf;
    make_gradient(grad, n, step, slot_idx);
    if (!inpl) {
        for (i = 0; i < n; i++) {
            sl->recvbuf[i] = -777.0f; /* must all be overwritten */
        }
    }
    PMPI_Allgather(grad, n, MPI_FLOAT, s->g_all, n, MPI_FLOAT, sl->comm);

    /* a one-rank communicator passes through: its sum is its input */
    handled = n >= cfg.min_count && size > 1 && !comm_broken[sl->comm_id];
    failing = handled && comm_calls[sl->comm_id] == opt.fail_call;
    if (!handled) {
        PMPI_Allreduce(grad, s->pmpi, n, MPI_FLOAT, MPI_SUM, sl->comm);
    }
    t0 = MPI_Wtime();
    rc = MPI_Allreduce(inpl ? MPI_IN_PLACE : sl->sendbuf, sl->recvbuf, n,
                       MPI_FLOAT, MPI_SUM, sl->comm);
    if (rc != MPI_SUCCESS && !failing) {
        fail("step %d %s: MPI_Allreduce returned %d", step, sl->name, rc);
    }
    if (failing) {
        /* every rank fails alike, in bounded time; the memories are
         * cleared everywhere and the call counts on its tensor */
        why = check_failed_alike(rc, MPI_Wtime() - t0, sl->comm, &cls,
                                 &dt_max, buf, sizeof(buf));
        if (why != NULL) {
            fail("step %d %s (comm %d), call %ld: %s", step, sl->name,
                 sl->comm_id, comm_calls[sl->comm_id], why);
        }
        memset(sl->R, 0, (size_t)n * size * sizeof(float));
        sl->calls++;
        comm_calls[sl->comm_id]++;
        comm_broken[sl->comm_id] = opt.fail_broken;
        sl->acc_out = NULL; /* the residual is gone: no conservation */
        return;
    }
    if (handled) {
        comm_calls[sl->comm_id]++;
    }

    if (!handled) {
        calls_passthrough++;
        if (memcmp(sl->recvbuf, s->pmpi, (size_t)n * sizeof(float)) != 0) {
            for (i = 0; i < n && memcmp(&sl->recvbuf[i], &s->pmpi[i], 4) == 0;
                 i++) {
            }
            fail("step %d %s (n=%d, passthrough): not bit-identical to "
                 "PMPI_Allreduce; first at index %d: got %.9g, want %.9g",
                 step, sl->name, n, i, sl->recvbuf[i], s->pmpi[i]);
        }
        return;
    }

    /* a rank in warm-up makes the call dense; the odd ranks' tensors of
     * --fresh-odd are new every call, with no memory */
    dense = sl->calls < cfg.warmup || (opt.fresh_odd && cfg.warmup > 0);
    sl->calls++;
    for (r = 1; opt.fresh_odd && r < size; r += 2) {
        memset(sl->R + (size_t)r * n, 0, (size_t)n * sizeof(float));
    }

    if (dense) {
        /* out = sum over ranks of (R + g), any order; R <- 0 */
        calls_dense++;
        for (i = 0; i < n; i++) {
            double sum = 0.0, abs = 0.0;

            for (r = 0; r < size; r++) {
                size_t o = (size_t)r * n + i;
                double v = (double)(sl->R[o] + s->g_all[o]);

                sum += v;
                abs += fabs(v);
            }
            s->dwant[i] = sum;
            s->tol[i]   = size * FLT_EPSILON * abs + 1e-30;
            if (sl->acc_abs) {
                sl->acc_abs[i] += abs;
            }
        }
        memset(sl->R, 0, (size_t)n * size * sizeof(float));
        {
            int bad = 0, first = -1;

            for (i = 0; i < n; i++) {
                float  got = sl->recvbuf[i];
                double d   = fabs((double)got - s->dwant[i]);

                if (!isfinite(got) || !(d <= s->tol[i])) {
                    if (first < 0) {
                        first = i;
                    }
                    bad++;
                } else if (d / s->tol[i] > worst_rel) {
                    worst_rel = d / s->tol[i];
                }
            }
            if (bad) {
                fail("step %d %s (comm %d, n=%d, dense warm-up call %ld of "
                     "%ld): %d wrong elements; first at index %d: got %.9g, "
                     "want %.9g (tolerance %.3g)",
                     step, sl->name, sl->comm_id, n, sl->calls, cfg.warmup,
                     bad, first, sl->recvbuf[first], s->dwant[first],
                     s->tol[first]);
            }
        }
    } else {
        /* every rank's stream, then the sum in rank order */
        calls_compressed++;
        {
            uint64_t streams = 0;
            long     elems   = 0;

            for (r = 0; r < size; r++) {
                float         *R   = sl->R + (size_t)r * n;
                const float   *g   = s->g_all + (size_t)r * n;
                unsigned char *sel = s->sel + (size_t)r * n;
                float         *val = s->val + (size_t)r * n;

                s->scale[r] = 0.0f;
                if (cfg.method == METHOD_TOPK) {
                    const long calls =
                        (opt.fresh_odd && r % 2 == 1) ? 0 : sl->calls - 1;

                    streams += topk_rank(R, g, n, calls, sel, val, s,
                                         &s->nsel[r]);
                } else {
                    streams += adacomp_rank(R, g, n, sel, val, s,
                                            &s->nsel[r], &s->scale[r]);
                    if (s->nsel[r] < selected_min) {
                        selected_min = s->nsel[r];
                    }
                    if (s->nsel[r] > selected_max) {
                        selected_max = s->nsel[r];
                    }
                }
                elems += s->nsel[r];
            }
            model_bytes += (uint64_t)(size - 1) *
                           (16u * (uint64_t)size + streams);
            model_elements += (uint64_t)elems;
        }
        for (i = 0; i < n; i++) {
            s->want[i] = 0.0f;
        }
        for (r = 0; r < size; r++) {
            const unsigned char *sel = s->sel + (size_t)r * n;
            const float         *val = s->val + (size_t)r * n;

            for (i = 0; i < n; i++) {
                if (sel[i]) {
                    s->want[i] += val[i];
                }
            }
        }
        if (sl->acc_abs) {
            for (i = 0; i < n; i++) {
                double abs = 0.0;

                for (r = 0; r < size; r++) {
                    size_t o = (size_t)r * n + i;

                    /* |G| (or |a|) ~ |R_new| + |sent| */
                    abs += fabs((double)sl->R[o]) + fabs((double)s->g_all[o]);
                    if (s->sel[o]) {
                        abs += (size + 1) * fabs((double)s->val[o]);
                    }
                }
                sl->acc_abs[i] += abs;
            }
        }
        {
            int bad = 0, first = -1, bad_zero = 0;

            for (i = 0; i < n; i++) {
                if (bits_of(sl->recvbuf[i]) != bits_of(s->want[i])) {
                    if (first < 0) {
                        first = i;
                    }
                    bad++;
                    if ((sl->recvbuf[i] == 0.0f) != (s->want[i] == 0.0f)) {
                        bad_zero++;
                    }
                }
            }
            if (bad) {
                fail("step %d %s (comm %d, n=%d, compressed call %ld): %d "
                     "elements not bit-exact (%d of them zero on one side "
                     "only); first at index %d: got %.9g (0x%08" PRIx32
                     "), want %.9g (0x%08" PRIx32 ")",
                     step, sl->name, sl->comm_id, n, sl->calls, bad, bad_zero,
                     first, sl->recvbuf[first], bits_of(sl->recvbuf[first]),
                     s->want[first], bits_of(s->want[first]));
                if (n_fail <= 2) {
                    explain_element(sl, s, first);
                }
            }
        }
    }

    /* ---- every rank holds the same bits ---- */
    PMPI_Allreduce(sl->recvbuf, s->bits_min, n, MPI_UINT32_T, MPI_MIN,
                   sl->comm);
    PMPI_Allreduce(sl->recvbuf, s->bits_max, n, MPI_UINT32_T, MPI_MAX,
                   sl->comm);
    for (i = 0; i < n && s->bits_min[i] == s->bits_max[i]; i++) {
    }
    if (i < n) {
        fail("step %d %s (n=%d): ranks disagree; first at index %d: bit "
             "patterns 0x%08" PRIx32 " (%.9g) .. 0x%08" PRIx32 " (%.9g)",
             step, sl->name, n, i, s->bits_min[i], float_of(s->bits_min[i]),
             s->bits_max[i], float_of(s->bits_max[i]));
    }

    /* ---- conservation accumulators ---- */
    if (sl->acc_out) {
        for (i = 0; i < n; i++) {
            double gs = 0.0;

            for (r = 0; r < size; r++) {
                gs += s->g_all[(size_t)r * n + i];
            }
            sl->acc_g[i] += gs;
            sl->acc_out[i] += sl->recvbuf[i];
        }
    }
}

/* sum of outputs + sum of memories = sum of gradients, per element. */
static void check_conservation(const struct slot *sl)
{
    const int n = sl->count;
    int       i, r, bad = 0, first = -1;
    double    first_m = 0, first_tol = 0;

    if (!sl->acc_out || sl->calls == 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        double msum = 0.0, mabs = 0.0, lhs, tol;

        for (r = 0; r < sl->size; r++) {
            double m = sl->R[(size_t)r * n + i];

            msum += m;
            mabs += fabs(m);
        }
        lhs = sl->acc_out[i] + msum;
        tol = (sl->size + 2) * FLT_EPSILON * (sl->acc_abs[i] + mabs) + 1e-30;
        if (!(fabs(lhs - sl->acc_g[i]) <= tol)) {
            if (first < 0) {
                first     = i;
                first_m   = msum;
                first_tol = tol;
            }
            bad++;
        }
    }
    if (bad) {
        fail("conservation, tensor %s (n=%d): %d elements off; first at "
             "index %d: sum(out)=%.9g + sum(R)=%.9g != sum(g)=%.9g "
             "(tolerance %.3g)",
             sl->name, n, bad, first, sl->acc_out[first], first_m,
             sl->acc_g[first], first_tol);
    }
}

/* ------------------------------------------------------------ stats JSON */

static int json_u64(const char *text, const char *key, unsigned long long *v)
{
    char        pat[128];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\"", key);
    if ((p = strstr(text, pat)) == NULL) {
        return 0;
    }
    p += strlen(pat);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
        p++;
    }
    if (*p != ':') {
        return 0;
    }
    p++;
    return sscanf(p, " %llu", v) == 1;
}

/* Rank 0, after MPI_Finalize: the JSON the library wrote.  0 when right. */
static int check_stats_json(void)
{
    FILE              *f;
    char              *text;
    long               len;
    int                bad = 0;
    unsigned long long v;
    const char        *method = cfg.method == METHOD_TOPK ? "topk" : "adacomp";
    char               pat[64];
    struct {
        const char        *key;
        unsigned long long want;
        int                exact; /* else a lower bound */
    } want[4];
    int i;

    f = fopen(cfg.stats_json, "r");
    if (f == NULL) {
        printf("# sparse_check: FAILED: COMPCOLL_STATS=%s was not written at "
               "MPI_Finalize: %s\n",
               cfg.stats_json, strerror(errno));
        return 1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = xmalloc((size_t)len + 1);
    len  = (long)fread(text, 1, (size_t)len, f);
    text[len] = '\0';
    fclose(f);

    snprintf(pat, sizeof(pat), "\"method\": \"%s\"", method);
    if (strstr(text, pat) == NULL) {
        printf("# sparse_check: FAILED: stats JSON lacks %s\n", pat);
        bad++;
    }
    /* A transport that could not be set up falls back to mpi with a
     * warning (documented); the bytes are modelled the same way, but say
     * so: the case did not test the transport it names. */
    snprintf(pat, sizeof(pat), "\"transport\": \"%s\"",
             env("COMPCOLL_TRANSPORT") ? env("COMPCOLL_TRANSPORT") : "ucx");
    if (strstr(text, pat) == NULL) {
        printf("# sparse_check: note: stats JSON lacks %s (transport "
               "fallback?)\n", pat);
    }
    /* Dense warm-up calls go by a dense all-reduce whose bytes this test
     * does not model: with warm-up the compressed calls' bytes are a lower
     * bound. */
    want[0].key   = "calls_compressed";
    want[0].want  = (unsigned long long)calls_compressed;
    want[0].exact = 1;
    want[1].key   = "calls_dense";
    want[1].want  = (unsigned long long)calls_dense;
    want[1].exact = 1;
    want[2].key   = "elements_sent";
    want[2].want  = (unsigned long long)model_elements;
    want[2].exact = calls_dense == 0;
    want[3].key   = "bytes_sent";
    want[3].want  = (unsigned long long)model_bytes;
    want[3].exact = calls_dense == 0;
    for (i = 0; i < 4; i++) {
        if (!json_u64(text, want[i].key, &v)) {
            printf("# sparse_check: FAILED: stats JSON: no numeric \"%s\"\n",
                   want[i].key);
            bad++;
        } else if (want[i].exact ? v != want[i].want : v < want[i].want) {
            printf("# sparse_check: FAILED: stats JSON: %s = %llu, want "
                   "%s%llu (P=%d, %ld compressed and %ld dense calls per "
                   "rank)\n",
                   want[i].key, v, want[i].exact ? "" : "at least ",
                   want[i].want, world_size, calls_compressed, calls_dense);
            bad++;
        } else if (!opt.quiet) {
            printf("# stats JSON: %s = %llu (%s %llu)\n", want[i].key, v,
                   want[i].exact ? "exactly as modelled:" : "modelled >=",
                   want[i].want);
        }
    }
    free(text);
    return bad != 0;
}

/* ----------------------------------------------------------------- main */

static void slot_init(struct slot *sl, const char *name, MPI_Comm comm,
                      int comm_id, int count, const struct slot *share)
{
    memset(sl, 0, sizeof(*sl));
    sl->name    = name;
    sl->comm    = comm;
    sl->comm_id = comm_id;
    sl->count   = count;
    PMPI_Comm_size(comm, &sl->size);
    if (share != NULL) {
        sl->sendbuf = share->sendbuf;
        sl->recvbuf = share->recvbuf;
    } else {
        sl->sendbuf = xmalloc((size_t)count * sizeof(float));
        sl->recvbuf = xmalloc((size_t)count * sizeof(float));
    }
    sl->R       = xcalloc((size_t)count * sl->size, sizeof(float));
    if (opt.fresh_odd) {
        return; /* the odd ranks' residuals are left behind every call */
    }
    sl->acc_out = xcalloc((size_t)count, sizeof(double));
    sl->acc_g   = xcalloc((size_t)count, sizeof(double));
    sl->acc_abs = xcalloc((size_t)count, sizeof(double));
}

int main(int argc, char **argv)
{
    struct slot    slots[4];
    int            n_slots = 0;
    struct scratch s;
    MPI_Comm       dup = MPI_COMM_NULL;
    int            step, j, all_ok, who, stats_bad = 0;

    check_name = "sparse_check";
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "sparse_check: MPI_Init failed\n");
        return 2;
    }
    PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &world_size);
    read_config();
    parse_options(argc, argv);
    if (cfg.method == METHOD_TOPK && cfg.wire != WIRE_FP32) {
        self_test_wire();
    }
    memset(&s, 0, sizeof(s));

    if (opt.fail_call >= 0) {
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    if (opt.dup && MPI_Comm_dup(MPI_COMM_WORLD, &dup) != MPI_SUCCESS) {
        die("MPI_Comm_dup failed");
    }
    /* Tensors, in the order of the calls of one step. */
    slot_init(&slots[n_slots++], "A@world", MPI_COMM_WORLD, 0, opt.count,
              NULL);
    if (opt.dup) {
        slot_init(&slots[n_slots++], "A@dup", dup, 1, opt.count, &slots[0]);
    }
    if (opt.interleave) {
        int b = n_slots;

        slot_init(&slots[n_slots++], "B@world", MPI_COMM_WORLD, 0,
                  opt.count2, NULL);
        if (opt.dup) {
            slot_init(&slots[n_slots++], "B@dup", dup, 1, opt.count2,
                      &slots[b]);
        }
    }

    for (step = 0; step < opt.steps; step++) {
        for (j = 0; j < n_slots; j++) {
            do_call(&slots[j], j, step, &s);
        }
    }
    for (j = 0; j < n_slots; j++) {
        check_conservation(&slots[j]);
    }

    /* Verdict: every rank's, and rank 0 shows the lowest failing rank's. */
    all_ok = check_verdict(&who);
    if (world_rank == 0) {
        if (all_ok) {
            if (!opt.quiet) {
                printf("# sparse_check: ok: %s, P=%d, %ld compressed, %ld "
                       "dense, %ld passthrough calls per rank; worst dense "
                       "error %.2f of tolerance",
                       cfg.method == METHOD_TOPK ? "topk" : "adacomp",
                       world_size, calls_compressed, calls_dense,
                       calls_passthrough, worst_rel);
                if (cfg.method == METHOD_ADACOMP && selected_max > 0) {
                    printf("; %ld..%ld elements selected per rank and call",
                           selected_min, selected_max);
                }
                printf("\n");
            }
        } else {
            printf("# sparse_check: FAILED (P=%d); first failure on rank "
                   "%d: %s\n",
                   world_size, who, first_fail);
        }
        fflush(stdout);
    }

    if (dup != MPI_COMM_NULL) {
        MPI_Comm_free(&dup);
    }
    MPI_Finalize();
    /* The JSON appears at MPI_Finalize. */
    if (world_rank == 0 && cfg.stats_json != NULL) {
        stats_bad = check_stats_json();
        fflush(stdout);
    }
    return all_ok && !stats_bad ? 0 : 1;
}
