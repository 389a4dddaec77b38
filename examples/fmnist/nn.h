/*
 * nn.h: the two models (an MLP and a small CNN), their forward and backward
 * passes on a batch, softmax cross-entropy, and a finite-difference
 * gradient check.  Knows nothing of MPI: the trainer sums gradients in the
 * callback that backward calls as each layer's gradients are ready.
 *
 * Activations are NHWC, row-major, one example after the other.  GEMMs go
 * to cblas_sgemm; a 3x3 convolution is im2col followed by one sgemm over
 * the whole batch.  All parameters live in one buffer and all gradients in
 * another, tensor after tensor, so that a fused all-reduce is one call.
 */
#ifndef FMNIST_NN_H
#define FMNIST_NN_H

#include <stdint.h>
#include <stdio.h>

#define NN_MAX_LAYERS 16
#define NN_MAX_TENSORS 16

typedef enum nn_kind {
    NN_DENSE, /* y = x W + b, W is [in x out] */
    NN_CONV3, /* 3x3, stride 1, padding 1; W is [9 c x oc] */
    NN_RELU,
    NN_POOL2 /* 2x2 max-pool, stride 2 */
} nn_kind_t;

typedef struct nn_layer {
    nn_kind_t kind;
    int       c, h, w;    /* input shape of one example */
    int       oc, oh, ow; /* output shape of one example */
    long      in_size, out_size;
    int       tw, tb; /* weight and bias tensors, -1 for none */
    float    *out;    /* max_batch x out_size */
    float    *col;    /* conv: im2col rows, max_batch*h*w x 9c */
    int      *arg;    /* pool: input index of each output's maximum */
} nn_layer_t;

typedef struct nn_tensor {
    char name[32];
    long offset; /* into params and grads */
    long count;
    int  fan_in;
    int  is_bias;
    int  layer;
} nn_tensor_t;

typedef struct nn_model {
    const char *name;
    int         max_batch;
    int         nlayers, ntensors;
    nn_layer_t  layer[NN_MAX_LAYERS];
    nn_tensor_t tensor[NN_MAX_TENSORS];
    long        nparams;
    float      *params, *grads;
    float      *dlogits; /* max_batch x classes */
    float      *dbuf[2]; /* ping-pong buffers for backward */
    int         classes;
} nn_model_t;

/* called by nn_backward when tensor T's gradient is complete */
typedef void (*nn_ready_fn)(void *ctx, int t);

/* "mlp" or "cnn"; NULL for an unknown name (or out of memory). */
nn_model_t *nn_create(const char *name, int max_batch);
void        nn_destroy(nn_model_t *m);

/* He initialisation of weights from SEED, biases zero. */
void nn_init(nn_model_t *m, uint64_t seed);

/* X is n x 784; the logits end in the last layer's out. */
void nn_forward(nn_model_t *m, const float *x, int n);

/*
 * Softmax cross-entropy of the logits against LABELS.  Returns the sum of
 * the n per-example losses (in double); *correct gets the number of argmax
 * hits.  With want_grad, m->dlogits = SCALE * (softmax - onehot).
 */
double nn_xent(nn_model_t *m, const unsigned char *labels, int n, float scale,
               int want_grad, int *correct);

/* Gradients of every tensor from m->dlogits (after nn_forward on X). */
void nn_backward(nn_model_t *m, const float *x, int n, nn_ready_fn ready,
                 void *ctx);

/*
 * Compare analytic gradients with central differences on PER_TENSOR
 * parameters of each tensor (the largest gradients and random ones) for
 * the mean loss over the n examples.  Prints one line per check to OUT;
 * returns the number of mismatches.
 */
int nn_gradcheck(nn_model_t *m, const float *x, const unsigned char *labels,
                 int n, int per_tensor, uint64_t seed, FILE *out);

/* splitmix64: the one random generator of the trainer */
uint64_t nn_rand(uint64_t *state);
double   nn_uniform(uint64_t *state); /* [0, 1) */

#endif
