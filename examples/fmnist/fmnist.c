/*
 * fmnist: a data-parallel Fashion-MNIST trainer.  An ordinary MPI program:
 * every rank holds the whole model, takes its shard of each global batch,
 * computes gradients, and the ranks sum them with MPI_Allreduce on
 * MPI_FLOAT -- one call per parameter tensor as each layer's backward
 * finishes, last layer first (Horovod without fusion), or one call on all
 * gradients at once with --fuse (a DDP bucket).  It knows nothing of any
 * library that may be preloaded under those calls.
 *
 * Each rank's loss is the sum of its examples' losses divided by the global
 * batch size, so the sum over ranks of the gradients is the gradient of the
 * global batch's mean loss.  Losses and accuracies are summed in double.
 *
 * Subnormal floats are flushed to zero (x86: MXCSR FTZ and DAZ) unless
 * --keep-subnormals: an optimizer state that decays towards zero (Adam's
 * first moment of a parameter whose gradient is zero for many steps, as a
 * sparsified all-reduce makes it) otherwise passes through the subnormal
 * range, where each operation costs tens of cycles and an epoch several
 * times its normal time.
 */
#include "data.h"
#include "nn.h"
#include "optim.h"

#include <errno.h>
#include <math.h>
#include <mpi.h>
#if defined(__SSE3__) || defined(__x86_64__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#define FM_HAVE_FTZ 1
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FM_EVAL_CHUNK 250
#define FM_GRADCHECK_N 16
#define FM_GRADCHECK_PER 6
#define FM_PIXEL_MEAN 0.2860 /* of the training images, scaled to [0,1] */
#define FM_PIXEL_STD 0.3530

/* ------------------------------------------------------------ options */

typedef struct fm_opts {
    const char *model, *opt, *schedule, *data, *csv;
    double      lr, momentum, wd, progress;
    long        epochs, batch, train_subset, warmup, seed;
    int         fuse, gradcheck, keep_subnormals, help;
} fm_opts_t;

typedef enum fm_arg {
    ARG_FLAG,
    ARG_INT,
    ARG_REAL,
    ARG_CHOICE,
    ARG_PATH
} fm_arg_t;

typedef struct fm_option {
    const char *name;
    fm_arg_t    type;
    size_t      offset;
    double      min, max;
    const char *choices; /* ARG_CHOICE: "a|b|c" */
    const char *metavar;
    const char *help;
} fm_option_t;

#define FM_OFF(f) offsetof(fm_opts_t, f)

