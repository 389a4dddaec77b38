/*
 * optim.h: SGD with momentum, Adam and NovoGrad over an nn_model_t's
 * tensors.  Weight decay applies to weight tensors, never to biases.
 */
#ifndef FMNIST_OPTIM_H
#define FMNIST_OPTIM_H

#include "nn.h"

typedef enum optim_kind { OPTIM_SGD, OPTIM_ADAM, OPTIM_NOVOGRAD } optim_kind_t;

typedef struct optim {
    optim_kind_t kind;
    float        momentum;     /* sgd */
    float        beta1, beta2; /* adam, novograd */
    float        eps;
    float        wd;
    long         step;
    float       *m, *v; /* per parameter (v: adam only) */
    double      *vl;    /* novograd: per-tensor second moment */
} optim_t;

/* 0, or -1 when out of memory */
int  optim_init(optim_t *o, optim_kind_t kind, const nn_model_t *m,
                float momentum, float wd);
void optim_free(optim_t *o);

/* one update of m->params from m->grads (the global-batch mean gradient) */
void optim_step(optim_t *o, nn_model_t *m, float lr);

#endif
