/*
 * tests/mpi/scalecom_check.c: ScaleCom all-reduce against an independent
 * re-computation of the method (DESIGN.md section 2).
 *
 * A plain MPI program: it is not linked with libcompcoll and gets it
 * through LD_PRELOAD.  It reads the COMPCOLL_* environment itself to know
 * what the library was asked to do, calls MPI_Allreduce(MPI_FLOAT,
 * MPI_SUM) on random gradients, and checks every element on every rank
 * against an oracle that keeps every rank's error-feedback memory and the
 * leader rotation of every communicator.  The oracle's traffic goes through
 * PMPI_* only, so the library never sees it.
 *
 * Each rank reaches a verdict; the verdicts are combined with
 * PMPI_Allreduce(MIN) and rank 0 prints the result and the first failure.
 * Exit status: 0 when every check passed, 1 otherwise.
 *
 * Scenario options (combine freely):
 *   --steps N        steps (default 10); one step = one call per tensor
 *   --count N        elements of tensor A (default 1000)
 *   --count2 N       elements of tensor B (default count * 3 / 2 + 7; equal
 *                    to --count: a step that begins with two tensors of
 *                    one size, as query and key projections)
 *   --interleave     tensors A and B alternate on each communicator
 *   --third          with --interleave: a third tensor C with B's count
 *                    after B (KEY=sequence must tell B and C apart by
 *                    position)
 *   --inplace        MPI_IN_PLACE (the gradient lives in recvbuf)
 *   --dup            also run on an MPI_Comm_dup of MPI_COMM_WORLD with the
 *                    same buffers, interleaved with the world calls
 *   --redup          with --dup: free the dup'ed communicator half-way and
 *                    dup again; the new one starts from scratch
 *   --split          also run on a PMPI_Comm_split of MPI_COMM_WORLD
 *                    (even/odd world ranks, reversed order)
 *   --fresh-odd      --fresh on the odd world ranks only: the ranks' tensor
 *                    histories differ (with COMPCOLL_WARMUP, a call the
 *                    leader makes dense can find the others past warm-up)
 *   --fresh          a fresh malloc'ed buffer for every call (none freed
 *                    before the end, so every address is new)
 *   --small N        also make one call of N elements (below
 *                    COMPCOLL_MIN_COUNT: passthrough, checked bit-exact)
 *                    per step on MPI_COMM_WORLD
 *   --no-memory      the library is expected to hold no error-feedback
 *                    memory (COMPCOLL_MAX_MEMORY smaller than any tensor):
 *                    every call it handles is a dense sum
 *   --ties           gradients are small multiples of 1/8, so that |a| ties
 *                    are frequent and every float operation is exact
 *   --skewed         the second half of every gradient is 1024 times
 *                    smaller, so the leaders' picks crowd into the first
 *                    half (pipelined pieces over the second half are empty)
 *   --swap-odd       on the odd world ranks, tensors A and B (of one
 *                    count) exchange their buffers every step: with
 *                    COMPCOLL_KEY=address the ranks' memories follow the
 *                    buffers, not the tensors
 *   --realloc        every step, each tensor's buffers are given back and
 *                    taken anew from a last-in-first-out pool per size, as
 *                    malloc does: a tensor whose count another shares gets
 *                    the other's buffer of the step before (with
 *                    COMPCOLL_KEY=auto the memories follow the tensors)
 *   --checksum       print a hash of every output of every rank, to compare
 *                    runs that must give the same bits
 *   --api NAME       the entry point: blocking (MPI_Allreduce, default),
 *                    large (MPI_Allreduce_c), nb (MPI_Iallreduce +
 *                    MPI_Wait), nb_c (MPI_Iallreduce_c + MPI_Test loop)
 *   --dtype NAME     float (default), real, real4: the float32 datatype
 *   --fail-call N    the library-handled call number N of each communicator
 *                   (0-based; the job sets COMPCOLL_FAULT for it) must fail
 *                   on every rank with one error class, within 10 s; the
 *                   communicators return errors (MPI_ERRORS_RETURN); the
 *                   oracle then clears the tensor's memory on every rank
 *   --fail-broken    with --fail-call: the failure is a transport's, after
 *                   which the communicator passes its calls to MPI
 *   --same           every rank gets the same gradients (rank 0's)
 *   --setlocale      setlocale(LC_ALL, "") before MPI_Init, as a localized
 *                    application does: under LC_ALL=de_DE.UTF-8 the
 *                    library still reads COMPCOLL_BETA=0.5 as one half
 *
 * With COMPCOLL_MOMENTUM = mu the oracle keeps every rank's velocity
 * u <- mu u + g, which the method compresses in g's place, clears it where
 * a sparse call sent, and expects S - mu S' (S the call's sum, S' the
 * tensor's previous one).
 *   --seed N         seed of the gradients (default 1)
 *   --quiet          no summary line on success
 *
 * With COMPCOLL_HIERARCHICAL in effect (COMPCOLL_RANKS_PER_NODE or shared
 * memory define the nodes), the oracle keeps one memory per node and
 * rotates the leader over the nodes; a node's gradient is the PMPI_Reduce
 * of its ranks' gradients.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mpi.h>

#include "check.h"

enum method { METHOD_SCALECOM, METHOD_DENSE, METHOD_PASSTHROUGH };
enum select { SELECT_EXACT, SELECT_CHUNK, SELECT_SAMPLE };
enum wire { WIRE_FP32, WIRE_FP16, WIRE_BF16 };
enum key { KEY_AUTO, KEY_ADDRESS, KEY_SEQUENCE };
enum api { API_BLOCKING, API_LARGE, API_NB, API_NB_C };

/* What the library was told, read back from the environment. */
struct config {
    enum method method;
    enum select select;
    enum wire   wire;
    enum key    key;
    long        ratio;
    long        min_count;
    long        warmup;
    float       beta;
    float       momentum; /* COMPCOLL_MOMENTUM; 0: off */
    int         hier;           /* 0 n, 1 auto, 2 y */
    long        ranks_per_node; /* 0: ranks that share memory */
};

struct options {
    int      steps;
    int      count, count2;
    int      interleave, third, inplace, dup, redup, split, fresh, ties, quiet;
    int      no_memory;
    int      skewed;
    int      small;
    int      realloc_lifo;
    int      swap;     /* --swap-odd on this rank */
    int      checksum;
    int      same;
    long     fail_call;   /* -1: none */
    int      fail_broken;
    enum api api;
    MPI_Datatype dtype;
    uint64_t seed;
};

