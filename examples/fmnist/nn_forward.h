/*
 * nn_forward.h: the forward pass and the loss, written once for a real
 * type.  nn.c includes it twice: with float for training, and with double
 * for the gradient check's finite differences, which in float would drown
 * in rounding before they became small enough to miss the ReLU and
 * max-pool kinks.
 *
 * Before including: NN_REAL (float or double), NN_GEMM (cblas_sgemm or
 * cblas_dgemm) and NN_SUFFIX (f or d).
 */
#define NN_CAT2(a, b) a##b
#define NN_CAT(a, b) NN_CAT2(a, b)
#define NN_FN(name) NN_CAT(name, NN_SUFFIX)

/* add bias B (cols) to each of the ROWS rows of Y */
static void NN_FN(nn_add_bias_)(NN_REAL *y, const NN_REAL *b, long rows,
                                int cols)
{
    long r;
    int  j;

    for (r = 0; r < rows; r++, y += cols) {
        for (j = 0; j < cols; j++) {
            y[j] += b[j];
        }
    }
}

/*
 * Rows of COL are the 3x3xC patches around each output pixel of each
 * example (zeros outside the image), in the order (ky, kx, channel) that
 * matches the rows of the weight matrix.
 */
static void NN_FN(nn_im2col_)(const nn_layer_t *l, const NN_REAL *in,
                              NN_REAL *col, int n)
{
    const int c = l->c, h = l->h, w = l->w;
    NN_REAL  *dst = col;
    int       b, y, x, ky, kx, j;

    for (b = 0; b < n; b++) {
        const NN_REAL *img = in + (long)b * l->in_size;

        for (y = 0; y < h; y++) {
            for (x = 0; x < w; x++) {
                for (ky = -1; ky <= 1; ky++) {
                    /* only read when the row is inside the image */
                    const NN_REAL *row =
                        img + (y + ky >= 0 ? (long)(y + ky) * w * c : 0);

                    if (y + ky < 0 || y + ky >= h) {
                        for (j = 0; j < 3 * c; j++) {
                            dst[j] = 0;
                        }
                    } else if (x > 0 && x < w - 1) {
                        /* the three pixels are adjacent in the input */
                        for (j = 0; j < 3 * c; j++) {
                            dst[j] = row[(long)(x - 1) * c + j];
                        }
                    } else {
                        for (kx = -1; kx <= 1; kx++) {
                            int ix = x + kx;

                            for (j = 0; j < c; j++) {
                                dst[(kx + 1) * c + j] =
                                    ix >= 0 && ix < w ? row[(long)ix * c + j]
                                                      : 0;
                            }
                        }
                    }
                    dst += 3 * c;
                }
            }
        }
    }
}

/*
 * Forward pass of the n examples X with the parameters P; layer i writes
 * OUT[i] (and COL[i] for a convolution, ARG[i] for a pool).
 */
static void NN_FN(nn_forward_)(const nn_model_t *m, const NN_REAL *p,
                               const NN_REAL *x, int n, NN_REAL *const *out,
                               NN_REAL *const *col, int *const *arg)
{
    const NN_REAL *in = x;
    int            i;
    long           j;

    for (i = 0; i < m->nlayers; i++) {
        const nn_layer_t *l = &m->layer[i];
        const NN_REAL    *W = l->tw >= 0 ? p + m->tensor[l->tw].offset : NULL;
        const NN_REAL    *B = l->tb >= 0 ? p + m->tensor[l->tb].offset : NULL;
        NN_REAL          *y = out[i];
        long              total = (long)n * l->out_size;

        switch (l->kind) {
        case NN_DENSE:
            NN_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, l->oc, l->c,
                    1.0, in, l->c, W, l->oc, 0.0, y, l->oc);
            NN_FN(nn_add_bias_)(y, B, n, l->oc);
            break;
        case NN_CONV3: {
            long rows = (long)n * l->h * l->w;

            NN_FN(nn_im2col_)(l, in, col[i], n);
            NN_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, l->oc,
                    9 * l->c, 1.0, col[i], 9 * l->c, W, l->oc, 0.0, y, l->oc);
            NN_FN(nn_add_bias_)(y, B, rows, l->oc);
            break;
        }
        case NN_RELU:
            for (j = 0; j < total; j++) {
                y[j] = in[j] > 0 ? in[j] : 0;
            }
            break;
        case NN_POOL2: {
            const int c = l->c, w = l->w;
            int       b, r, s, k;
            long      o = 0;

            for (b = 0; b < n; b++) {
                long base = (long)b * l->in_size;

                for (r = 0; r < l->oh; r++) {
                    for (s = 0; s < l->ow; s++) {
                        long q[4];

                        q[0] = base + ((long)(2 * r) * w + 2 * s) * c;
                        q[1] = q[0] + c;
                        q[2] = q[0] + (long)w * c;
                        q[3] = q[2] + c;
                        for (k = 0; k < c; k++, o++) {
                            long best = q[0] + k;
                            int  t;

                            for (t = 1; t < 4; t++) {
                                if (in[q[t] + k] > in[best]) {
                                    best = q[t] + k;
                                }
                            }
                            y[o]      = in[best];
                            arg[i][o] = (int)(best - base);
                        }
                    }
                }
            }
            break;
        }
        }
        in = y;
    }
}

/*
 * Softmax cross-entropy of the n rows of K LOGITS against LABELS: returns
 * the sum of the losses (in double) and counts argmax hits in *CORRECT
 * (when not NULL).  With DLOGITS, writes SCALE * (softmax - onehot) there.
 */
static double NN_FN(nn_xent_)(const NN_REAL       *logits,
                              const unsigned char *labels, int n, int k,
                              float scale, float *dlogits, int *correct)
{
    double sum  = 0.0;
    int    hits = 0, b, j;

    for (b = 0; b < n; b++) {
        const NN_REAL *z   = logits + (long)b * k;
        int            arg = 0;
        double         zmax, s = 0.0;

        for (j = 1; j < k; j++) {
            if (z[j] > z[arg]) {
                arg = j;
            }
        }
        zmax = z[arg];
        for (j = 0; j < k; j++) {
            s += exp((double)z[j] - zmax);
        }
        sum += zmax + log(s) - (double)z[labels[b]];
        hits += arg == labels[b];
        if (dlogits != NULL) {
            for (j = 0; j < k; j++) {
                double q = exp((double)z[j] - zmax) / s;

                dlogits[(long)b * k + j] =
                    (float)(scale * (q - (j == labels[b])));
            }
        }
    }
    if (correct != NULL) {
        *correct = hits;
    }
    return sum;
}

#undef NN_FN
#undef NN_CAT
#undef NN_CAT2
