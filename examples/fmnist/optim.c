/*
 * optim.c: the three optimizers.
 *
 *  sgd       buf = momentum * buf + (g + wd * w);  w -= lr * buf
 *  adam      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *            w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *                 + lr * wd * w                         (decoupled, AdamW)
 *  novograd  (Ginsburg et al. 2019) per tensor l:
 *            v_l = b2 v_l + (1-b2) ||g_l||^2,  v_l = ||g_l||^2 at step 1;
 *            m = b1 m + (g / (sqrt(v_l) + eps) + wd * w);  w -= lr * m
 */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

int optim_init(optim_t *o, optim_kind_t kind, const nn_model_t *m,
               float momentum, float wd)
{
    o->kind     = kind;
    o->momentum = momentum;
    o->wd       = wd;
    o->step     = 0;
    o->eps      = 1e-8f;
    o->beta1    = kind == OPTIM_NOVOGRAD ? 0.95f : 0.9f;
    o->beta2    = kind == OPTIM_NOVOGRAD ? 0.98f : 0.999f;
    o->m        = calloc((size_t)m->nparams, sizeof(float));
    o->v =
        kind == OPTIM_ADAM ? calloc((size_t)m->nparams, sizeof(float)) : NULL;
    o->vl = calloc((size_t)m->ntensors, sizeof(double));
    if (o->m == NULL || o->vl == NULL || (kind == OPTIM_ADAM && o->v == NULL)) {
        optim_free(o);
        return -1;
    }
    return 0;
}

void optim_free(optim_t *o)
{
    free(o->m);
    free(o->v);
    free(o->vl);
    o->m = o->v = NULL;
    o->vl       = NULL;
}

void optim_step(optim_t *o, nn_model_t *mdl, float lr)
{
    int t;

    o->step++;
    for (t = 0; t < mdl->ntensors; t++) {
        const nn_tensor_t *tt = &mdl->tensor[t];
        float             *w  = mdl->params + tt->offset;
        const float       *g  = mdl->grads + tt->offset;
        float             *m  = o->m + tt->offset;
        const float        wd = tt->is_bias ? 0.0f : o->wd;
        long               i, n = tt->count;

        switch (o->kind) {
        case OPTIM_SGD:
            for (i = 0; i < n; i++) {
                m[i] = o->momentum * m[i] + (g[i] + wd * w[i]);
                w[i] -= lr * m[i];
            }
            break;
        case OPTIM_ADAM: {
            float      *v  = o->v + tt->offset;
            const float b1 = o->beta1, b2 = o->beta2;
            const float c1 = (float)(1.0 / (1.0 - pow(b1, (double)o->step)));
            const float c2 = (float)(1.0 / (1.0 - pow(b2, (double)o->step)));

            for (i = 0; i < n; i++) {
                m[i] = b1 * m[i] + (1.0f - b1) * g[i];
                v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
                w[i] -= lr *
                        ((m[i] * c1) / (sqrtf(v[i] * c2) + o->eps) + wd * w[i]);
            }
            break;
        }
        case OPTIM_NOVOGRAD: {
            double norm2 = 0.0;
            float  scale;

            for (i = 0; i < n; i++) {
                norm2 += (double)g[i] * g[i];
            }
            o->vl[t] = o->step == 1
                           ? norm2
                           : o->beta2 * o->vl[t] + (1.0 - o->beta2) * norm2;
            scale    = (float)(1.0 / (sqrt(o->vl[t]) + o->eps));
            for (i = 0; i < n; i++) {
                m[i] = o->beta1 * m[i] + (g[i] * scale + wd * w[i]);
                w[i] -= lr * m[i];
            }
            break;
        }
        }
    }
}