/* One communicator as the oracle sees it. */
struct comm_state {
    MPI_Comm comm;
    int      id;          /* ours: 0 world, 1 dup, 2 split */
    int      generation;  /* bumped when the dup is freed and re-made */
    int      size, rank;
    long     handled;     /* s_c: library-handled calls so far */
    int      broken;      /* --fail-broken: calls pass through */
    int      first_count; /* KEY=sequence: cycle learning */
    long     cycle_len;   /* 0 while still learning */
    /* COMPCOLL_HIERARCHICAL: the units whose memories and leader rotation
     * the method keeps are the nodes; unit u is led by comm rank lead[u] */
    int      hier;
    /* COMPCOLL_KEY=auto: a step on this communicator has two or more
     * compressed tensors, all of different counts, so the library learns
     * the step from the counts alone, whatever the buffers */
    int      counts_distinct;
    /* some rank of it reuses its buffers (not --fresh): when one rank's
     * buffers show where a step ends, the ranks agree on it and every
     * rank's memories follow the tensors (hierarchical, only the node
     * leaders' buffers count: --fresh-odd leaves world rank 0 reusing) */
    int      some_reuse;
    MPI_Comm node;
    int      units;
    int     *lead;
};

/* One rank's error-feedback memory for one tensor, as the oracle has it. */
struct entry {
    int      comm_id, generation, count;
    uint64_t tag;  /* buffer address or sequence position */
    int      rank; /* rank in the communicator whose memory this is */
    int      slot; /* the tensor of this program that made it */
    int      dead; /* dropped with its communicator */
    long     calls;
    float   *m;
    /* COMPCOLL_MOMENTUM: the velocity, the previous call's sum (the same
     * on every rank) and the tolerance it was checked to */
    float   *u;
    double  *prev, *prev_tol;
};

/* One tensor of this program: a communicator, a count and its buffers. */
struct slot {
    const char *name;
    int         comm_idx;
    int         count;
    int         small; /* passthrough-sized */
    float      *sendbuf, *recvbuf;
    int         owns_buffers;
    struct slot *share; /* the slot whose buffers it uses */
    /* conservation bookkeeping (beta = 1, fp32 wire) */
    double     *acc_out, *acc_g, *acc_abs;
    int         conservation_ok; /* every entry it used is its own */
    long        handled_calls;
};

static struct config cfg;
static struct options opt;

static struct entry *entries;
static size_t        n_entries, cap_entries;

static long calls_compressed, calls_dense, calls_passthrough;
static double worst_rel; /* largest |got - want| / tol seen */

/* ------------------------------------------------------------ reporting */

/* ---------------------------------------------------------- environment */

