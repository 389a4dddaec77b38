/*
 * nn.c: layers, models, loss and gradient check for the Fashion-MNIST
 * trainer.  See nn.h for the layout of activations and parameters.
 */
#include "nn.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

uint64_t nn_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double nn_uniform(uint64_t *state)
{
    return (double)(nn_rand(state) >> 11) * 0x1p-53;
}

static double nn_normal(uint64_t *state)
{
    double u = 1.0 - nn_uniform(state); /* (0, 1] */
    double v = nn_uniform(state);

    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* GB = column sums of DY (rows x cols) */
static void nn_bias_grad(float *gb, const float *dy, long rows, int cols)
{
    long r;
    int  j;

    memset(gb, 0, (size_t)cols * sizeof(float));
    for (r = 0; r < rows; r++, dy += cols) {
        for (j = 0; j < cols; j++) {
            gb[j] += dy[j];
        }
    }
}

/* ------------------------------------------------------------ building */

static int nn_add_tensor(nn_model_t *m, const char *layer_name,
                         const char *what, long count, int fan_in, int is_bias)
{
    nn_tensor_t *t = &m->tensor[m->ntensors];

    snprintf(t->name, sizeof(t->name), "%s.%s", layer_name, what);
    t->offset  = m->nparams;
    t->count   = count;
    t->fan_in  = fan_in;
    t->is_bias = is_bias;
    t->layer   = m->nlayers;
    m->nparams += count;
    return m->ntensors++;
}

/* a layer taking the previous layer's output shape (or C x H x W first) */
static nn_layer_t *nn_add_layer(nn_model_t *m, nn_kind_t kind, int c, int h,
                                int w)
{
    nn_layer_t *l = &m->layer[m->nlayers];

    memset(l, 0, sizeof(*l));
    l->kind = kind;
    if (m->nlayers > 0) {
        const nn_layer_t *p = &m->layer[m->nlayers - 1];

        c = p->oc;
        h = p->oh;
        w = p->ow;
    }
    l->c = l->oc = c;
    l->h = l->oh = h;
    l->w = l->ow = w;
    l->tw = l->tb = -1;
    return l;
}

static void nn_dense(nn_model_t *m, const char *name, int in, int out)
{
    nn_layer_t *l = nn_add_layer(m, NN_DENSE, in, 1, 1);

    if (m->nlayers > 0) { /* flatten whatever came before */
        l->c = l->c * l->h * l->w;
        l->h = l->w = 1;
    }
    (void)in;
    l->oc = out;
    l->oh = l->ow = 1;
    l->tw         = nn_add_tensor(m, name, "weight", (long)l->c * out, l->c, 0);
    l->tb         = nn_add_tensor(m, name, "bias", out, l->c, 1);
    m->nlayers++;
}

static void nn_conv3(nn_model_t *m, const char *name, int c, int h, int w,
                     int oc)
{
    nn_layer_t *l = nn_add_layer(m, NN_CONV3, c, h, w);

    l->oc = oc;
    l->tw = nn_add_tensor(m, name, "weight", 9L * l->c * oc, 9 * l->c, 0);
    l->tb = nn_add_tensor(m, name, "bias", oc, 9 * l->c, 1);
    m->nlayers++;
}

static void nn_relu(nn_model_t *m)
{
    nn_add_layer(m, NN_RELU, 0, 0, 0);
    m->nlayers++;
}

static void nn_pool2(nn_model_t *m)
{
    nn_layer_t *l = nn_add_layer(m, NN_POOL2, 0, 0, 0);

    l->oh = l->h / 2;
    l->ow = l->w / 2;
    m->nlayers++;
}

static void *nn_alloc(size_t n, int *fail)
{
    void *p = calloc(n ? n : 1, 1);

    if (p == NULL) {
        *fail = 1;
    }
    return p;
}

nn_model_t *nn_create(const char *name, int max_batch)
{
    nn_model_t *m      = calloc(1, sizeof(*m));
    long        maxact = 0;
    int         i, fail = 0;

    if (m == NULL) {
        return NULL;
    }
    m->max_batch = max_batch;
    m->classes   = 10;
    if (strcmp(name, "mlp") == 0) {
        m->name = "mlp";
        nn_dense(m, "fc1", 784, 512);
        nn_relu(m);
        nn_dense(m, "fc2", 512, 256);
        nn_relu(m);
        nn_dense(m, "fc3", 256, 10);
    } else if (strcmp(name, "cnn") == 0) {
        m->name = "cnn";
        nn_conv3(m, "conv1", 1, 28, 28, 16);
        nn_relu(m);
        nn_pool2(m);
        nn_conv3(m, "conv2", 16, 14, 14, 32);
        nn_relu(m);
        nn_pool2(m);
        nn_dense(m, "fc1", 7 * 7 * 32, 128);
        nn_relu(m);
        nn_dense(m, "fc2", 128, 10);
    } else {
        free(m);
        return NULL;
    }
    for (i = 0; i < m->nlayers; i++) {
        nn_layer_t *l = &m->layer[i];

        l->in_size  = (long)l->c * l->h * l->w;
        l->out_size = (long)l->oc * l->oh * l->ow;
        if (l->in_size > maxact) {
            maxact = l->in_size;
        }
        if (l->out_size > maxact) {
            maxact = l->out_size;
        }
        l->out =
            nn_alloc((size_t)max_batch * l->out_size * sizeof(float), &fail);
        if (l->kind == NN_CONV3) {
            l->col = nn_alloc((size_t)max_batch * l->h * l->w * 9 * l->c *
                                  sizeof(float),
                              &fail);
        }
        if (l->kind == NN_POOL2) {
            l->arg =
                nn_alloc((size_t)max_batch * l->out_size * sizeof(int), &fail);
        }
    }
    m->params = nn_alloc((size_t)m->nparams * sizeof(float), &fail);
    m->grads  = nn_alloc((size_t)m->nparams * sizeof(float), &fail);
    m->dlogits =
        nn_alloc((size_t)max_batch * m->classes * sizeof(float), &fail);
    for (i = 0; i < 2; i++) {
        m->dbuf[i] =
            nn_alloc((size_t)max_batch * maxact * sizeof(float), &fail);
    }
    if (fail) {
        nn_destroy(m);
        return NULL;
    }
    return m;
}

void nn_destroy(nn_model_t *m)
{
    int i;

    if (m == NULL) {
        return;
    }
    for (i = 0; i < m->nlayers; i++) {
        free(m->layer[i].out);
        free(m->layer[i].col);
        free(m->layer[i].arg);
    }
    free(m->params);
    free(m->grads);
    free(m->dlogits);
    free(m->dbuf[0]);
    free(m->dbuf[1]);
    free(m);
}

void nn_init(nn_model_t *m, uint64_t seed)
{
    uint64_t s = seed ^ 0x5eed0f5eed0f5eedull;
    int      t;
    long     i;

    for (t = 0; t < m->ntensors; t++) {
        const nn_tensor_t *tt = &m->tensor[t];
        float             *p  = m->params + tt->offset;
        double             sd = sqrt(2.0 / tt->fan_in);

        for (i = 0; i < tt->count; i++) {
            p[i] = tt->is_bias ? 0.0f : (float)(sd * nn_normal(&s));
        }
    }
}

/* ------------------------------------------------------------ passes */

#define NN_REAL float
#define NN_GEMM cblas_sgemm
#define NN_SUFFIX f
#include "nn_forward.h"
#undef NN_REAL
#undef NN_GEMM
#undef NN_SUFFIX

#define NN_REAL double
#define NN_GEMM cblas_dgemm
#define NN_SUFFIX d
#include "nn_forward.h"
#undef NN_REAL
#undef NN_GEMM
#undef NN_SUFFIX

/* DIN = the patch gradients in COL summed back onto the input pixels */
static void nn_col2im(const nn_layer_t *l, float *din, int n)
{
    const int    c = l->c, h = l->h, w = l->w;
    const float *src = l->col;
    int          b, y, x, ky, kx, j;

    memset(din, 0, (size_t)n * l->in_size * sizeof(float));
    for (b = 0; b < n; b++) {
        float *img = din + (long)b * l->in_size;

        for (y = 0; y < h; y++) {
            for (x = 0; x < w; x++) {
                for (ky = -1; ky <= 1; ky++, src += 3 * c) {
                    float *row;

                    if (y + ky < 0 || y + ky >= h) {
                        continue;
                    }
                    row = img + (long)(y + ky) * w * c;
                    if (x > 0 && x < w - 1) {
                        float *d = row + (long)(x - 1) * c;

                        for (j = 0; j < 3 * c; j++) {
                            d[j] += src[j];
                        }
                        continue;
                    }
                    for (kx = -1; kx <= 1; kx++) {
                        float *d;

                        if (x + kx < 0 || x + kx >= w) {
                            continue;
                        }
                        d = row + (long)(x + kx) * c;
                        for (j = 0; j < c; j++) {
                            d[j] += src[(kx + 1) * c + j];
                        }
                    }
                }
            }
        }
    }
}

void nn_forward(nn_model_t *m, const float *x, int n)
{
    float *out[NN_MAX_LAYERS], *col[NN_MAX_LAYERS];
    int   *arg[NN_MAX_LAYERS];
    int    i;

    for (i = 0; i < m->nlayers; i++) {
        out[i] = m->layer[i].out;
        col[i] = m->layer[i].col;
        arg[i] = m->layer[i].arg;
    }
    nn_forward_f(m, m->params, x, n, out, col, arg);
}

double nn_xent(nn_model_t *m, const unsigned char *labels, int n, float scale,
               int want_grad, int *correct)
{
    return nn_xent_f(m->layer[m->nlayers - 1].out, labels, n, m->classes, scale,
                     want_grad ? m->dlogits : NULL, correct);
}

void nn_backward(nn_model_t *m, const float *x, int n, nn_ready_fn ready,
                 void *ctx)
{
    const float *dout = m->dlogits;
    int          i, which = 0;
    long         j;

    for (i = m->nlayers - 1; i >= 0; i--) {
        nn_layer_t  *l     = &m->layer[i];
        const float *in    = i > 0 ? m->layer[i - 1].out : x;
        float       *din   = m->dbuf[which];
        const int    first = i == 0; /* nothing wants d(input) */
        long         total = (long)n * l->out_size;
        float       *gW = NULL, *gB = NULL;
        const float *W = NULL;

        if (l->tw >= 0) {
            W  = m->params + m->tensor[l->tw].offset;
            gW = m->grads + m->tensor[l->tw].offset;
            gB = m->grads + m->tensor[l->tb].offset;
        }
        switch (l->kind) {
        case NN_DENSE:
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->c, l->oc, n,
                        1.0f, in, l->c, dout, l->oc, 0.0f, gW, l->oc);
            nn_bias_grad(gB, dout, n, l->oc);
            if (!first) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->c,
                            l->oc, 1.0f, dout, l->oc, W, l->oc, 0.0f, din,
                            l->c);
            }
            break;
        case NN_CONV3: {
            long rows = (long)n * l->h * l->w;
            int  kk   = 9 * l->c;

            /* l->col still holds the forward patches */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kk, l->oc,
                        (int)rows, 1.0f, l->col, kk, dout, l->oc, 0.0f, gW,
                        l->oc);
            nn_bias_grad(gB, dout, rows, l->oc);
            if (!first) {
                /* the patches are spent: reuse their buffer for dcol */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows,
                            kk, l->oc, 1.0f, dout, l->oc, W, l->oc, 0.0f,
                            l->col, kk);
                nn_col2im(l, din, n);
            }
            break;
        }
        case NN_RELU:
            for (j = 0; j < total; j++) {
                din[j] = l->out[j] > 0.0f ? dout[j] : 0.0f;
            }
            break;
        case NN_POOL2: {
            memset(din, 0, (size_t)n * l->in_size * sizeof(float));
            for (j = 0; j < total; j++) {
                long b = j / l->out_size;

                din[b * l->in_size + l->arg[j]] = dout[j];
            }
            break;
        }
        }
        if (ready != NULL && l->tw >= 0) {
            ready(ctx, l->tb);
            ready(ctx, l->tw);
        }
        if (!first) {
            dout  = din;
            which = !which;
        }
    }
}