/* One row per option: the parser and --help both read this table. */
static const fm_option_t fm_options[] = {
    {"--model", ARG_CHOICE, FM_OFF(model), 0, 0, "mlp|cnn", "NAME",
     "mlp: 784-512-256-10 with ReLU; cnn: conv3x3(16)-pool-conv3x3(32)-pool-"
     "fc(128)-fc(10) (default mlp)"},
    {"--opt", ARG_CHOICE, FM_OFF(opt), 0, 0, "sgd|adam|novograd", "NAME",
     "sgd (with momentum), adam (bias-corrected, decoupled weight decay) or "
     "novograd (default sgd)"},
    {"--lr", ARG_REAL, FM_OFF(lr), 1e-9, 100, NULL, "X",
     "learning rate (default 0.05 for sgd, 0.001 for adam, 0.02 for "
     "novograd)"},
    {"--momentum", ARG_REAL, FM_OFF(momentum), 0, 0.999999, NULL, "X",
     "sgd momentum (default 0.9)"},
    {"--wd", ARG_REAL, FM_OFF(wd), 0, 1, NULL, "X",
     "weight decay of weight tensors, not biases (default 5e-4 for sgd, 0 "
     "for adam, 1e-3 for novograd)"},
    {"--schedule", ARG_CHOICE, FM_OFF(schedule), 0, 0, "const|cosine", "NAME",
     "learning rate after the warm-up: constant, or cosine decay to "
     "0 at the last step (default cosine)"},
    {"--warmup", ARG_INT, FM_OFF(warmup), 0, 1e9, NULL, "STEPS",
     "linear learning-rate warm-up over the first STEPS steps (default "
     "50)"},
    {"--epochs", ARG_INT, FM_OFF(epochs), 1, 100000, NULL, "N",
     "passes over the training set (default 3)"},
    {"--batch", ARG_INT, FM_OFF(batch), 1, 65536, NULL, "N",
     "global batch size, split over the ranks (default 128)"},
    {"--train-subset", ARG_INT, FM_OFF(train_subset), 1, 1e9, NULL, "N",
     "train on the first N training examples only (default all 60000)"},
    {"--seed", ARG_INT, FM_OFF(seed), 0, 1e15, NULL, "N",
     "seed of the initial parameters and the shuffling, the same on every "
     "rank (default 1)"},
    {"--fuse", ARG_FLAG, FM_OFF(fuse), 0, 0, NULL, NULL,
     "sum all gradients with one MPI_Allreduce after the backward pass "
     "instead of one per tensor"},
    {"--data", ARG_PATH, FM_OFF(data), 0, 0, NULL, "DIR",
     "folder with the four *-ubyte.gz files (default " FM_DEFAULT_DIR ")"},
    {"--csv", ARG_PATH, FM_OFF(csv), 0, 0, NULL, "FILE",
     "write a CSV line per epoch: epoch, train_loss, test_loss, test_acc "
     "(percent), seconds"},
    {"--progress", ARG_REAL, FM_OFF(progress), 0, 1e9, NULL, "SECONDS",
     "within an epoch, a progress line every SECONDS (default 10; 0: none)"},
    {"--keep-subnormals", ARG_FLAG, FM_OFF(keep_subnormals), 0, 0, NULL,
     NULL,
     "compute with subnormal floats instead of flushing them to zero (x86 "
     "FTZ and DAZ, the default; see the top of fmnist.c)"},
    {"--gradcheck", ARG_FLAG, FM_OFF(gradcheck), 0, 0, NULL, NULL,
     "compare the model's gradients with finite differences and exit (0: "
     "they agree, 1: a mismatch)"},
    {"--help", ARG_FLAG, FM_OFF(help), 0, 0, NULL, NULL, "this help"},
};
#define FM_NOPTIONS ((int)(sizeof(fm_options) / sizeof(fm_options[0])))

/* Flush subnormals to zero on this (the only computing) thread unless
 * asked to keep them; what the run does, for its header line. */
static const char *fm_subnormals(const fm_opts_t *o)
{
    if (o->keep_subnormals) {
        return "kept";
    }
#ifdef FM_HAVE_FTZ
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
    return "flushed to zero";
#else
    return "kept (no flush-to-zero on this CPU)";
#endif
}

/* "  LHS  help..." with the help wrapped in a column of 48 */
static void fm_wrap(FILE *out, const char *lhs, const char *text)
{
    const int   width = 48;
    const char *p     = text;
    int         first = 1;

    while (*p != '\0') {
        int len = (int)strlen(p), cut = len;

        if (len > width) {
            for (cut = width; cut > 0 && p[cut] != ' '; cut--) {
            }
            if (cut == 0) {
                cut = width;
            }
        }
        fprintf(out, "  %-27s %.*s\n", first ? lhs : "", cut, p);
        first = 0;
        p += cut;
        while (*p == ' ') {
            p++;
        }
    }
}

static void fm_usage(FILE *out)
{
    int i;

    fprintf(out,
            "Usage: mpiexec -n P fmnist [OPTION]...\n"
            "Train a Fashion-MNIST classifier data-parallel over the MPI "
            "ranks: each rank\ncomputes the gradient of its shard of every "
            "global batch and the ranks sum\nthe gradients with "
            "MPI_Allreduce(MPI_FLOAT, MPI_SUM).  Rank 0 prints a line per\n"
            "epoch: train loss, test loss, test accuracy on the 10000 test "
            "images, seconds.\n\n");
    for (i = 0; i < FM_NOPTIONS; i++) {
        const fm_option_t *o = &fm_options[i];
        char               lhs[64];

        if (o->type == ARG_CHOICE) {
            snprintf(lhs, sizeof(lhs), "%s %s", o->name, o->choices);
        } else if (o->metavar != NULL) {
            snprintf(lhs, sizeof(lhs), "%s %s", o->name, o->metavar);
        } else {
            snprintf(lhs, sizeof(lhs), "%s", o->name);
        }
        fm_wrap(out, lhs, o->help);
    }
    fprintf(out,
            "\nOptions take their value as the next argument or after '='.  "
            "The data come from\nDebian's dataset-fashion-mnist package.  "
            "Run with OPENBLAS_NUM_THREADS=1 when\nthere are as many ranks as "
            "cores or more.  Exit status: 0 done, 1 failure,\n2 bad "
            "options.\n");
}

