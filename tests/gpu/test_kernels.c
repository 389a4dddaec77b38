/*
 * tests/gpu/test_kernels.c: the CUDA module against the host reference.
 *
 * For many sizes (1 element to a few million, across the tile, warp and
 * sampling thresholds), data sets (spread magnitudes, heavy ties, mostly
 * zeros, signed zeros, subnormals, infinities; NaNs where the host's NaN
 * payloads do not enter the comparison), with and without a memory term and
 * several ratios and betas, every device kernel runs on poisoned outputs and
 * is compared with the host kernel on the same input:
 *   select (exact, chunk, sample): indices identical;
 *   compress (also in place), the leader's fused chunk pass, scatter, dense:
 *   memory, output and values bit for bit (NaN matching NaN);
 *   wire encode/decode: every fp16/bf16 pattern, 2^24 floats.
 * Also: memory types as the core sees them (device, host, pinned, managed).
 *
 * Exits 77 with "1..0 # SKIP" when there is no CUDA device.  The module is
 * $TEST_GPU_MODULE (or argv[1]).
 */
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap/tap.h"
#include "compcoll_kernels.h"
#include "compcoll_memtype.h"

#define CK(_call)                                                            \
    do {                                                                     \
        cudaError_t _e = (_call);                                            \
        if (_e != cudaSuccess) {                                             \
            printf("Bail out! %s: %s\n", #_call, cudaGetErrorString(_e));    \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#define POISON_U32 0xababababu
#define POISON_F32 0x7fc0deadu /* a NaN no kernel produces */

static const compcoll_gpu_module_t *mod;
static compcoll_gpu_stream_t       *S;
static compcoll_select_scratch_t    scr;
static uint64_t                     rng = 0x243f6a8885a308d3ull;

static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double urand(void)
{
    return (double)(next_u64() >> 11) * 0x1p-53;
}

static float f32(uint32_t u)
{
    float f;

    memcpy(&f, &u, 4);
    return f;
}

static uint32_t u32(float f)
{
    uint32_t u;

    memcpy(&u, &f, 4);
    return u;
}

enum { KIND_SPREAD, KIND_TIES, KIND_ZEROS, KIND_SPECIAL, KIND_COUNT };
static const char *kind_name[] = {"spread", "ties", "zeros", "special"};

/* One value of data set `kind`; `nan_ok`: NaNs may appear. */
static float gen(int kind, int nan_ok, float scale)
{
    double u = urand();

    switch (kind) {
    case KIND_SPREAD:
        return (float)((2.0 * urand() - 1.0) * ldexp(1.0, (int)(20 * u) - 10)) *
               scale;
    case KIND_TIES:
        return (float)((int)(urand() * 33) - 16) / 8.0f * scale;
    case KIND_ZEROS:
        return (u < 0.9) ? ((u < 0.45) ? 0.0f : -0.0f)
                         : (float)(2.0 * urand() - 1.0) * scale;
    default:
        if (u < 0.02) {
            return (urand() < 0.5) ? INFINITY : -INFINITY;
        }
        if (u < 0.04 && nan_ok) {
            /* quiet NaNs with payloads and signs */
            return f32(0x7fc00000u | (uint32_t)(next_u64() & 0x803fffffu));
        }
        if (u < 0.10) {
            return f32((uint32_t)(next_u64() & 0x807fffffu)); /* subnormal */
        }
        if (u < 0.15) {
            return (urand() < 0.5) ? 0.0f : -0.0f;
        }
        return (float)(2.0 * urand() - 1.0) * scale;
    }
}

/* Bits equal, or both NaN (NaN payloads differ between CPU and GPU). */
static int same(const float *a, const float *b, size_t n, size_t *at)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (u32(a[i]) != u32(b[i]) && !(isnan(a[i]) && isnan(b[i]))) {
            *at = i;
            return 0;
        }
    }
    return 1;
}

static int same_u32(const uint32_t *a, const uint32_t *b, size_t n, size_t *at)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            *at = i;
            return 0;
        }
    }
    return 1;
}

static void *dalloc(size_t bytes)
{
    void *p = NULL;

    CK(cudaMalloc(&p, bytes ? bytes : 4));
    return p;
}

static void to_dev(void *d, const void *h, size_t bytes)
{
    CK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
}

static void to_host(void *h, const void *d, size_t bytes)
{
    CK(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost));
}

