/*
 * The fused pass and the dense kernel against the memory update's
 * definition, and conservation over many steps of a simulated p-rank
 * ScaleCom run: sum_t out_t + sum_r m_r = sum_t sum_r g_r at beta = 1.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tap/tap.h"
#include "compcoll_kernels.h"

static uint64_t rng = 0x243f6a8885a308d3ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) * 0x1p-52 - 1.0);
}

static void random_idx(uint32_t *idx, size_t n, size_t k)
{
    size_t i, j = 0;

    /* k distinct ascending indices by selection sampling */
    for (i = 0; i < n && j < k; i++) {
        if ((double)(rng % (n - i)) < (double)(k - j)) {
            idx[j++] = (uint32_t)i;
        }
        frand();
    }
}

static int bits_equal(const float *a, const float *b, size_t n, size_t *at)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            *at = i;
            return 0;
        }
    }
    return 1;
}

static void test_compress(size_t n, size_t k, float beta, int inplace,
                          int with_mem)
{
    const compcoll_kernel_ops_t *ker = &compcoll_host_kernels;
    float    *g = malloc(n * 4), *m = malloc(n * 4), *out = malloc(n * 4);
    float    *m_ref = malloc(n * 4), *vals = malloc(k * 4), *v_ref = malloc(k * 4);
    uint32_t *idx = malloc(k * 4);
    char     *in_i = calloc(n, 1);
    size_t    i, j, at = 0;
    int       good = 1;

    for (i = 0; i < n; i++) {
        g[i] = frand();
        m[i] = m_ref[i] = frand() * 0.5f;
        out[i] = 123.0f; /* poison: must become 0 */
    }
    random_idx(idx, n, k);
    for (j = 0; j < k; j++) {
        in_i[idx[j]] = 1;
        v_ref[j] = with_mem ? m_ref[idx[j]] + g[idx[j]] : g[idx[j]];
    }
    /* The definition, element by element. */
    for (i = 0; i < n && with_mem; i++) {
        if (in_i[i]) {
            /* (1 - beta) m; beta = 1 leaves exactly +0 */
            m_ref[i] = beta == 1.0f ? 0.0f : (1.0f - beta) * m_ref[i];
        } else {
            m_ref[i] = m_ref[i] + beta * g[i];
        }
    }
    if (inplace) {
        memcpy(out, g, n * 4);
        ker->compress(with_mem ? m : NULL, out, out, n, idx, k, beta, vals);
    } else {
        ker->compress(with_mem ? m : NULL, g, out, n, idx, k, beta, vals);
    }
    good &= bits_equal(vals, v_ref, k, &at);
    if (with_mem) {
        good &= bits_equal(m, m_ref, n, &at);
    }
    for (i = 0; i < n; i++) {
        good &= (out[i] == 0.0f && !signbit(out[i]));
    }
    ok(good, "compress n=%zu k=%zu beta=%g %s%s: values, memory, zero output",
       n, k, beta, inplace ? "in place" : "out of place",
       with_mem ? "" : ", no memory");

    /* scatter writes exactly the selected places */
    for (j = 0; j < k; j++) {
        vals[j] = (float)(j + 1);
    }
    ker->scatter(out, idx, vals, k);
    good = 1;
    for (i = 0, j = 0; i < n; i++) {
        float want = in_i[i] ? (float)(++j) : 0.0f;

        good &= out[i] == want;
    }
    ok(good, "scatter n=%zu k=%zu", n, k);

    /* dense: out = m + g, m <- (1 - beta) m */
    for (i = 0; i < n; i++) {
        m[i] = m_ref[i] = frand();
        g[i] = frand();
    }
    ker->dense(m, g, out, n, beta);
    good = 1;
    for (i = 0; i < n; i++) {
        good &= out[i] == m_ref[i] + g[i];
        good &= m[i] == (1.0f - beta) * m_ref[i];
        good &= beta != 1.0f || !signbit(m[i]); /* +0 */
    }
    ok(good, "dense n=%zu beta=%g", n, beta);

    free(g);
    free(m);
    free(out);
    free(m_ref);
    free(vals);
    free(v_ref);
    free(idx);
    free(in_i);
}

/*
 * fold then take (the beta = 1 path, whose pass runs before the indices are
 * known) against compress with beta = 1: the same values, memory and output
 * bit for bit, with negative, zero and infinite memories among them.  Out
 * of place, out starts one float past an aligned buffer (a large fold
 * streams out from its first 16-byte boundary).
 */