static int is_no(const char *v)
{
    static const char *const no[] = {"n", "no", "0", "off", "false"};
    size_t i;

    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (strcasecmp(v, no[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A number as the library reads it: in the "C" locale's notation, whatever
 * locale --setlocale took (a locale of this thread's own: MPI's threads may
 * be running). */
static float env_unit(const char *name, float dflt)
{
    const char *v = env(name);
    locale_t    c, saved = (locale_t)0;
    double      x;

    if (v == NULL) {
        return dflt;
    }
    c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (c != (locale_t)0) {
        saved = uselocale(c);
    }
    x = strtod(v, NULL);
    if (c != (locale_t)0) {
        uselocale(saved);
        freelocale(c);
    }
    return (float)x;
}

static void read_config(void)
{
    const char *v;

    cfg.method = METHOD_SCALECOM;
    if ((v = env("COMPCOLL_METHOD")) != NULL) {
        if (strcmp(v, "dense") == 0) {
            cfg.method = METHOD_DENSE;
        } else if (strcmp(v, "none") == 0) {
            cfg.method = METHOD_PASSTHROUGH;
        } else if (strcmp(v, "scalecom") != 0) {
            die("COMPCOLL_METHOD=%s: this test knows scalecom, dense, none", v);
        }
    }
    if ((v = env("COMPCOLL_ENABLE")) != NULL && is_no(v)) {
        cfg.method = METHOD_PASSTHROUGH;
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
    cfg.key = KEY_AUTO;
    if ((v = env("COMPCOLL_KEY")) != NULL && strcmp(v, "sequence") == 0) {
        cfg.key = KEY_SEQUENCE;
    } else if (v != NULL && strcmp(v, "address") == 0) {
        cfg.key = KEY_ADDRESS;
    }
    cfg.ratio     = env_long("COMPCOLL_RATIO", 100);
    cfg.min_count = env_long("COMPCOLL_MIN_COUNT", 8192);
    cfg.warmup    = env_long("COMPCOLL_WARMUP", 0);
    cfg.beta      = env_unit("COMPCOLL_BETA", 1.0f);
    cfg.momentum  = env_unit("COMPCOLL_MOMENTUM", 0.0f);
    cfg.hier      = 1;
    if ((v = env("COMPCOLL_HIERARCHICAL")) != NULL) {
        cfg.hier = strcasecmp(v, "auto") == 0 ? 1 : is_no(v) ? 0 : 2;
    }
    v = env("COMPCOLL_RANKS_PER_NODE");
    cfg.ranks_per_node = (v && strcasecmp(v, "auto") != 0) ? strtol(v, NULL, 10)
                                                           : 0;
    if (cfg.ratio < 1 || cfg.min_count < 1 || cfg.warmup < 0 ||
        !(cfg.beta > 0.0f && cfg.beta <= 1.0f) ||
        !(cfg.momentum >= 0.0f && cfg.momentum < 1.0f)) {
        die("COMPCOLL_* values out of range; the library should have "
            "refused them at MPI_Init");
    }
}

/* -------------------------------------------------------------- options */

static void parse_options(int argc, char **argv)
{
    int i;

    opt.steps  = 10;
    opt.dtype  = MPI_FLOAT;
    opt.count  = 1000;
    opt.count2 = -1;
    opt.seed   = 1;
    opt.fail_call = -1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--steps") == 0) {
            opt.steps = (int)arg_long(argc, argv, &i, 1, 100000);
        } else if (strcmp(a, "--count") == 0) {
            opt.count = (int)arg_long(argc, argv, &i, 1, 1 << 28);
        } else if (strcmp(a, "--count2") == 0) {
            opt.count2 = (int)arg_long(argc, argv, &i, 1, 1 << 28);
        } else if (strcmp(a, "--small") == 0) {
            opt.small = (int)arg_long(argc, argv, &i, 1, 1 << 28);
        } else if (strcmp(a, "--seed") == 0) {
            opt.seed = (uint64_t)arg_long(argc, argv, &i, 0, LONG_MAX);
        } else if (strcmp(a, "--interleave") == 0) {
            opt.interleave = 1;
        } else if (strcmp(a, "--third") == 0) {
            opt.interleave = opt.third = 1;
        } else if (strcmp(a, "--inplace") == 0) {
            opt.inplace = 1;
        } else if (strcmp(a, "--dup") == 0) {
            opt.dup = 1;
        } else if (strcmp(a, "--redup") == 0) {
            opt.dup = opt.redup = 1;
        } else if (strcmp(a, "--split") == 0) {
            opt.split = 1;
        } else if (strcmp(a, "--fresh") == 0) {
            opt.fresh = 1;
        } else if (strcmp(a, "--fresh-odd") == 0) {
            opt.fresh = world_rank % 2;
        } else if (strcmp(a, "--no-memory") == 0) {
            opt.no_memory = 1;
        } else if (strcmp(a, "--skewed") == 0) {
            opt.skewed = 1;
        } else if (strcmp(a, "--ties") == 0) {
            opt.ties = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            opt.quiet = 1;
        } else if (strcmp(a, "--swap-odd") == 0) {
            opt.swap = world_rank % 2;
        } else if (strcmp(a, "--realloc") == 0) {
            opt.realloc_lifo = 1;
        } else if (strcmp(a, "--checksum") == 0) {
            opt.checksum = 1;
        } else if (strcmp(a, "--fail-call") == 0) {
            opt.fail_call = arg_long(argc, argv, &i, 0, LONG_MAX);
        } else if (strcmp(a, "--fail-broken") == 0) {
            opt.fail_broken = 1;
        } else if (strcmp(a, "--same") == 0) {
            opt.same = 1;
        } else if (strcmp(a, "--setlocale") == 0) {
            /* done before MPI_Init */
        } else if (strcmp(a, "--api") == 0 && i + 1 < argc) {
            const char *v = argv[++i];

            opt.api = strcmp(v, "large") == 0  ? API_LARGE
                      : strcmp(v, "nb") == 0   ? API_NB
                      : strcmp(v, "nb_c") == 0 ? API_NB_C
                                               : API_BLOCKING;
            if (opt.api == API_BLOCKING && strcmp(v, "blocking") != 0) {
                die("--api %s: expected blocking, large, nb or nb_c", v);
            }
        } else if (strcmp(a, "--dtype") == 0 && i + 1 < argc) {
            const char *v = argv[++i];

            opt.dtype = strcmp(v, "real") == 0    ? MPI_REAL
                        : strcmp(v, "real4") == 0 ? MPI_REAL4
                                                  : MPI_FLOAT;
            if (opt.dtype == MPI_FLOAT && strcmp(v, "float") != 0) {
                die("--dtype %s: expected float, real or real4", v);
            }
        } else {
            die("unknown option %s", a);
        }
    }
    if (opt.count2 < 0) {
        opt.count2 = opt.count * 3 / 2 + 7;
    }
    if (opt.interleave && opt.count2 == opt.count && cfg.key == KEY_SEQUENCE) {
        die("--interleave with --count2 equal to --count: COMPCOLL_KEY="
            "sequence cannot tell the two tensors apart");
    }
}

/* ------------------------------------------------------------ gradients */

/*
 * Per (world rank, step, slot): uniform in [-1, 1] with one element in 64
 * scaled by 16, never zero; or with --ties, +-j/8 for j in 1..8.
 */
static void make_gradient(float *g, int n, int step, int slot)
{
    uint64_t s = opt.seed * 0x2545f4914f6cdd1dull;
    int      i;

    s ^= (uint64_t)((opt.same ? 0 : world_rank) + 1) * 0x9e3779b97f4a7c15ull;
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
            g[i] = (float)v;
        }
        if (opt.skewed && i >= n / 2) {
            g[i] /= 1024.0f; /* exact: a power of two */
        }
    }
}

/* --------------------------------------------------------------- oracle */

static uint32_t key_of(float a)
{
    uint32_t u;

    memcpy(&u, &a, sizeof(u));
    return u & 0x7fffffffu;
}

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

/*
 * The leader's selection from its |a|: marks in_set[i] for i in I.
 * keys and order are scratch of n elements.
 */
static void select_indices(const float *a, int n, int k, enum select mode,
                           unsigned char *in_set, uint32_t *keys, int *order)
{
    int i, j;

    memset(in_set, 0, (size_t)n);
    for (i = 0; i < n; i++) {
        keys[i] = key_of(a[i]);
    }
    if (mode == SELECT_CHUNK) {
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
    /* exact, and sample (whose result must equal the exact set, but for a
     * pipelined call: planned_set) */
    for (i = 0; i < n; i++) {
        order[i] = i;
    }
    sort_keys = keys;
    qsort(order, (size_t)n, sizeof(int), by_key_desc);
    for (i = 0; i < k; i++) {
        in_set[order[i]] = 1;
    }
}

static struct entry *find_entry(const struct comm_state *cs, int count,
                                uint64_t tag, int rank, int slot)
{
    struct entry *e;
    size_t        i;

    for (i = 0; i < n_entries; i++) {
        e = &entries[i];
        if (!e->dead && e->comm_id == cs->id &&
            e->generation == cs->generation && e->count == count &&
            e->tag == tag && e->rank == rank) {
            return e;
        }
    }
    if (n_entries == cap_entries) {
        cap_entries = cap_entries ? 2 * cap_entries : 64;
        entries     = realloc(entries, cap_entries * sizeof(*entries));
        if (entries == NULL) {
            die("out of memory (entries)");
        }
    }
    e             = &entries[n_entries++];
    e->comm_id    = cs->id;
    e->generation = cs->generation;
    e->count      = count;
    e->tag        = tag;
    e->rank       = rank;
    e->slot       = slot;
    e->dead       = 0;
    e->calls      = 0;
    e->m          = xcalloc((size_t)count, sizeof(float));
    e->u          = xcalloc((size_t)count, sizeof(float));
    e->prev       = xcalloc((size_t)count, sizeof(double));
    e->prev_tol   = xcalloc((size_t)count, sizeof(double));
    return e;
}

/* KEY=sequence: the position of this call in the learned cycle. */
static uint64_t sequence_position(struct comm_state *cs, int count)
{
    long idx = cs->handled; /* this call's index among handled calls */

    if (idx == 0) {
        cs->first_count = count;
        return 0;
    }
    if (cs->cycle_len == 0 && count == cs->first_count) {
        cs->cycle_len = idx;
    }
    return (uint64_t)(cs->cycle_len ? idx % cs->cycle_len : idx);
}

static double wire_unit(void)
{
    switch (cfg.wire) {
    case WIRE_FP16: return 0x1p-11;
    case WIRE_BF16: return 0x1p-8;
    default: return FLT_EPSILON;
    }
}

static const char *select_name(enum select s)
{
    return s == SELECT_CHUNK ? "chunk" : s == SELECT_SAMPLE ? "sample" : "exact";
}

/* --------------------------------------------------------- one call */

struct scratch {
    float         *g_all;  /* size * n: every rank's gradient */
    float         *a_all;  /* size * n: every rank's a = m + g */
    double        *want;   /* n */
    double        *tol;    /* n */
    unsigned char *in_set; /* n */
    unsigned char *alt;    /* n: diagnostics */
    uint32_t      *keys, *bits_min, *bits_max;
    int           *order;
    float         *pmpi;   /* n: PMPI result for passthrough calls */
    size_t         cap;    /* elements of the n-sized arrays */
    size_t         cap_all;
};

static void scratch_reserve(struct scratch *s, int n, int size)
{
    size_t all = (size_t)n * (size_t)size;

    if ((size_t)n > s->cap) {
        free(s->want), free(s->tol), free(s->in_set), free(s->alt);
        free(s->keys), free(s->bits_min), free(s->bits_max);
        free(s->order), free(s->pmpi);
        s->cap      = (size_t)n;
        s->want     = xmalloc(s->cap * sizeof(double));
        s->tol      = xmalloc(s->cap * sizeof(double));
        s->in_set   = xmalloc(s->cap);
        s->alt      = xmalloc(s->cap);
        s->keys     = xmalloc(s->cap * sizeof(uint32_t));
        s->bits_min = xmalloc(s->cap * sizeof(uint32_t));
        s->bits_max = xmalloc(s->cap * sizeof(uint32_t));
        s->order    = xmalloc(s->cap * sizeof(int));
        s->pmpi     = xmalloc(s->cap * sizeof(float));
    }
    if (all > s->cap_all) {
        free(s->g_all), free(s->a_all);
        s->cap_all = all;
        s->g_all   = xmalloc(all * sizeof(float));
        s->a_all   = xmalloc(all * sizeof(float));
    }
}

/* After a selection mismatch: whose a (or g) would give the library's set? */
static void explain_selection(const struct scratch *s, const float *got,
                              int n, int k, int size, int leader)
{
    char line[512];
    int  len = 0, r, i, which;

    for (which = 0; which < 2; which++) {
        for (r = 0; r < size; r++) {
            const float *v = (which == 0 ? s->a_all : s->g_all) + (size_t)r * n;
            unsigned char *alt = s->alt;
            int            same = 1;

            select_indices(v, n, k, cfg.select, alt, s->keys, s->order);
            for (i = 0; i < n && same; i++) {
                same = (alt[i] != 0) == (got[i] != 0.0f);
            }
            if (same && len < (int)sizeof(line) - 64) {
                len += snprintf(line + len, sizeof(line) - (size_t)len,
                                " %s of rank %d;", which ? "g" : "a", r);
            }
        }
    }
    fprintf(stderr,
            "# rank %d:   oracle leader %d; the library's nonzero set equals "
            "the %s selection from:%s\n",
            world_rank, leader, select_name(cfg.select),
            len ? line : " none of the ranks' a or g");
}

static uint64_t out_hash = 1469598103934665603ull;

/* The entry point --api names, on float32 as --dtype names it. */
static int call_allreduce(const void *sbuf, void *rbuf, int n, MPI_Comm comm)
{
    MPI_Request req = MPI_REQUEST_NULL;
    int         rc, done = 0;

    switch (opt.api) {
    case API_LARGE:
        return MPI_Allreduce_c(sbuf, rbuf, (MPI_Count)n, opt.dtype, MPI_SUM,
                               comm);
    case API_NB:
        rc = MPI_Iallreduce(sbuf, rbuf, n, opt.dtype, MPI_SUM, comm, &req);
        return rc != MPI_SUCCESS ? rc : MPI_Wait(&req, MPI_STATUS_IGNORE);
    case API_NB_C:
        rc = MPI_Iallreduce_c(sbuf, rbuf, (MPI_Count)n, opt.dtype, MPI_SUM,
                              comm, &req);
        while (rc == MPI_SUCCESS && !done) {
            rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        }
        return rc;
    default:
        return MPI_Allreduce(sbuf, rbuf, n, opt.dtype, MPI_SUM, comm);
    }
}

/* --realloc: buffers given back in call order and taken anew from a LIFO
 * pool per count, as an allocator's free lists hand them out. */
static void realloc_buffers(struct slot *slots, const int *order, int n_order)
{
    float *pool_s[12], *pool_r[12];
    int    pool_n[12], np = 0, j, q;

    for (j = 0; j < n_order; j++) {
        struct slot *sl = &slots[order[j]];

        if (sl->owns_buffers) {
            pool_s[np]   = sl->sendbuf;
            pool_r[np]   = sl->recvbuf;
            pool_n[np++] = sl->count;
            for (q = 0; q < sl->count; q++) {
                sl->sendbuf[q] = sl->recvbuf[q] = NAN; /* freed */
            }
        }
    }
    for (j = 0; j < n_order; j++) {
        struct slot *sl = &slots[order[j]];

        if (!sl->owns_buffers) {
            continue;
        }
        for (q = np - 1; q >= 0; q--) {
            if (pool_n[q] == sl->count && pool_s[q] != NULL) {
                sl->sendbuf = pool_s[q];
                sl->recvbuf = pool_r[q];
                pool_s[q]   = NULL;
                break;
            }
        }
    }
    for (j = 0; j < n_order; j++) {
        struct slot *sl = &slots[order[j]];

        if (sl->share != NULL) {
            sl->sendbuf = sl->share->sendbuf;
            sl->recvbuf = sl->share->recvbuf;
        }
    }
}

/*
 * Pipelined, sample plans the call (compcoll_kernels.h): each piece
 * [s n / np, (s + 1) n / np) gets a quota of the k from a sample and
 * takes the exact top quota of its own elements.  The library pipelines
 * with beta = 1 when the exchange has two ranks or more and the call
 * makes two pieces or more of 262144 elements and 512 values (at most 32).
 */
static int sample_pieces(int n, int k, int size)
{
    int pieces = n / 262144;

    if (pieces > k / 512) {
        pieces = k / 512;
    }
    if (cfg.select != SELECT_SAMPLE || cfg.beta != 1.0f || size < 2 ||
        pieces < 2) {
        return 0;
    }
    return pieces > 32 ? 32 : pieces;
}

/*
 * in_set (the exact top k of the leader's a) made the planned set: each
 * piece's quota read off the library's output (one past the last nonzero
 * in the piece's order by |a| descending, index ascending, so that a sum
 * that happens to be 0 does not shorten it), checked to add up to k and
 * to stay within a third (and 64) of the piece's share of the exact top k
 * (its elements above the k-th key, up to those at it: ties may fall
 * either way), and the top quota of each piece in that order.  Whatever else the
 * library did differently then shows in the comparison of values.  0 and
 * in_set untouched when the quotas do not hold.
 */
static int planned_set(const float *a, int n, int k, int pieces,
                       const float *got, struct scratch *s, char *why,
                       size_t len)
{
    /* select_indices left the exact order: the k-th key */
    const uint32_t kth = s->keys[s->order[k - 1]];
    int            quota[32], p, i, r, total = 0;

    for (i = 0; i < n; i++) {
        s->keys[i]  = key_of(a[i]);
        s->order[i] = i;
    }
    sort_keys = s->keys;
    for (p = 0; p < pieces; p++) {
        const int lo = (int)((int64_t)p * n / pieces);
        const int hi = (int)((int64_t)(p + 1) * n / pieces);
        int       above = 0, at_least = 0;

        qsort(s->order + lo, (size_t)(hi - lo), sizeof(int), by_key_desc);
        for (i = lo; i < hi; i++) {
            above += s->keys[i] > kth;
            at_least += s->keys[i] >= kth;
        }
        quota[p] = 0;
        for (r = 0; r < hi - lo; r++) {
            if (got[s->order[lo + r]] != 0.0f) {
                quota[p] = r + 1;
            }
        }
        total += quota[p];
        if (quota[p] < above - above / 3 - 64 ||
            quota[p] > at_least + at_least / 3 + 64) {
            snprintf(why, len, "piece %d of %d took %d of its top, its share "
                     "of the top k is %d to %d", p, pieces, quota[p], above,
                     at_least);
            return 0;
        }
    }
    if (total != k) {
        snprintf(why, len, "the pieces took %d indices, k is %d", total, k);
        return 0;
    }
    memset(s->in_set, 0, (size_t)n);
    for (p = 0; p < pieces; p++) {
        const int lo = (int)((int64_t)p * n / pieces);

        for (r = 0; r < quota[p]; r++) {
            s->in_set[s->order[lo + r]] = 1;
        }
    }
    return 1;
}

static void do_call(struct comm_state *cs, struct slot *sl, int slot_idx,
                    int step, struct scratch *s)
{
    const int n      = sl->count;
    const int size   = cs->units; /* ranks, or nodes when hierarchical */
    const int inpl   = opt.inplace;
    float    *sendbuf, *recvbuf, *grad;
    uint64_t  addr, *addr_all;
    int       handled, dense = 0, leader = -1, k = n, rc, i, r, failing;
    double    unit = FLT_EPSILON;
    struct entry **ent = NULL;

    scratch_reserve(s, n, cs->size);
    if (opt.fresh) {
        sl->sendbuf = xmalloc((size_t)n * sizeof(float));
        sl->recvbuf = xmalloc((size_t)n * sizeof(float));
    }
    sendbuf = sl->sendbuf;
    recvbuf = sl->recvbuf;
    grad    = inpl ? recvbuf : sendbuf;

    make_gradient(grad, n, step, slot_idx);
    if (!inpl) {
        for (i = 0; i < n; i++) {
            recvbuf[i] = -777.0f; /* must all be overwritten */
        }
    }
    addr     = (uint64_t)(uintptr_t)grad;
    addr_all = xmalloc((size_t)cs->size * sizeof(uint64_t));
    handled  = !sl->small && cfg.method != METHOD_PASSTHROUGH &&
               n >= cfg.min_count && cs->size > 1 && !cs->broken;
    failing  = handled && cs->handled == opt.fail_call;
    if (cs->hier && handled) {
        /* The units are the nodes: each node's gradient is the sum of its
         * ranks', as PMPI_Reduce to the node's first rank makes it, and its
         * tensor is the one its leader names. */
        PMPI_Reduce(grad, s->pmpi, n, MPI_FLOAT, MPI_SUM, 0, cs->node);
        PMPI_Allgather(s->pmpi, n, MPI_FLOAT, s->g_all, n, MPI_FLOAT,
                       cs->comm);
        PMPI_Allgather(&addr, 1, MPI_UINT64_T, addr_all, 1, MPI_UINT64_T,
                       cs->comm);
        for (r = 0; r < size; r++) {
            memmove(s->g_all + (size_t)r * n,
                    s->g_all + (size_t)cs->lead[r] * n,
                    (size_t)n * sizeof(float));
            addr_all[r] = addr_all[cs->lead[r]];
        }
    } else {
        PMPI_Allgather(grad, n, MPI_FLOAT, s->g_all, n, MPI_FLOAT, cs->comm);
        PMPI_Allgather(&addr, 1, MPI_UINT64_T, addr_all, 1, MPI_UINT64_T,
                       cs->comm);
    }
    if (!handled) {
        PMPI_Allreduce(grad, s->pmpi, n, MPI_FLOAT, MPI_SUM, cs->comm);
    }

    {
        double      t0 = MPI_Wtime(), dt_max;
        char        buf[256];
        const char *why;
        int         cls;

        rc = call_allreduce(inpl ? MPI_IN_PLACE : sendbuf, recvbuf, n,
                            cs->comm);
        if (!failing && rc != MPI_SUCCESS) {
            fail("step %d %s: MPI_Allreduce returned %d", step, sl->name, rc);
        }
        if (failing) {
            why = check_failed_alike(rc, MPI_Wtime() - t0, cs->comm, &cls,
                                     &dt_max, buf, sizeof(buf));
            if (why != NULL) {
                fail("step %d %s (comm %d), call %ld: %s", step, sl->name,
                     cs->id, cs->handled, why);
            } else if (world_rank == 0) {
                printf("# comm %d call %ld failed on every rank: error class "
                       "%d, %.3f s at most\n", cs->id, cs->handled, cls,
                       dt_max);
            }
        }
    }
    if (opt.checksum) {
        const unsigned char *b = (const unsigned char *)recvbuf;
        size_t               q;

        for (q = 0; q < (size_t)n * sizeof(float); q++) {
            out_hash = (out_hash ^ b[q]) * 1099511628211ull;
        }
    }

    /* ---- what every element must be ---- */
    if (!handled) {
        calls_passthrough++;
        if (memcmp(recvbuf, s->pmpi, (size_t)n * sizeof(float)) != 0) {
            for (i = 0; i < n && memcmp(&recvbuf[i], &s->pmpi[i], 4) == 0; i++) {
            }
            fail("step %d %s (n=%d, passthrough): not bit-identical to "
                 "PMPI_Allreduce; first at index %d: got %.9g, want %.9g",
                 step, sl->name, n, i, recvbuf[i], s->pmpi[i]);
        }
        free(addr_all);
        return;
    }

    if (cfg.method == METHOD_DENSE || opt.no_memory) {
        calls_dense++;
        dense = 1;
        /* METHOD=dense sends its values as COMPCOLL_WIRE_TYPE; a tensor
         * without memory is summed in fp32 */
        if (cfg.method == METHOD_DENSE) {
            unit = wire_unit();
        }
        memcpy(s->a_all, s->g_all, (size_t)n * size * sizeof(float));
        memset(s->in_set, 1, (size_t)n);
    } else {
        uint64_t seq = cfg.key == KEY_SEQUENCE ? sequence_position(cs, n) : 0;

        leader = (int)(cs->handled % size);
        ent    = xmalloc((size_t)size * sizeof(*ent));
        for (r = 0; r < size; r++) {
            /* auto follows the program's tensors through --realloc, and
             * through any buffers when a step's two or more counts all
             * differ or some rank reuses its buffers (--fresh-odd: the
             * ranks agree on the cycle); else it keys as address does (a
             * program whose every rank keeps every buffer alive and never
             * reuses one, as --fresh with one tensor or two of one count,
             * looks like new tensors) */
            uint64_t tag = cfg.key == KEY_SEQUENCE ? seq
                           : (cfg.key == KEY_AUTO &&
                              (opt.realloc_lifo || cs->counts_distinct ||
                               cs->some_reuse))
                               ? (uint64_t)slot_idx
                               : addr_all[r];

            ent[r] = find_entry(cs, n, tag, r, slot_idx);
            if (ent[r]->slot != slot_idx) {
                /* one memory shared by two of our tensors */
                sl->conservation_ok = 0;
            }
            if (cfg.momentum != 0.0f) {
                /* COMPCOLL_MOMENTUM: the rank compresses its velocity
                 * u <- mu u + g, which takes g's place from here on */
                float *gr = s->g_all + (size_t)r * n;

                for (i = 0; i < n; i++) {
                    volatile float mu_u = cfg.momentum * ent[r]->u[i];

                    ent[r]->u[i] = mu_u + gr[i];
                    gr[i]        = ent[r]->u[i];
                }
            }
            for (i = 0; i < n; i++) {
                s->a_all[(size_t)r * n + i] =
                    ent[r]->m[i] + s->g_all[(size_t)r * n + i];
            }
        }
        /* the leader's tensor decides whether warm-up is still running */
        dense = ent[leader]->calls < cfg.warmup;
        if (dense) {
            calls_dense++;
            memset(s->in_set, 1, (size_t)n);
        } else {
            calls_compressed++;
            k = (int)check_k(n, (long)ent[leader]->calls);
            select_indices(s->a_all + (size_t)leader * n, n, k, cfg.select,
                           s->in_set, s->keys, s->order);
            unit = wire_unit();
            if (!failing && sample_pieces(n, k, size) != 0) {
                char         why[160];
                const float *sent = recvbuf;

                if (cfg.momentum != 0.0f) {
                    /* the call's sum, got + mu S': 0 where nothing was
                     * sent, to the tolerance S' was checked to */
                    const struct entry *e = ent[leader];

                    for (i = 0; i < n; i++) {
                        double rec  = recvbuf[i] + cfg.momentum * e->prev[i];
                        double slop = cfg.momentum * (e->prev_tol[i] +
                                                      4 * FLT_EPSILON *
                                                          fabs(e->prev[i]));

                        s->pmpi[i] = fabs(rec) <= slop + 1e-30 ? 0.0f
                                                                : (float)rec;
                    }
                    sent = s->pmpi;
                }
                if (!planned_set(s->a_all + (size_t)leader * n, n, k,
                                 sample_pieces(n, k, size), sent, s, why,
                                 sizeof(why))) {
                    fail("step %d %s (comm %d, n=%d, k=%d, leader %d): "
                         "sample's pieces: %s", step, sl->name, cs->id, n, k,
                         leader, why);
                }
            }
        }
    }
    cs->handled++;
    sl->handled_calls++;

    for (i = 0; i < n; i++) {
        double sum = 0.0, abs = 0.0;

        for (r = 0; r < size; r++) {
            double v = s->a_all[(size_t)r * n + i];

            sum += v;
            abs += fabs(v);
        }
        s->want[i] = s->in_set[i] ? sum : 0.0;
        if (unit == FLT_EPSILON) {
            s->tol[i] = size * FLT_EPSILON * abs + 1e-30;
        } else {
            s->tol[i] = (size + 1) * unit * abs +
                        (cfg.wire == WIRE_FP16 ? (size + 1) * 0x1p-24 : 1e-30);
        }
        if (sl->acc_out) {
            sl->acc_abs[i] += abs;
        }
    }
    if (ent != NULL && cfg.momentum != 0.0f) {
        /* COMPCOLL_MOMENTUM: the call returns S - mu S', S' the tensor's
         * previous sum; S becomes S' */
        const struct entry *e = ent[leader];

        for (i = 0; i < n; i++) {
            double ms = cfg.momentum * e->prev[i];
            double s_tol = s->tol[i];

            s->tol[i] = s_tol + cfg.momentum * e->prev_tol[i] +
                        2 * FLT_EPSILON * (fabs(s->want[i]) + fabs(ms)) +
                        1e-30;
            s->want[i] -= ms;
            for (r = 0; r < size; r++) {
                ent[r]->prev[i]     = s->want[i] + ms;
                ent[r]->prev_tol[i] = s_tol;
            }
        }
    }

    /* ---- compare ---- */
    if (!failing) {
        int bad_value = 0, bad_set = 0, first = -1, first_set = -1;

        for (i = 0; i < n; i++) {
            float  got = recvbuf[i];
            int    bad;

            if (!s->in_set[i] && cfg.momentum == 0.0f) {
                bad = got != 0.0f;
            } else {
                double d = fabs((double)got - s->want[i]);

                bad = !isfinite(got) || !(d <= s->tol[i]);
                if (!bad && s->tol[i] > 0 && d / s->tol[i] > worst_rel) {
                    worst_rel = d / s->tol[i];
                }
            }
            if (cfg.momentum == 0.0f &&
                (got != 0.0f) != (s->in_set[i] != 0)) {
                if (first_set < 0) {
                    first_set = i;
                }
                bad_set++;
            }
            if (bad) {
                if (first < 0) {
                    first = i;
                }
                bad_value++;
            }
        }
        if (bad_value) {
            fail("step %d %s (comm %d, n=%d, k=%d, %s, leader %d, "
                 "s_c=%ld): %d wrong elements; first at index %d: got %.9g, "
                 "want %.9g (tolerance %.3g, %s); %d indices differ in "
                 "selection (first %d)",
                 step, sl->name, cs->id, n, k,
                 dense ? "dense" : "compressed", leader, cs->handled - 1,
                 bad_value, first, recvbuf[first], s->want[first],
                 s->tol[first],
                 s->in_set[first] ? "selected" : "not selected: want 0",
                 bad_set, first_set);
            if (bad_set && !dense && n_fail <= 4) {
                explain_selection(s, recvbuf, n, k, size, leader);
            }
        }
    }

    /* ---- every rank holds the same bits ---- */
    if (!failing) {
        uint32_t *bits = (uint32_t *)recvbuf;

        PMPI_Allreduce(bits, s->bits_min, n, MPI_UINT32_T, MPI_MIN, cs->comm);
        PMPI_Allreduce(bits, s->bits_max, n, MPI_UINT32_T, MPI_MAX, cs->comm);
        for (i = 0; i < n && s->bits_min[i] == s->bits_max[i]; i++) {
        }
        if (i < n) {
            float lo, hi;

            memcpy(&lo, &s->bits_min[i], 4);
            memcpy(&hi, &s->bits_max[i], 4);
            fail("step %d %s (n=%d): ranks disagree; first at index %d: "
                 "bit patterns 0x%08" PRIx32 " (%.9g) .. 0x%08" PRIx32
                 " (%.9g)",
                 step, sl->name, n, i, s->bits_min[i], lo, s->bits_max[i], hi);
        }
    }

    /* ---- conservation accumulators ---- */
    if (failing) {
        /* what was not sent is gone with the cleared memories */
        sl->conservation_ok = 0;
        cs->broken = opt.fail_broken;
    }
    if (sl->acc_out && !failing) {
        for (i = 0; i < n; i++) {
            double gs = 0.0;

            for (r = 0; r < size; r++) {
                gs += s->g_all[(size_t)r * n + i];
            }
            sl->acc_g[i] += gs;
            sl->acc_out[i] += recvbuf[i];
        }
    }

    /* ---- every rank's memory moves on ---- */
    if (ent != NULL) {
        const float keep = 1.0f - cfg.beta;

        for (r = 0; r < size; r++) {
            float       *m = ent[r]->m;
            const float *g = s->g_all + (size_t)r * n;

            for (i = 0; i < n; i++) {
                if (failing) {
                    m[i] = 0.0f; /* a failed call clears the memory */
                    ent[r]->u[i]        = 0.0f; /* and the momentum state */
                    ent[r]->prev[i]     = 0.0;
                    ent[r]->prev_tol[i] = 0.0;
                } else if (s->in_set[i]) {
                    m[i] = keep != 0.0f ? keep * m[i] : 0.0f; /* beta 1: 0 */
                    if (!dense) {
                        ent[r]->u[i] = 0.0f; /* sent: its velocity goes */
                    }
                } else {
                    volatile float bg = cfg.beta * g[i]; /* no FMA */

                    m[i] = m[i] + bg;
                }
            }
            ent[r]->calls++;
        }
        free(ent);
    }
    free(addr_all);
}

/* Beta = 1 and fp32: sum of outputs + sum of memories = sum of gradients. */
static void check_conservation(const struct slot *sl, int idx)
{
    const int n = sl->count;
    double   *msum, *mabs;
    size_t    e;
    int       i, bad = 0, first = -1;

    if (!sl->acc_out || !sl->conservation_ok || sl->handled_calls == 0) {
        return;
    }
    msum = xcalloc((size_t)n, sizeof(double));
    mabs = xcalloc((size_t)n, sizeof(double));
    for (e = 0; e < n_entries; e++) {
        if (entries[e].slot == idx) {
            for (i = 0; i < n; i++) {
                msum[i] += entries[e].m[i];
                mabs[i] += fabs(entries[e].m[i]);
            }
        }
    }
    for (i = 0; i < n; i++) {
        double lhs = sl->acc_out[i] + msum[i];
        double tol = (world_size + 2) * FLT_EPSILON * (sl->acc_abs[i] + mabs[i]) +
                     1e-30;

        if (!(fabs(lhs - sl->acc_g[i]) <= tol)) {
            if (first < 0) {
                first = i;
            }
            bad++;
        }
    }
    if (bad) {
        fail("conservation, tensor %s (n=%d): %d elements off; first at "
             "index %d: sum(out)=%.9g + sum(m)=%.9g != sum(g)=%.9g",
             sl->name, n, bad, first, sl->acc_out[first], msum[first],
             sl->acc_g[first]);
    }
    free(msum);
    free(mabs);
}

/* ----------------------------------------------------------------- main */

static void slot_init(struct slot *sl, const char *name, int comm_idx,
                      int count, int small, struct slot *share)
{
    memset(sl, 0, sizeof(*sl));
    sl->name     = name;
    sl->comm_idx = comm_idx;
    sl->count    = count;
    sl->small    = small;
    if (share != NULL) {
        sl->share   = share;
        sl->sendbuf = share->sendbuf;
        sl->recvbuf = share->recvbuf;
    } else if (!opt.fresh) {
        sl->sendbuf      = xmalloc((size_t)count * sizeof(float));
        sl->recvbuf      = xmalloc((size_t)count * sizeof(float));
        sl->owns_buffers = 1;
    }
    sl->conservation_ok = 1;
    /* Conservation holds when values travel in fp32 (wire rounding is not
     * fed back), for scalecom at beta = 1 and for dense alike. */
    if (!small && cfg.method != METHOD_PASSTHROUGH && cfg.beta == 1.0f &&
        cfg.wire == WIRE_FP32 && cfg.momentum == 0.0f) {
        sl->acc_out = xcalloc((size_t)count, sizeof(double));
        sl->acc_g   = xcalloc((size_t)count, sizeof(double));
        sl->acc_abs = xcalloc((size_t)count, sizeof(double));
    }
}

/*
 * The node layout, as libcompcoll(7) defines it for COMPCOLL_HIERARCHICAL:
 * nodes are blocks of COMPCOLL_RANKS_PER_NODE consecutive ranks, or the
 * ranks that share memory; on (auto) when there are several nodes and some
 * node has two ranks or more, (y) when some node has.
 */
static void comm_layout(struct comm_state *cs)
{
    int node_rank, node_size, mine[2], all[2], r, u = 0, *lead_of;

    cs->node  = MPI_COMM_NULL;
    cs->units = cs->size;
    if (cfg.hier == 0 || cfg.method == METHOD_PASSTHROUGH || cs->size < 2) {
        return;
    }
    if (cfg.ranks_per_node > 0) {
        PMPI_Comm_split(cs->comm, cs->rank / (int)cfg.ranks_per_node,
                        cs->rank, &cs->node);
    } else {
        PMPI_Comm_split_type(cs->comm, MPI_COMM_TYPE_SHARED, cs->rank,
                             MPI_INFO_NULL, &cs->node);
    }
    PMPI_Comm_rank(cs->node, &node_rank);
    PMPI_Comm_size(cs->node, &node_size);
    mine[0] = node_rank == 0;
    mine[1] = node_size;
    PMPI_Allreduce(&mine[0], &all[0], 1, MPI_INT, MPI_SUM, cs->comm);
    PMPI_Allreduce(&mine[1], &all[1], 1, MPI_INT, MPI_MAX, cs->comm);
    if (!(all[1] > 1 && (cfg.hier == 2 || all[0] > 1))) {
        PMPI_Comm_free(&cs->node);
        cs->node = MPI_COMM_NULL;
        return;
    }
    cs->hier  = 1;
    cs->units = all[0];
    cs->lead  = xmalloc((size_t)cs->units * sizeof(int));
    lead_of   = xmalloc((size_t)cs->size * sizeof(int));
    mine[0]   = node_rank == 0 ? cs->rank : -1;
    PMPI_Allgather(&mine[0], 1, MPI_INT, lead_of, 1, MPI_INT, cs->comm);
    for (r = 0; r < cs->size; r++) {
        if (lead_of[r] >= 0) {
            cs->lead[u++] = r;
        }
    }
    free(lead_of);
}

static void comm_init(struct comm_state *cs, MPI_Comm comm, int id, int gen)
{
    memset(cs, 0, sizeof(*cs));
    cs->comm       = comm;
    cs->id         = id;
    cs->generation = gen;
    PMPI_Comm_size(comm, &cs->size);
    PMPI_Comm_rank(comm, &cs->rank);
    comm_layout(cs);
    cs->some_reuse = !opt.fresh;
    PMPI_Allreduce(MPI_IN_PLACE, &cs->some_reuse, 1, MPI_INT, MPI_MAX, comm);
}

static void comm_fini(struct comm_state *cs)
{
    if (cs->node != MPI_COMM_NULL) {
        PMPI_Comm_free(&cs->node);
    }
    free(cs->lead);
    cs->lead = NULL;
}

int main(int argc, char **argv)
{
    struct comm_state comms[3];
    struct slot       slots[12];
    int               order[12];
    int               n_slots = 0, n_order = 0;
    struct scratch    s;
    MPI_Comm          dup = MPI_COMM_NULL, split = MPI_COMM_NULL;
    int               step, j, all_ok, who;
    size_t            e;

    check_name = "scalecom_check";
    for (j = 1; j < argc; j++) {
        if (strcmp(argv[j], "--setlocale") == 0 &&
            setlocale(LC_ALL, "") == NULL) {
            fprintf(stderr, "scalecom_check: setlocale(LC_ALL, \"\") "
                    "failed: the environment names no locale this system "
                    "has\n");
            return 2;
        }
    }
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
        fprintf(stderr, "scalecom_check: MPI_Init failed\n");
        return 2;
    }
    PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &world_size);
    read_config();
    parse_options(argc, argv);
    memset(&s, 0, sizeof(s));

    if (opt.fail_call >= 0) {
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    comm_init(&comms[0], MPI_COMM_WORLD, 0, 0);
    if (opt.dup) {
        if (MPI_Comm_dup(MPI_COMM_WORLD, &dup) != MPI_SUCCESS) {
            die("MPI_Comm_dup failed");
        }
        comm_init(&comms[1], dup, 1, 0);
    }
    if (opt.split) {
        PMPI_Comm_split(MPI_COMM_WORLD, world_rank % 2, -world_rank, &split);
        comm_init(&comms[2], split, 2, 0);
    }

    /* Tensors, in the order of the calls of one step. */
    slot_init(&slots[n_slots], "A@world", 0, opt.count, 0, NULL);
    order[n_order++] = n_slots++;
    if (opt.small) {
        slot_init(&slots[n_slots], "small@world", 0, opt.small, 1, NULL);
        order[n_order++] = n_slots++;
    }
    if (opt.dup) {
        slot_init(&slots[n_slots], "A@dup", 1, opt.count, 0, &slots[0]);
        order[n_order++] = n_slots++;
    }
    if (opt.interleave) {
        int b = n_slots;

        slot_init(&slots[n_slots], "B@world", 0, opt.count2, 0, NULL);
        order[n_order++] = n_slots++;
        if (opt.dup) {
            slot_init(&slots[n_slots], "B@dup", 1, opt.count2, 0, &slots[b]);
            order[n_order++] = n_slots++;
        }
        if (opt.third) {
            b = n_slots;
            slot_init(&slots[n_slots], "C@world", 0, opt.count2, 0, NULL);
            order[n_order++] = n_slots++;
            if (opt.dup) {
                slot_init(&slots[n_slots], "C@dup", 1, opt.count2, 0,
                          &slots[b]);
                order[n_order++] = n_slots++;
            }
        }
    }
    if (opt.split) {
        slot_init(&slots[n_slots], "A@split", 2, opt.count, 0, NULL);
        order[n_order++] = n_slots++;
        if (opt.interleave) {
            slot_init(&slots[n_slots], "B@split", 2, opt.count2, 0, NULL);
            order[n_order++] = n_slots++;
        }
        if (opt.third) {
            slot_init(&slots[n_slots], "C@split", 2, opt.count2, 0, NULL);
            order[n_order++] = n_slots++;
        }
    }

    for (j = 0; j < 3; j++) {
        int a, b, tensors = 0;

        for (a = 0; a < n_slots; a++) {
            tensors += (slots[a].comm_idx == j && !slots[a].small);
        }
        /* one tensor a step has nothing to tell its steps apart by but its
         * buffers */
        comms[j].counts_distinct = (tensors >= 2);
        for (a = 0; a < n_slots; a++) {
            for (b = a + 1; b < n_slots; b++) {
                if (slots[a].comm_idx == j && slots[b].comm_idx == j &&
                    !slots[a].small && !slots[b].small &&
                    slots[a].count == slots[b].count) {
                    comms[j].counts_distinct = 0;
                }
            }
        }
    }
    for (step = 0; step < opt.steps; step++) {
        if (opt.redup && step == opt.steps / 2 && step > 0) {
            /* the library must drop the old state: new counter, new memory */
            comm_fini(&comms[1]);
            MPI_Comm_free(&dup);
            if (MPI_Comm_dup(MPI_COMM_WORLD, &dup) != MPI_SUCCESS) {
                die("MPI_Comm_dup failed");
            }
            for (e = 0; e < n_entries; e++) {
                if (entries[e].comm_id == 1) {
                    entries[e].dead = 1;
                }
            }
            j = comms[1].counts_distinct;
            comm_init(&comms[1], dup, 1, comms[1].generation + 1);
            comms[1].counts_distinct = j;
        }
        if (opt.realloc_lifo && step > 0) {
            realloc_buffers(slots, order, n_order);
        }
        if (opt.swap && step > 0) {
            struct slot *a = &slots[0], *b = &slots[1];
            float       *t;

            if (a->count != b->count || a->comm_idx != b->comm_idx ||
                !a->owns_buffers || !b->owns_buffers) {
                die("--swap-odd needs tensors A and B of one count "
                    "(--count2 equal to --count) with buffers of their own");
            }
            t = a->sendbuf, a->sendbuf = b->sendbuf, b->sendbuf = t;
            t = a->recvbuf, a->recvbuf = b->recvbuf, b->recvbuf = t;
        }
        for (j = 0; j < n_order; j++) {
            struct slot *sl = &slots[order[j]];

            do_call(&comms[sl->comm_idx], sl, order[j], step, &s);
        }
    }
    for (j = 0; j < n_slots; j++) {
        check_conservation(&slots[j], j);
    }

    /* Verdict: every rank's, and rank 0 shows the lowest failing rank's. */
    all_ok = check_verdict(&who);
    if (opt.checksum) {
        uint64_t all_hash = 0;

        PMPI_Reduce(&out_hash, &all_hash, 1, MPI_UINT64_T, MPI_SUM, 0,
                    MPI_COMM_WORLD);
        if (world_rank == 0) {
            printf("# checksum %016llx\n", (unsigned long long)all_hash);
        }
    }
    if (world_rank == 0) {
        if (all_ok) {
            if (!opt.quiet) {
                printf("# scalecom_check: ok: P=%d, %ld compressed, %ld dense, "
                       "%ld passthrough calls; worst error %.2f of tolerance\n",
                       world_size, calls_compressed, calls_dense,
                       calls_passthrough, worst_rel);
            }
        } else {
            printf("# scalecom_check: FAILED (P=%d); first failure on rank "
                   "%d: %s\n",
                   world_size, who, first_fail);
        }
        /* for run-stats.sh */
        printf("# calls: compressed=%ld dense=%ld passthrough=%ld\n",
               calls_compressed, calls_dense, calls_passthrough);
        fflush(stdout);
    }

    comm_fini(&comms[0]);
    if (dup != MPI_COMM_NULL) {
        comm_fini(&comms[1]);
        MPI_Comm_free(&dup);
    }
    if (split != MPI_COMM_NULL) {
        comm_fini(&comms[2]);
        PMPI_Comm_free(&split);
    }
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