static void poison(void *d, uint32_t pattern, size_t words)
{
    uint32_t *h = malloc(words * 4 + 4);
    size_t    i;

    for (i = 0; i < words; i++) {
        h[i] = pattern;
    }
    to_dev(d, h, words * 4);
    free(h);
}

static void fail_once(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_once(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (why[0] != '\0') {
        return; /* the first failure is the one reported */
    }
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

static void sync_ok(const char *what, char *why, size_t len)
{
    compcoll_status_t st = mod->stream_sync(S);

    if (st != COMPCOLL_OK) {
        fail_once(why, len, "%s: stream_sync returned %d", what, (int)st);
    }
}

/* Everything for one (n, kind, memory) over several ratios. */
static void run_case(size_t n, int kind, int with_mem)
{
    static const unsigned ratios[] = {1, 2, 7, 100, 1000};
    static const float    betas[]  = {1.0f, 0.5f, 0.3f};
    const size_t          bytes    = n * sizeof(float);
    const int             nan_ok   = !with_mem; /* see the file comment */
    float    *hm0 = malloc(bytes + 4), *hg = malloc(bytes + 4);
    float    *hm = malloc(bytes + 4), *hout = malloc(bytes + 4);
    float    *hg2 = malloc(bytes + 4), *got = malloc(bytes + 4);
    float    *hvals = malloc(bytes + 4), *gvals = malloc(bytes + 4);
    uint32_t *hidx = malloc(n * 4 + 4), *gidx = malloc(n * 4 + 4);
    float    *dm = dalloc(bytes), *dg = dalloc(bytes), *dout = dalloc(bytes);
    float    *dg2 = dalloc(bytes), *dvals = dalloc(bytes);
    uint32_t *didx = dalloc(n * 4);
    char      w_sel[512] = "", w_cmp[512] = "", w_fus[512] = "",
              w_oth[512] = "";
    size_t    i, r, at;
    int       mode;

    for (i = 0; i < n; i++) {
        hg[i]  = gen(kind, nan_ok, 1.0f);
        hm0[i] = with_mem ? gen(kind == KIND_SPECIAL ? KIND_SPREAD : kind, 0,
                                0.25f)
                          : 0.0f;
    }
    to_dev(dg, hg, bytes);
    for (r = 0; r < sizeof(ratios) / sizeof(ratios[0]); r++) {
        const size_t k    = (n + ratios[r] - 1) / ratios[r];
        const float  beta = betas[r % 3];
        const float *m    = with_mem ? hm0 : NULL;

        /* ---- select: three modes, indices identical ---- */
        for (mode = 0; mode < 3; mode++) {
            compcoll_status_t st;

            if (compcoll_host_select((compcoll_select_t)mode, m, hg, n, k,
                                     hidx, &scr) != COMPCOLL_OK) {
                fail_once(w_sel, sizeof(w_sel), "host select failed");
                continue;
            }
            to_dev(dm, hm0, bytes);
            poison(didx, POISON_U32, n);
            st = mod->select(S, (compcoll_select_t)mode, with_mem ? dm : NULL,
                             dg, n, k, didx);
            if (st != COMPCOLL_OK) {
                fail_once(w_sel, sizeof(w_sel), "mode %d k=%zu: select "
                          "returned %d", mode, k, (int)st);
            }
            sync_ok("select", w_sel, sizeof(w_sel));
            to_host(gidx, didx, k * 4);
            if (!same_u32(hidx, gidx, k, &at)) {
                fail_once(w_sel, sizeof(w_sel),
                          "mode %d k=%zu: idx[%zu] device %u host %u", mode, k,
                          at, gidx[at], hidx[at]);
            }
            to_host(got, dm, bytes);
            if (!same(got, hm0, n, &at)) {
                fail_once(w_sel, sizeof(w_sel), "mode %d: select wrote m[%zu]",
                          mode, at);
            }
        }
        compcoll_host_select(COMPCOLL_SELECT_EXACT, m, hg, n, k, hidx, &scr);

        /* ---- compress with given indices, out != g, then in place ---- */
        for (i = 0; i < 2; i++) {
            const int inplace = (int)i;

            memcpy(hm, hm0, bytes);
            memcpy(hg2, hg, bytes);
            compcoll_host_kernels.compress(with_mem ? hm : NULL,
                                           inplace ? hg2 : hg,
                                           inplace ? hg2 : hout, n, hidx, k,
                                           beta, hvals);
            to_dev(dm, hm0, bytes);
            to_dev(dg2, hg, bytes);
            poison(dout, POISON_F32, n);
            poison(dvals, POISON_F32, k);
            to_dev(didx, hidx, k * 4);
            if (mod->compress(S, with_mem ? dm : NULL, inplace ? dg2 : dg,
                              inplace ? dg2 : dout, n, didx, k, beta,
                              dvals) != COMPCOLL_OK) {
                fail_once(w_cmp, sizeof(w_cmp), "compress returned an error");
            }
            sync_ok("compress", w_cmp, sizeof(w_cmp));
            to_host(gvals, dvals, k * 4);
            if (!same(hvals, gvals, k, &at)) {
                fail_once(w_cmp, sizeof(w_cmp), "k=%zu beta=%g inplace=%d: "
                          "vals[%zu] device %#x host %#x", k, beta, inplace,
                          at, u32(gvals[at]), u32(hvals[at]));
            }
            to_host(got, inplace ? dg2 : dout, bytes);
            if (!same(inplace ? hg2 : hout, got, n, &at)) {
                fail_once(w_cmp, sizeof(w_cmp), "k=%zu inplace=%d: out[%zu] "
                          "device %#x host %#x", k, inplace, at, u32(got[at]),
                          u32((inplace ? hg2 : hout)[at]));
            }
            if (with_mem) {
                to_host(got, dm, bytes);
                if (!same(hm, got, n, &at)) {
                    fail_once(w_cmp, sizeof(w_cmp), "k=%zu beta=%g inplace=%d:"
                              " m[%zu] device %#x host %#x", k, beta, inplace,
                              at, u32(got[at]), u32(hm[at]));
                }
            }
        }

        /* ---- the leader's fused chunk pass ---- */
        compcoll_host_select(COMPCOLL_SELECT_CHUNK, m, hg, n, k, hidx, &scr);
        memcpy(hm, hm0, bytes);
        compcoll_host_kernels.compress(with_mem ? hm : NULL, hg, hout, n, hidx,
                                       k, beta, hvals);
        to_dev(dm, hm0, bytes);
        poison(dout, POISON_F32, n);
        poison(dvals, POISON_F32, k);
        poison(didx, POISON_U32, k);
        if (mod->chunk_compress(S, with_mem ? dm : NULL, dg, dout, n, k, beta,
                                didx, dvals) != COMPCOLL_OK) {
            fail_once(w_fus, sizeof(w_fus), "chunk_compress returned an error");
        }
        sync_ok("chunk_compress", w_fus, sizeof(w_fus));
        to_host(gidx, didx, k * 4);
        to_host(gvals, dvals, k * 4);
        to_host(got, dout, bytes);
        if (!same_u32(hidx, gidx, k, &at)) {
            fail_once(w_fus, sizeof(w_fus), "k=%zu: idx[%zu] device %u host %u",
                      k, at, gidx[at], hidx[at]);
        } else if (!same(hvals, gvals, k, &at)) {
            fail_once(w_fus, sizeof(w_fus), "k=%zu: vals[%zu] device %#x host "
                      "%#x", k, at, u32(gvals[at]), u32(hvals[at]));
        } else if (!same(hout, got, n, &at)) {
            fail_once(w_fus, sizeof(w_fus), "k=%zu: out[%zu] device %#x host "
                      "%#x", k, at, u32(got[at]), u32(hout[at]));
        } else if (with_mem) {
            to_host(got, dm, bytes);
            if (!same(hm, got, n, &at)) {
                fail_once(w_fus, sizeof(w_fus), "k=%zu beta=%g: m[%zu] device "
                          "%#x host %#x", k, beta, at, u32(got[at]),
                          u32(hm[at]));
            }
        }

        /* ---- scatter into a filled output, then dense ---- */
        for (i = 0; i < k; i++) {
            hvals[i] = gen(KIND_SPREAD, 0, 4.0f);
        }
        memcpy(hout, hg, bytes);
        compcoll_host_kernels.scatter(hout, hidx, hvals, k);
        to_dev(dout, hg, bytes);
        to_dev(dvals, hvals, k * 4);
        to_dev(didx, hidx, k * 4);
        if (mod->scatter(S, dout, didx, dvals, k) != COMPCOLL_OK) {
            fail_once(w_oth, sizeof(w_oth), "scatter returned an error");
        }
        sync_ok("scatter", w_oth, sizeof(w_oth));
        to_host(got, dout, bytes);
        if (!same(hout, got, n, &at)) {
            fail_once(w_oth, sizeof(w_oth), "scatter k=%zu: out[%zu]", k, at);
        }
        memcpy(hm, hm0, bytes);
        compcoll_host_kernels.dense(with_mem ? hm : NULL, hg, hout, n, beta);
        to_dev(dm, hm0, bytes);
        poison(dout, POISON_F32, n);
        if (mod->dense(S, with_mem ? dm : NULL, dg, dout, n, beta) !=
            COMPCOLL_OK) {
            fail_once(w_oth, sizeof(w_oth), "dense returned an error");
        }
        sync_ok("dense", w_oth, sizeof(w_oth));
        to_host(got, dout, bytes);
        if (!same(hout, got, n, &at)) {
            fail_once(w_oth, sizeof(w_oth), "dense beta=%g: out[%zu] device "
                      "%#x host %#x", beta, at, u32(got[at]), u32(hout[at]));
        } else if (with_mem) {
            to_host(got, dm, bytes);
            if (!same(hm, got, n, &at)) {
                fail_once(w_oth, sizeof(w_oth), "dense beta=%g: m[%zu]", beta,
                          at);
            }
        }
    }
    ok(w_sel[0] == '\0', "n=%zu %s %s: select exact/chunk/sample identical "
       "to host%s%s", n, kind_name[kind], with_mem ? "m+g" : "g",
       w_sel[0] ? ": " : "", w_sel);
    ok(w_cmp[0] == '\0', "n=%zu %s %s: compress (and in place) identical%s%s",
       n, kind_name[kind], with_mem ? "m+g" : "g", w_cmp[0] ? ": " : "",
       w_cmp);
    ok(w_fus[0] == '\0', "n=%zu %s %s: fused chunk pass identical%s%s", n,
       kind_name[kind], with_mem ? "m+g" : "g", w_fus[0] ? ": " : "", w_fus);
    ok(w_oth[0] == '\0', "n=%zu %s %s: scatter and dense identical%s%s", n,
       kind_name[kind], with_mem ? "m+g" : "g", w_oth[0] ? ": " : "", w_oth);

    cudaFree(dm);
    cudaFree(dg);
    cudaFree(dout);
    cudaFree(dg2);
    cudaFree(dvals);
    cudaFree(didx);
    free(hm0);
    free(hg);
    free(hm);
    free(hout);
    free(hg2);
    free(got);
    free(hvals);
    free(gvals);
    free(hidx);
    free(gidx);
}

static void run_wire(void)
{
    const size_t nf = (size_t)1 << 24;
    float       *hf = malloc(nf * 4), *back = malloc(nf * 4);
    uint16_t    *h16 = malloc(nf * 2), *g16 = malloc(nf * 2);
    void        *df = dalloc(nf * 4), *d16 = dalloc(nf * 2);
    int          w;
    size_t       i, at;

    /* every exponent, random mantissas, plus the edges of each range */
    for (i = 0; i < nf; i++) {
        hf[i] = f32((uint32_t)(i << 8) | (uint32_t)(next_u64() & 0xff));
    }
    for (w = COMPCOLL_WIRE_FP16; w <= COMPCOLL_WIRE_BF16; w++) {
        const char *name = (w == COMPCOLL_WIRE_FP16) ? "fp16" : "bf16";
        int         good = 1;

        for (i = 0; i < nf; i++) {
            h16[i] = (w == COMPCOLL_WIRE_FP16) ? compcoll_f32_to_fp16(hf[i])
                                               : compcoll_f32_to_bf16(hf[i]);
        }
        to_dev(df, hf, nf * 4);
        mod->wire_encode(S, (compcoll_wire_t)w, d16, df, nf);
        good = mod->stream_sync(S) == COMPCOLL_OK;
        to_host(g16, d16, nf * 2);
        for (at = 0; at < nf && g16[at] == h16[at]; at++) {
        }
        ok(good && at == nf, "wire %s: encode of 2^24 floats identical%s", name,
           at < nf ? " (a mismatch)" : "");
        if (at < nf) {
            diag("float %#x: device %#x host %#x", u32(hf[at]), g16[at],
                 h16[at]);
        }
        for (i = 0; i < 65536; i++) {
            h16[i] = (uint16_t)i;
        }
        to_dev(d16, h16, 65536 * 2);
        mod->wire_decode(S, (compcoll_wire_t)w, df, d16, 65536);
        good = mod->stream_sync(S) == COMPCOLL_OK;
        to_host(back, df, 65536 * 4);
        for (i = 0; i < 65536; i++) {
            hf[i] = (w == COMPCOLL_WIRE_FP16) ? compcoll_fp16_to_f32(h16[i])
                                              : compcoll_bf16_to_f32(h16[i]);
        }
        ok(good && same(hf, back, 65536, &at),
           "wire %s: decode of every 16-bit pattern identical", name);
        for (i = 0; i < nf; i++) { /* restore the encode input */
            hf[i] = f32((uint32_t)(i << 8) | (uint32_t)(next_u64() & 0xff));
        }
    }
    cudaFree(df);
    cudaFree(d16);
    free(hf);
    free(back);
    free(h16);
    free(g16);
}

static void run_memtypes(compcoll_mem_info_t *dev_where)
{
    compcoll_mem_info_t w;
    void               *d, *pinned, *managed, *host = malloc(64);

    CK(cudaMalloc(&d, 1 << 20));
    CK(cudaMallocHost(&pinned, 4096));
    CK(cudaMallocManaged(&managed, 4096, cudaMemAttachGlobal));
    ok(compcoll_gpu_present(), "the core sees the CUDA driver loaded");
    compcoll_mem_query((char *)d + 4096, &w);
    ok(w.type == COMPCOLL_MEM_DEVICE && w.device == 0,
       "device memory (inside an allocation): device 0 (type %d device %d)",
       (int)w.type, w.device);
    *dev_where = w;
    compcoll_mem_query(host, &w);
    ok(w.type == COMPCOLL_MEM_HOST, "malloc'ed memory: host");
    compcoll_mem_query(pinned, &w);
    ok(w.type == COMPCOLL_MEM_HOST, "pinned memory: host");
    compcoll_mem_query(managed, &w);
    ok(w.type == COMPCOLL_MEM_MANAGED, "managed memory: managed");
    compcoll_mem_query(&w, &w);
    ok(w.type == COMPCOLL_MEM_HOST, "stack memory: host");
    cudaFree(d);
    cudaFreeHost(pinned);
    cudaFree(managed);
    free(host);
}

static void log_cb(int level, const char *file, int line, const char *msg)
{
    diag("module %s %s:%d %s", level == 0 ? "ERROR" : "log", file, line, msg);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {1,     2,      3,      31,     32,
                                   33,    100,    1000,   4095,   4096,
                                   4097,  65535,  65536,  100003, 1048576,
                                   3000017};
    const char         *path    = getenv("TEST_GPU_MODULE");
    compcoll_gpu_module_get_fn get;
    compcoll_mem_info_t where;
    void               *h;
    int                 ndev = 0, kind, with_mem;
    size_t              s;

    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        tap_skip_all("no CUDA device");
    }
    if (argc > 1) {
        path = argv[1];
    }
    if (path == NULL) {
        printf("Bail out! TEST_GPU_MODULE is not set\n");
        return 1;
    }
    CK(cudaSetDevice(0));
    CK(cudaFree(NULL)); /* the program's context, as a framework makes it */
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        printf("Bail out! %s\n", dlerror());
        return 1;
    }
    *(void **)&get = dlsym(h, COMPCOLL_GPU_MODULE_SYMBOL);
    mod = get != NULL ? get(COMPCOLL_GPU_ABI_VERSION, log_cb) : NULL;
    if (mod == NULL) {
        printf("Bail out! the module did not start\n");
        return 1;
    }
    {
        struct cudaDeviceProp prop;

        CK(cudaGetDeviceProperties(&prop, 0));
        diag("device 0: %s (sm_%d%d), module: %s", prop.name, prop.major,
             prop.minor, mod->description);
    }
    tap_plan(6 + (int)(sizeof(sizes) / sizeof(sizes[0])) * KIND_COUNT * 2 * 4 +
             4 + 4);
    run_memtypes(&where);
    if (mod->stream_create(&where, &S) != COMPCOLL_OK) {
        printf("Bail out! stream_create failed\n");
        return 1;
    }
    for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (kind = 0; kind < KIND_COUNT; kind++) {
            for (with_mem = 0; with_mem < 2; with_mem++) {
                run_case(sizes[s], kind, with_mem);
            }
        }
    }
    diag("sample selections that fell back to exact: %llu",
         (unsigned long long)mod->sample_fallbacks(S));
    run_wire();
    mod->stream_destroy(S);
    mod->finalize();
    compcoll_buf_release(&scr.cand);
    compcoll_buf_release(&scr.above);
    compcoll_buf_release(&scr.keys);
    return tap_done();
}