static void test_fold(size_t n, size_t k, int inplace)
{
    const compcoll_kernel_ops_t *ker = &compcoll_host_kernels;
    float    *g = malloc(n * 4), *g2 = malloc(n * 4);
    float    *m1 = malloc(n * 4), *m2 = malloc(n * 4);
    float    *b1 = malloc((n + 1) * 4), *b2 = malloc((n + 1) * 4);
    float    *o1 = b1 + !inplace, *o2 = b2 + !inplace;
    float    *v1 = malloc(k * 4), *v2 = malloc(k * 4);
    uint32_t *idx = malloc(k * 4);
    size_t    i, at = 0;
    int       good = 1;

    for (i = 0; i < n; i++) {
        g[i]  = frand();
        m1[i] = m2[i] = (i % 17 == 3) ? -0.0f
                        : (i % 29 == 5) ? -INFINITY
                                        : frand() * 0.5f;
        o1[i] = o2[i] = 55.0f; /* poison */
    }
    random_idx(idx, n, k);
    memcpy(g2, g, n * 4);
    if (inplace) {
        memcpy(o1, g, n * 4);
        memcpy(o2, g, n * 4);
        ker->compress(m1, o1, o1, n, idx, k, 1.0f, v1);
        ker->fold(m2, o2, o2, n);
    } else {
        ker->compress(m1, g, o1, n, idx, k, 1.0f, v1);
        ker->fold(m2, g2, o2, n);
    }
    ker->take(m2, idx, k, v2);
    good &= bits_equal(v1, v2, k, &at);
    good &= bits_equal(m1, m2, n, &at);
    good &= bits_equal(o1, o2, n, &at);
    good &= inplace || memcmp(g, g2, n * 4) == 0; /* g only read */
    for (i = 0; i < k; i++) {
        good &= m2[idx[i]] == 0.0f && !signbit(m2[idx[i]]);
    }
    ok(good, "fold + take n=%zu k=%zu %s equals compress with beta=1 bit for "
       "bit", n, k, inplace ? "in place" : "out of place");

    free(g);
    free(g2);
    free(m1);
    free(m2);
    free(b1);
    free(b2);
    free(v1);
    free(v2);
    free(idx);
}

/*
 * p simulated ranks, leader rotating, exact selection, values summed in
 * double; conservation checked in double at the end.
 */
static void test_conservation(int p, size_t n, size_t ratio, int steps,
                              compcoll_select_t mode)
{
    const compcoll_kernel_ops_t *ker = &compcoll_host_kernels;
    compcoll_select_scratch_t    s;
    size_t    k = (n + ratio - 1) / ratio, i, j;
    float   **m = malloc(p * sizeof(*m)), **g = malloc(p * sizeof(*g));
    float   **v = malloc(p * sizeof(*v));
    float    *out = malloc(n * 4);
    double   *sum_out = calloc(n, 8), *sum_g = calloc(n, 8);
    uint32_t *idx = malloc(k * 4);
    double    worst = 0.0, scale = 0.0;
    int       r, t;

    memset(&s, 0, sizeof(s));
    for (r = 0; r < p; r++) {
        m[r] = calloc(n, 4);
        g[r] = malloc(n * 4);
        v[r] = malloc(k * 4);
    }
    for (t = 0; t < steps; t++) {
        int leader = t % p;

        for (r = 0; r < p; r++) {
            for (i = 0; i < n; i++) {
                g[r][i] = frand() * (1.0f + (float)(i % 13));
                sum_g[i] += g[r][i];
            }
        }
        ker->select(mode, m[leader], g[leader], n, k, idx, &s);
        for (r = 0; r < p; r++) {
            ker->compress(m[r], g[r], out, n, idx, k, 1.0f, v[r]);
        }
        for (j = 0; j < k; j++) {
            double acc = 0.0;

            for (r = 0; r < p; r++) {
                acc += v[r][j];
            }
            v[0][j] = (float)acc;
        }
        ker->scatter(out, idx, v[0], k);
        for (i = 0; i < n; i++) {
            sum_out[i] += out[i];
        }
    }
    for (i = 0; i < n; i++) {
        double lhs = sum_out[i];

        for (r = 0; r < p; r++) {
            lhs += m[r][i];
        }
        if (fabs(lhs - sum_g[i]) > worst) {
            worst = fabs(lhs - sum_g[i]);
        }
        if (fabs(sum_g[i]) > scale) {
            scale = fabs(sum_g[i]);
        }
    }
    /* Each step adds at most a few float roundings of values of size ~13p. */
    ok(worst <= 1e-5 * 13.0 * p * steps,
       "conservation p=%d n=%zu ratio=%zu steps=%d %s: max |sum out + sum m "
       "- sum g| = %.3g", p, n, ratio, steps,
       mode == COMPCOLL_SELECT_CHUNK ? "chunk" : "exact", worst);
    for (r = 0; r < p; r++) {
        free(m[r]);
        free(g[r]);
        free(v[r]);
    }
    free(m);
    free(g);
    free(v);
    free(out);
    free(sum_out);
    free(sum_g);
    free(idx);
    compcoll_select_scratch_release(&s);
}

int main(void)
{
    static const size_t sizes[][2] = {{1, 1}, {10, 1}, {10, 10}, {1000, 10},
                                      {4099, 41}, {100000, 1000}};
    static const float  betas[]    = {1.0f, 0.5f, 0.1f};
    size_t              a, b;
    int                 inplace;

    for (a = 0; a < sizeof(sizes) / sizeof(sizes[0]); a++) {
        for (b = 0; b < 3; b++) {
            for (inplace = 0; inplace < 2; inplace++) {
                test_compress(sizes[a][0], sizes[a][1], betas[b], inplace, 1);
            }
        }
        test_compress(sizes[a][0], sizes[a][1], 1.0f, 1, 0);
        test_fold(sizes[a][0], sizes[a][1], 0);
        test_fold(sizes[a][0], sizes[a][1], 1);
    }
    /* out of 8 MB and more: the fold's streaming stores */
    test_fold(2100003, 21001, 0);
    test_fold(2100003, 21001, 1);
    test_conservation(1, 5000, 100, 50, COMPCOLL_SELECT_EXACT);
    test_conservation(3, 5000, 100, 200, COMPCOLL_SELECT_EXACT);
    test_conservation(4, 20000, 50, 100, COMPCOLL_SELECT_CHUNK);
    return tap_done();
}