/* ------------------------------------------------------------ check */

/* the double-precision copy of a model's forward pass for n examples */
typedef struct nn_check {
    const nn_model_t    *m;
    int                  n;
    const unsigned char *labels;
    double              *p, *x;
    double              *out[NN_MAX_LAYERS], *col[NN_MAX_LAYERS];
    int                 *arg[NN_MAX_LAYERS];
} nn_check_t;

static void nn_check_free(nn_check_t *c)
{
    int i;

    free(c->p);
    free(c->x);
    for (i = 0; i < NN_MAX_LAYERS; i++) {
        free(c->out[i]);
        free(c->col[i]);
        free(c->arg[i]);
    }
}

static int nn_check_init(nn_check_t *c, const nn_model_t *m, const float *x,
                         const unsigned char *labels, int n)
{
    int  i, fail = 0;
    long j;

    memset(c, 0, sizeof(*c));
    c->m      = m;
    c->n      = n;
    c->labels = labels;
    c->p      = nn_alloc((size_t)m->nparams * sizeof(double), &fail);
    c->x = nn_alloc((size_t)n * m->layer[0].in_size * sizeof(double), &fail);
    for (i = 0; i < m->nlayers; i++) {
        const nn_layer_t *l = &m->layer[i];

        c->out[i] = nn_alloc((size_t)n * l->out_size * sizeof(double), &fail);
        if (l->kind == NN_CONV3) {
            c->col[i] = nn_alloc(
                (size_t)n * l->h * l->w * 9 * l->c * sizeof(double), &fail);
        }
        if (l->kind == NN_POOL2) {
            c->arg[i] = nn_alloc((size_t)n * l->out_size * sizeof(int), &fail);
        }
    }
    if (fail) {
        nn_check_free(c);
        return -1;
    }
    for (j = 0; j < m->nparams; j++) {
        c->p[j] = m->params[j];
    }
    for (j = 0; j < n * m->layer[0].in_size; j++) {
        c->x[j] = x[j];
    }
    return 0;
}