static int fm_parse_int(const char *s, long *v)
{
    char     *end;
    long long x;

    errno = 0;
    x     = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0) {
        return -1;
    }
    *v = (long)x;
    return 0;
}

static int fm_parse_real(const char *s, double *v)
{
    char  *end;
    double x;

    errno = 0;
    x     = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(x)) {
        return -1;
    }
    *v = x;
    return 0;
}

static int fm_choice_ok(const char *choices, const char *v)
{
    size_t      n = strlen(v);
    const char *p = choices;

    while (n > 0 && p != NULL) {
        if (strncmp(p, v, n) == 0 && (p[n] == '|' || p[n] == '\0')) {
            return 1;
        }
        p = strchr(p, '|');
        p = p != NULL ? p + 1 : NULL;
    }
    return 0;
}

/* 0, or 2 with a message naming the option and the value in ERR */
static int fm_parse(int argc, char **argv, fm_opts_t *o, char *err,
                    size_t errlen)
{
    int i, j;

    for (i = 1; i < argc; i++) {
        const fm_option_t *row = NULL;
        const char        *arg = argv[i], *eq, *val = NULL;
        size_t             nlen;
        char              *dst;

        if (strcmp(arg, "-h") == 0) {
            arg = "--help";
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s'", arg);
            return 2;
        }
        eq   = strchr(arg, '=');
        nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        for (j = 0; j < FM_NOPTIONS; j++) {
            if (strlen(fm_options[j].name) == nlen &&
                strncmp(fm_options[j].name, arg, nlen) == 0) {
                row = &fm_options[j];
            }
        }
        if (row == NULL) {
            snprintf(err, errlen, "unknown option '%.*s'", (int)nlen, arg);
            return 2;
        }
        dst = (char *)o + row->offset;
        if (row->type == ARG_FLAG) {
            if (eq != NULL) {
                snprintf(err, errlen, "%s takes no value (got '%s')", row->name,
                         eq + 1);
                return 2;
            }
            *(int *)dst = 1;
            continue;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            snprintf(err, errlen, "%s needs a value (%s)", row->name,
                     row->type == ARG_CHOICE ? row->choices : row->metavar);
            return 2;
        }
        switch (row->type) {
        case ARG_INT: {
            long v;

            if (fm_parse_int(val, &v) != 0) {
                snprintf(err, errlen, "%s '%s': not an integer", row->name,
                         val);
                return 2;
            }
            if (v < row->min || v > row->max) {
                snprintf(err, errlen, "%s %s: out of range (%.0f to %.0f)",
                         row->name, val, row->min, row->max);
                return 2;
            }
            *(long *)dst = v;
            break;
        }
        case ARG_REAL: {
            double v;

            if (fm_parse_real(val, &v) != 0) {
                snprintf(err, errlen, "%s '%s': not a number", row->name, val);
                return 2;
            }
            if (v < row->min || v > row->max) {
                snprintf(err, errlen, "%s %s: out of range (%g to %g)",
                         row->name, val, row->min, row->max);
                return 2;
            }
            *(double *)dst = v;
            break;
        }
        case ARG_CHOICE:
            if (!fm_choice_ok(row->choices, val)) {
                snprintf(err, errlen, "%s '%s': expected one of %s", row->name,
                         val, row->choices);
                return 2;
            }
            *(const char **)dst = val;
            break;
        case ARG_PATH:
            if (*val == '\0') {
                snprintf(err, errlen, "%s: empty value", row->name);
                return 2;
            }
            *(const char **)dst = val;
            break;
        case ARG_FLAG:
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ trainer */

typedef struct fm_trainer {
    int         rank, size;
    fm_opts_t   o;
    nn_model_t *m;
    optim_t     opt;
    fm_set_t    train, test;
    float      *x; /* max_batch x 784 inputs */
    float       lut[256];
    double      t_comm;  /* seconds in the gradient all-reduces */
    long        n_calls; /* gradient all-reduces */
    const char *subnormals; /* fm_subnormals */
} fm_trainer_t;

/* input pixels, normalised, for the examples IDX[0..n) of SET */
static void fm_gather(fm_trainer_t *tr, const fm_set_t *set, const int *idx,
                      int first, int n, unsigned char *labels)
{
    int i, j;

    for (i = 0; i < n; i++) {
        int                  e   = idx != NULL ? idx[i] : first + i;
        const unsigned char *src = set->images + (size_t)e * FM_PIXELS;
        float               *dst = tr->x + (size_t)i * FM_PIXELS;

        for (j = 0; j < FM_PIXELS; j++) {
            dst[j] = tr->lut[src[j]];
        }
        labels[i] = set->labels[e];
    }
}

/* the callback of nn_backward: sum tensor T over the ranks now */
static void fm_tensor_ready(void *ctx, int t)
{
    fm_trainer_t      *tr = ctx;
    const nn_tensor_t *tt = &tr->m->tensor[t];
    double             t0 = MPI_Wtime();

    MPI_Allreduce(MPI_IN_PLACE, tr->m->grads + tt->offset, (int)tt->count,
                  MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    tr->t_comm += MPI_Wtime() - t0;
    tr->n_calls++;
}

static void fm_fused_allreduce(fm_trainer_t *tr)
{
    double t0 = MPI_Wtime();

    MPI_Allreduce(MPI_IN_PLACE, tr->m->grads, (int)tr->m->nparams, MPI_FLOAT,
                  MPI_SUM, MPI_COMM_WORLD);
    tr->t_comm += MPI_Wtime() - t0;
    tr->n_calls++;
}

/* the same permutation of 0..n-1 on every rank, per (seed, epoch) */
static void fm_shuffle(int *perm, int n, long seed, long epoch)
{
    uint64_t s = (uint64_t)seed * 0x100000001b3ull + (uint64_t)epoch;
    int      i;

    for (i = 0; i < n; i++) {
        perm[i] = i;
    }
    for (i = n - 1; i > 0; i--) {
        int j   = (int)(nn_rand(&s) % (uint64_t)(i + 1));
        int tmp = perm[i];

        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

static double fm_lr(const fm_trainer_t *tr, long step, long total)
{
    const fm_opts_t *o = &tr->o;

    if (step < o->warmup) {
        return o->lr * (double)(step + 1) / (double)o->warmup;
    }
    if (strcmp(o->schedule, "cosine") == 0 && total > o->warmup) {
        return o->lr * 0.5 *
               (1.0 + cos(M_PI * (double)(step - o->warmup) /
                          (double)(total - o->warmup)));
    }
    return o->lr;
}

/* test loss and accuracy (percent), the test set sharded over the ranks */
static void fm_evaluate(fm_trainer_t *tr, double *loss, double *acc)
{
    const int     n  = tr->test.n;
    const int     lo = (int)((long)n * tr->rank / tr->size);
    const int     hi = (int)((long)n * (tr->rank + 1) / tr->size);
    unsigned char labels[FM_EVAL_CHUNK];
    double        v[3] = {0.0, 0.0, 0.0};
    int           i;

    for (i = lo; i < hi; i += FM_EVAL_CHUNK) {
        int k = hi - i < FM_EVAL_CHUNK ? hi - i : FM_EVAL_CHUNK, correct;

        fm_gather(tr, &tr->test, NULL, i, k, labels);
        nn_forward(tr->m, tr->x, k);
        v[0] += nn_xent(tr->m, labels, k, 0.0f, 0, &correct);
        v[1] += correct;
        v[2] += k;
    }
    MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    *loss = v[0] / v[2];
    *acc  = 100.0 * v[1] / v[2];
}

/* FNV-1a of the parameters: equal on every rank when the sums were */
static uint64_t fm_digest(const nn_model_t *m)
{
    const unsigned char *p = (const unsigned char *)m->params;
    uint64_t             h = 0xcbf29ce484222325ull;
    size_t               i;

    for (i = 0; i < (size_t)m->nparams * sizeof(float); i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

/*
 * Rank 0 reads the files and broadcasts them (only the examples used).
 * Returns 0, or the exit status, rank 0 having said why.
 */
static int fm_load_data(fm_trainer_t *tr)
{
    char msg[8192] = "";
    int  st        = 0, n[2];

    if (tr->rank == 0) {
        if (fm_load(tr->o.data, "train", &tr->train, msg, sizeof(msg)) != 0 ||
            fm_load(tr->o.data, "t10k", &tr->test, msg, sizeof(msg)) != 0) {
            fprintf(stderr,
                    "fmnist: %s\n"
                    "fmnist: the data come from the Debian package "
                    "dataset-fashion-mnist\n"
                    "fmnist:   (apt-get install dataset-fashion-mnist), or "
                    "give --data DIR, a folder with\n"
                    "fmnist:   train-images-idx3-ubyte.gz "
                    "train-labels-idx1-ubyte.gz\n"
                    "fmnist:   t10k-images-idx3-ubyte.gz "
                    "t10k-labels-idx1-ubyte.gz\n",
                    msg);
            st = 1;
        } else if (tr->o.train_subset > tr->train.n) {
            fprintf(stderr,
                    "fmnist: --train-subset %ld: larger than the training "
                    "set (%d examples)\n",
                    tr->o.train_subset, tr->train.n);
            st = 2;
        } else {
            if (tr->o.train_subset > 0) {
                tr->train.n = (int)tr->o.train_subset;
            }
            if (tr->o.batch > tr->train.n) {
                fprintf(stderr,
                        "fmnist: --batch %ld: larger than the %d training "
                        "examples\n",
                        tr->o.batch, tr->train.n);
                st = 2;
            }
        }
        n[0] = tr->train.n;
        n[1] = tr->test.n;
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (st != 0) {
        return st;
    }
    MPI_Bcast(n, 2, MPI_INT, 0, MPI_COMM_WORLD);
    if (tr->rank != 0) {
        tr->train.n      = n[0];
        tr->test.n       = n[1];
        tr->train.images = malloc((size_t)n[0] * FM_PIXELS);
        tr->train.labels = malloc((size_t)n[0]);
        tr->test.images  = malloc((size_t)n[1] * FM_PIXELS);
        tr->test.labels  = malloc((size_t)n[1]);
        if (tr->train.images == NULL || tr->train.labels == NULL ||
            tr->test.images == NULL || tr->test.labels == NULL) {
            fprintf(stderr, "fmnist: rank %d: out of memory for the data\n",
                    tr->rank);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    /* whole images per call keep every count well inside an int */
    MPI_Bcast(tr->train.images, n[0] * FM_PIXELS, MPI_UNSIGNED_CHAR, 0,
              MPI_COMM_WORLD);
    MPI_Bcast(tr->train.labels, n[0], MPI_UNSIGNED_CHAR, 0, MPI_COMM_WORLD);
    MPI_Bcast(tr->test.images, n[1] * FM_PIXELS, MPI_UNSIGNED_CHAR, 0,
              MPI_COMM_WORLD);
    MPI_Bcast(tr->test.labels, n[1], MPI_UNSIGNED_CHAR, 0, MPI_COMM_WORLD);
    return 0;
}

static int fm_gradcheck(fm_trainer_t *tr)
{
    unsigned char labels[FM_GRADCHECK_N];
    int           bad = 0;

    if (tr->rank == 0) {
        fm_gather(tr, &tr->train, NULL, 0, FM_GRADCHECK_N, labels);
        printf("fmnist: gradient check of the %s (%ld parameters in %d "
               "tensors) on %d training examples\n",
               tr->m->name, tr->m->nparams, tr->m->ntensors, FM_GRADCHECK_N);
        bad = nn_gradcheck(tr->m, tr->x, labels, FM_GRADCHECK_N,
                           FM_GRADCHECK_PER, (uint64_t)tr->o.seed, stdout);
    }
    MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return bad != 0;
}

static int fm_train(fm_trainer_t *tr, FILE *csv)
{
    const fm_opts_t *o       = &tr->o;
    const int        B       = (int)o->batch;
    const int        lo      = (int)((long)B * tr->rank / tr->size);
    const int        nloc    = (int)((long)B * (tr->rank + 1) / tr->size) - lo;
    const long       steps   = tr->train.n / B;
    const long       total   = steps * o->epochs;
    const float      scale   = 1.0f / (float)B;
    unsigned char   *labels  = malloc((size_t)nloc + 1);
    int             *perm    = malloc((size_t)tr->train.n * sizeof(int));
    double           t_start = MPI_Wtime(), test_loss = 0.0, test_acc = 0.0;
    uint64_t         dig[2];
    long             epoch, s;

    if (labels == NULL || perm == NULL) {
        fprintf(stderr, "fmnist: rank %d: out of memory\n", tr->rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (tr->rank == 0) {
        printf("fmnist: %s, %ld parameters in %d tensors; %s lr %g", o->model,
               tr->m->nparams, tr->m->ntensors, o->opt, o->lr);
        if (tr->opt.kind == OPTIM_SGD) {
            printf(" momentum %g", o->momentum);
        }
        printf(" wd %g%s", o->wd,
               strcmp(o->schedule, "cosine") == 0 ? ", cosine schedule" : "");
        if (o->warmup > 0) {
            printf(", warm-up %ld steps", o->warmup);
        }
        printf(", subnormals %s", tr->subnormals);
        printf("\nfmnist: %d ranks, global batch %d (%d to %d per rank), %d "
               "training examples (%ld steps per epoch), %d test examples\n",
               tr->size, B, B / tr->size, (B + tr->size - 1) / tr->size,
               tr->train.n, steps, tr->test.n);
        if (o->fuse) {
            printf("fmnist: gradients: one fused MPI_Allreduce of %ld floats "
                   "per step\n",
                   tr->m->nparams);
        } else {
            printf("fmnist: gradients: one MPI_Allreduce per tensor, last "
                   "layer first (%d per step)\n",
                   tr->m->ntensors);
        }
        printf("%5s %11s %10s %9s %8s\n", "epoch", "train_loss", "test_loss",
               "test_acc", "seconds");
    }

    for (epoch = 1; epoch <= o->epochs; epoch++) {
        double t0 = MPI_Wtime(), last = t0, v[3] = {0.0, 0.0, 0.0}, train_loss;

        fm_shuffle(perm, tr->train.n, o->seed, epoch);
        for (s = 0; s < steps; s++) {
            long gstep = (epoch - 1) * steps + s;
            int  correct;

            fm_gather(tr, &tr->train, perm + s * B + lo, 0, nloc, labels);
            nn_forward(tr->m, tr->x, nloc);
            v[0] += nn_xent(tr->m, labels, nloc, scale, 1, &correct);
            v[1] += correct;
            v[2] += nloc;
            nn_backward(tr->m, tr->x, nloc, o->fuse ? NULL : fm_tensor_ready,
                        tr);
            if (o->fuse) {
                fm_fused_allreduce(tr);
            }
            optim_step(&tr->opt, tr->m, (float)fm_lr(tr, gstep, total));
            if (tr->rank == 0 && o->progress > 0 && s + 1 < steps &&
                MPI_Wtime() - last >= o->progress) {
                last = MPI_Wtime();
                printf("  epoch %ld: %3d%% (%ld/%ld steps), running loss "
                       "%.4f on rank 0's shard, %.0f s\n",
                       epoch, (int)(100 * (s + 1) / steps), s + 1, steps,
                       v[0] / v[2], last - t0);
            }
        }
        MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        train_loss = v[0] / v[2];
        fm_evaluate(tr, &test_loss, &test_acc);
        if (tr->rank == 0) {
            double sec = MPI_Wtime() - t0;

            printf("%5ld %11.4f %10.4f %8.2f%% %8.2f\n", epoch, train_loss,
                   test_loss, test_acc, sec);
            if (csv != NULL) {
                fprintf(csv, "%ld,%.9g,%.9g,%.4f,%.3f\n", epoch, train_loss,
                        test_loss, test_acc, sec);
                fflush(csv);
            }
        }
    }

    /* every rank must end with the same parameters */
    dig[0] = dig[1] = fm_digest(tr->m);
    MPI_Allreduce(MPI_IN_PLACE, &dig[0], 1, MPI_UINT64_T, MPI_MIN,
                  MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &dig[1], 1, MPI_UINT64_T, MPI_MAX,
                  MPI_COMM_WORLD);
    if (tr->rank == 0) {
        printf("fmnist: final test accuracy %.2f%%, test loss %.4f; %.1f s, "
               "%.1f s of it in %ld gradient all-reduces (rank 0)\n",
               test_acc, test_loss, MPI_Wtime() - t_start, tr->t_comm,
               tr->n_calls);
        if (dig[0] == dig[1]) {
            printf("fmnist: parameter digest %016llx, the same on all %d "
                   "ranks\n",
                   (unsigned long long)dig[0], tr->size);
        } else {
            fprintf(stderr,
                    "fmnist: the ranks ended with different parameters "
                    "(digests %016llx to %016llx): the gradient sums were "
                    "not the same on every rank\n",
                    (unsigned long long)dig[0], (unsigned long long)dig[1]);
        }
    }
    free(labels);
    free(perm);
    return dig[0] == dig[1] ? 0 : 1;
}

int main(int argc, char **argv)
{
    fm_trainer_t tr;
    char         err[512];
    FILE        *csv = NULL;
    int          st, i, max_batch;

    memset(&tr, 0, sizeof(tr));
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &tr.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &tr.size);
    if (tr.rank == 0) {
        setvbuf(stdout, NULL, _IOLBF, 0);
    }

    tr.o.model    = "mlp";
    tr.o.opt      = "sgd";
    tr.o.schedule = "cosine";
    tr.o.data     = FM_DEFAULT_DIR;
    tr.o.lr       = NAN;
    tr.o.momentum = 0.9;
    tr.o.wd       = NAN;
    tr.o.progress = 10.0;
    tr.o.epochs   = 3;
    tr.o.batch    = 128;
    tr.o.seed     = 1;
    tr.o.warmup   = 50;
    st            = fm_parse(argc, argv, &tr.o, err, sizeof(err));
    if (st == 0 && !tr.o.help && tr.o.batch < tr.size) {
        snprintf(err, sizeof(err),
                 "--batch %ld: smaller than the number of ranks (%d)",
                 tr.o.batch, tr.size);
        st = 2;
    }
    if (st != 0 || tr.o.help) {
        if (tr.rank == 0) {
            if (st != 0) {
                fprintf(stderr,
                        "fmnist: %s (fmnist --help lists the options)\n", err);
            } else {
                fm_usage(stdout);
            }
        }
        MPI_Finalize();
        return st;
    }
    tr.subnormals = fm_subnormals(&tr.o);
    if (isnan(tr.o.lr)) {
        tr.o.lr = strcmp(tr.o.opt, "sgd") == 0    ? 0.05
                  : strcmp(tr.o.opt, "adam") == 0 ? 0.001
                                                  : 0.02;
    }
    if (isnan(tr.o.wd)) {
        tr.o.wd = strcmp(tr.o.opt, "sgd") == 0    ? 5e-4
                  : strcmp(tr.o.opt, "adam") == 0 ? 0.0
                                                  : 1e-3;
    }
    for (i = 0; i < 256; i++) {
        tr.lut[i] = (float)((i / 255.0 - FM_PIXEL_MEAN) / FM_PIXEL_STD);
    }

    st = fm_load_data(&tr);
    if (st != 0) {
        goto out;
    }
    max_batch = tr.o.gradcheck ? FM_GRADCHECK_N
                               : (int)((tr.o.batch + tr.size - 1) / tr.size);
    if (!tr.o.gradcheck && max_batch < FM_EVAL_CHUNK) {
        max_batch = FM_EVAL_CHUNK;
    }
    tr.m = nn_create(tr.o.model, max_batch);
    tr.x = malloc((size_t)max_batch * FM_PIXELS * sizeof(float));
    if (tr.m == NULL || tr.x == NULL ||
        optim_init(&tr.opt,
                   strcmp(tr.o.opt, "sgd") == 0    ? OPTIM_SGD
                   : strcmp(tr.o.opt, "adam") == 0 ? OPTIM_ADAM
                                                   : OPTIM_NOVOGRAD,
                   tr.m, (float)tr.o.momentum, (float)tr.o.wd) != 0) {
        fprintf(stderr, "fmnist: rank %d: out of memory for the model\n",
                tr.rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    nn_init(tr.m, (uint64_t)tr.o.seed);

    if (tr.o.gradcheck) {
        st = fm_gradcheck(&tr);
        goto out;
    }
    if (tr.rank == 0 && tr.o.csv != NULL) {
        csv = fopen(tr.o.csv, "w");
        if (csv == NULL) {
            fprintf(stderr, "fmnist: --csv %s: cannot open for writing: %s\n",
                    tr.o.csv, strerror(errno));
            st = 1;
        } else {
            fprintf(csv, "epoch,train_loss,test_loss,test_acc,seconds\n");
        }
    }
    MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (st == 0) {
        st = fm_train(&tr, csv);
    }
    if (csv != NULL && fclose(csv) != 0) {
        fprintf(stderr, "fmnist: --csv %s: %s\n", tr.o.csv, strerror(errno));
        st = 1;
    }

out:
    optim_free(&tr.opt);
    nn_destroy(tr.m);
    free(tr.x);
    fm_free(&tr.train);
    fm_free(&tr.test);
    /* MPICH 4.0.2 over UCX tcp can hang in MPI_Finalize right after a
     * reduction (bench/run_guard.sh); a barrier first avoids it */
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return st;
}