/* mean loss in double at the parameters c->p */
static double nn_check_loss(nn_check_t *c)
{
    const nn_model_t *m = c->m;

    nn_forward_d(m, c->p, c->x, c->n, c->out, c->col, c->arg);
    return nn_xent_d(c->out[m->nlayers - 1], c->labels, c->n, m->classes, 0.0f,
                     NULL, NULL) /
           c->n;
}

int nn_gradcheck(nn_model_t *m, const float *x, const unsigned char *labels,
                 int n, int per_tensor, uint64_t seed, FILE *out)
{
    uint64_t   s = seed ^ 0x67c4ec4ull;
    int        t, bad = 0, checks = 0;
    long      *picked;
    double     worst = 0.0;
    nn_check_t c;

    picked = malloc((size_t)per_tensor * sizeof(long));
    if (picked == NULL || nn_check_init(&c, m, x, labels, n) != 0) {
        free(picked);
        if (out != NULL) {
            fprintf(out, "gradcheck: out of memory\n");
        }
        return 1;
    }
    /* the gradients under test: the float passes the trainer uses */
    nn_forward(m, x, n);
    nn_xent(m, labels, n, 1.0f / n, 1, NULL);
    nn_backward(m, x, n, NULL, NULL);

    if (out != NULL) {
        fprintf(out, "%-14s %8s %14s %14s %10s\n", "tensor", "index",
                "analytic", "numeric", "rel.error");
    }
    for (t = 0; t < m->ntensors; t++) {
        const nn_tensor_t *tt   = &m->tensor[t];
        const float       *g    = m->grads + tt->offset;
        double            *p    = c.p + tt->offset;
        float              gmax = 0.0f;
        int                k, np = 0, want;
        long               i;

        for (i = 0; i < tt->count; i++) {
            if (fabsf(g[i]) > gmax) {
                gmax = fabsf(g[i]);
            }
        }
        want = per_tensor < tt->count ? per_tensor : (int)tt->count;
        /* half the largest gradients (where a wrong formula shows most),
           half uniformly random parameters */
        while (np < want / 2) {
            long best = -1;

            for (i = 0; i < tt->count; i++) {
                int seen = 0;

                for (k = 0; k < np; k++) {
                    seen |= picked[k] == i;
                }
                if (!seen && (best < 0 || fabsf(g[i]) > fabsf(g[best]))) {
                    best = i;
                }
            }
            picked[np++] = best;
        }
        while (np < want) {
            long cand = (long)(nn_uniform(&s) * tt->count);
            int  seen = 0;

            for (k = 0; k < np; k++) {
                seen |= picked[k] == cand;
            }
            if (!seen) {
                picked[np++] = cand;
            }
        }
        for (k = 0; k < np; k++) {
            const long   idx = picked[k];
            const double w0  = p[idx];
            /* small enough to cross a ReLU or max-pool kink only rarely
               (and then to matter little), large against double rounding */
            const double h = 1e-6 * fmax(1.0, fabs(w0));
            double       lp, lm, num, ana = g[idx], err, mag, tol;

            p[idx] = w0 + h;
            lp     = nn_check_loss(&c);
            p[idx] = w0 - h;
            lm     = nn_check_loss(&c);
            p[idx] = w0;
            num    = (lp - lm) / (2.0 * h);
            err    = fabs(ana - num);
            mag    = fmax(fabs(ana), fabs(num));
            /* the analytic side is float: allow its rounding, relative to
               the value and to the tensor's gradient scale */
            tol = 1e-3 * mag + 1e-4 * gmax + 1e-9;
            checks++;
            if (err > tol) {
                bad++;
            }
            if (mag > 1e-2 * gmax && err / mag > worst) {
                worst = err / mag;
            }
            if (out != NULL) {
                fprintf(out, "%-14s %8ld %14.6e %14.6e %10.2e%s\n", tt->name,
                        idx, ana, num, mag > 0 ? err / mag : 0.0,
                        err > tol ? "  MISMATCH" : "");
            }
        }
    }
    if (out != NULL) {
        fprintf(out,
                "gradcheck: %d parameters in %d tensors, %d mismatches; worst "
                "relative error %.2e (of gradients above 1%% of their "
                "tensor's largest)\n",
                checks, m->ntensors, bad, worst);
    }
    nn_check_free(&c);
    free(picked);
    return bad;
}
