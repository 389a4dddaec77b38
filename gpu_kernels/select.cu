/*
 * gpu_kernels: exact and sample top-k selection on the device.
 *
 * The result is the host reference's (select_host.c) bit for bit: the k
 * elements with the largest keys (bits of |m + g|), ties at the threshold
 * going to the lower indices, listed in ascending order.  That set is
 * unique, so any way of finding it gives the same answer; this one never
 * sorts and never leaves the device until the indices are complete:
 *
 *  threshold: radix select over the 31 key bits in three digit passes
 *             (bits 31..21, 20..10, 9..0).  Each pass histograms the digit
 *             of the elements whose higher digits equal the prefix found so
 *             far (shared-memory bins, warp-aggregated with match_any), then
 *             one block scans the histogram from the top and narrows the
 *             prefix.  After the third pass the threshold key T is known,
 *             with `ties`, how many elements equal to T belong in the set.
 *  tie cut:   when fewer than all elements equal to T are taken, the index
 *             `cut` below which exactly `ties` of them lie: counts of T per
 *             tile of 4096 elements, then one block finds the tile and the
 *             position in it.  Otherwise cut is past the end.
 *  compact:   cub::DeviceSelect::If keeps i when key > T, or key == T and
 *             i < cut: exactly k indices, in input (ascending) order.
 *
 *  sample:    (n >= 65536) the threshold of the top r of a random sample
 *             of the keys, r with the host's margin, is a lower bound t0
 *             for the k-th largest key with high probability.  One pass
 *             counts the elements with key >= t0; when the count c covers
 *             k and stays within the bound, DeviceSelect lists them
 *             (ascending), and the exact selection above runs on that list
 *             only.  Every member of the top k has key >= t0 when c >= k,
 *             so the result is the exact set.  Otherwise: exact on all n.
 *             Two full passes over m and g instead of four.
 *
 * Scratch comes from the stream's memory pool and goes back to it in
 * stream order.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include <cub/block/block_scan.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include "compcoll_gpu_kernels.h"

#define SEL_BINS          2048u
#define SEL_NONE          0xffffffffu
#define SEL_THREADS       256
#define SEL_FIND_THREADS  1024
#define SEL_TILE          (4u * SEL_FIND_THREADS)
#define SEL_SAMPLE_MIN_N  65536u

/* Device-side state of one selection; nsel and err are adjacent so one
 * copy brings both to the host. */
typedef struct {
    uint32_t prefix; /* key bits above the current digit, found so far */
    uint32_t q;      /* rank still wanted among elements with that prefix */
    uint32_t thresh; /* T */
    uint32_t ties;   /* elements equal to T that are taken */
    uint32_t n_eq;   /* elements equal to T */
    uint32_t cut;    /* take those equal to T only below this index */
    uint32_t count;  /* sample: elements with key >= t0 */
    uint32_t pad;
    uint32_t nsel;   /* DeviceSelect's count */
    uint32_t err;    /* a scan found no bucket: cannot happen, checked */
} sel_state_t;

/* The elements a selection ranks: positions 0..len-1 of the tensor, of a
 * list of its indices, or of precomputed keys (the sample). */
typedef struct {
    const float    *m;
    const float    *g;
    const uint32_t *list;
    const uint32_t *keys;
    uint32_t        len;
} sel_src_t;

__device__ __forceinline__ uint32_t sel_index(const sel_src_t &s, size_t j)
{
    return s.list != NULL ? s.list[j] : (uint32_t)j;
}

__device__ __forceinline__ uint32_t sel_key_at(const float *m, const float *g,
                                               uint32_t i)
{
    const float a = (m != NULL) ? __fadd_rn(m[i], g[i]) : g[i];

    return __float_as_uint(a) & 0x7fffffffu;
}

__device__ __forceinline__ uint32_t sel_key(const sel_src_t &s, size_t j)
{
    return s.keys != NULL ? s.keys[j] : sel_key_at(s.m, s.g, sel_index(s, j));
}

/* The digit of `key` at `level`, or SEL_NONE when its higher digits differ
 * from prefix. */
__device__ __forceinline__ uint32_t sel_digit(int level, uint32_t key,
                                              uint32_t prefix)
{
    switch (level) {
    case 0:
        return key >> 21;
    case 1:
        return ((key >> 21) == prefix) ? ((key >> 10) & 2047u) : SEL_NONE;
    default:
        return ((key >> 10) == prefix) ? (key & 1023u) : SEL_NONE;
    }
}

__global__ void sel_init_kernel(sel_state_t *st, uint32_t q)
{
    st->prefix = 0;
    st->q      = q;
    st->thresh = 0;
    st->ties   = 0;
    st->n_eq   = 0;
    st->cut    = SEL_NONE;
    st->count  = 0;
    st->nsel   = 0;
    st->err    = 0;
}

__global__ void sel_hist_kernel(sel_src_t s, int level, const sel_state_t *st,
                                uint32_t *ghist)
{
    __shared__ uint32_t h[SEL_BINS];
    const uint32_t      prefix = st->prefix;
    const unsigned      lane   = threadIdx.x & 31u;
    const size_t        stride = (size_t)gridDim.x * blockDim.x;
    size_t              base;
    unsigned            b;

    for (b = threadIdx.x; b < SEL_BINS; b += blockDim.x) {
        h[b] = 0;
    }
    __syncthreads();
    /* warp-uniform: every lane of a warp takes the same iterations */
    for (base = (size_t)blockIdx.x * blockDim.x + (threadIdx.x & ~31u);
         base < s.len; base += stride) {
        const size_t j   = base + lane;
        uint32_t     bin = SEL_NONE;
        unsigned     peers;

        if (j < s.len) {
            bin = sel_digit(level, sel_key(s, j), prefix);
        }
        peers = __match_any_sync(0xffffffffu, bin);
        if (bin != SEL_NONE && lane == (unsigned)(__ffs(peers) - 1)) {
            atomicAdd(&h[bin], (uint32_t)__popc(peers));
        }
    }
    __syncthreads();
    for (b = threadIdx.x; b < SEL_BINS; b += blockDim.x) {
        if (h[b] != 0) {
            atomicAdd(&ghist[b], h[b]);
        }
    }
}

typedef cub::BlockScan<uint32_t, SEL_FIND_THREADS> sel_scan_t;

/*
 * One block: the bucket b of this level's histogram, scanning from the top,
 * with count(> b) < q <= count(>= b); the prefix grows by b and q drops by
 * count(> b).
 */
__global__ void __launch_bounds__(SEL_FIND_THREADS)
sel_find_kernel(int level, sel_state_t *st, const uint32_t *hist)
{
    __shared__ typename sel_scan_t::TempStorage tmp;
    const uint32_t nb     = (level == 2) ? 1024u : 2048u;
    const uint32_t t      = threadIdx.x;
    const uint32_t q      = st->q;
    const uint32_t prefix = st->prefix;
    uint32_t       v0 = 0, v1 = 0, pre, total, b = SEL_NONE, above = 0, cnt = 0;

    /* thread t holds the buckets at descending positions 2t and 2t + 1 */
    if (2 * t < nb) {
        v0 = hist[nb - 1 - 2 * t];
    }
    if (2 * t + 1 < nb) {
        v1 = hist[nb - 2 - 2 * t];
    }
    __syncthreads(); /* every thread has read q and prefix: one writes them */
    sel_scan_t(tmp).ExclusiveSum(v0 + v1, pre, total);
    if (v0 != 0 && pre < q && q <= pre + v0) {
        b     = nb - 1 - 2 * t;
        above = pre;
        cnt   = v0;
    } else if (v1 != 0 && pre + v0 < q && q <= pre + v0 + v1) {
        b     = nb - 2 - 2 * t;
        above = pre + v0;
        cnt   = v1;
    }
    if (b != SEL_NONE) {
        switch (level) {
        case 0:
            st->prefix = b;
            break;
        case 1:
            st->prefix = (prefix << 11) | b;
            break;
        default:
            st->thresh = (prefix << 10) | b;
            st->ties   = q - above;
            st->n_eq   = cnt;
            break;
        }
        st->q = q - above;
    }
    if (t == 0 && (q == 0 || total < q)) {
        st->err = 1;
    }
}

/* Elements equal to T per tile, only when the tie cut is needed. */
__global__ void sel_tilecount_kernel(sel_src_t s, const sel_state_t *st,
                                     uint32_t *tilecnt, uint32_t ntiles)
{
    __shared__ uint32_t c;
    const uint32_t      T    = st->thresh;
    const unsigned      lane = threadIdx.x & 31u;
    size_t              tile;

    if (st->ties == st->n_eq) {
        return;
    }
    for (tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
        const size_t lo = tile * SEL_TILE;
        const size_t hi = (lo + SEL_TILE < s.len) ? lo + SEL_TILE : s.len;
        size_t       base;

        if (threadIdx.x == 0) {
            c = 0;
        }
        __syncthreads();
        for (base = lo + (threadIdx.x & ~31u); base < hi; base += blockDim.x) {
            const size_t j  = base + lane;
            const bool   eq = j < hi && sel_key(s, j) == T;
            const unsigned bal = __ballot_sync(0xffffffffu, eq);

            if (lane == 0 && bal != 0) {
                atomicAdd(&c, (uint32_t)__popc(bal));
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            tilecnt[tile] = c;
        }
        __syncthreads();
    }
}

/* One block: the index below which exactly `ties` elements equal T. */
__global__ void __launch_bounds__(SEL_FIND_THREADS)
sel_cut_kernel(sel_src_t s, sel_state_t *st, const uint32_t *tilecnt,
               uint32_t ntiles)
{
    __shared__ typename sel_scan_t::TempStorage tmp;
    __shared__ uint32_t s_tile, s_rank;
    __shared__ int      s_found;
    const uint32_t      ties = st->ties, n_eq = st->n_eq, T = st->thresh;
    const uint32_t      t    = threadIdx.x;
    uint32_t            carry = 0, c0, local, pre, agg, r;
    uint32_t            cnt[4];
    int                 eq[4], u;
    size_t              p0;

    if (ties == n_eq) {
        if (t == 0) {
            st->cut = SEL_NONE; /* every element equal to T is taken */
        }
        return;
    }
    if (t == 0) {
        s_found = 0;
    }
    __syncthreads();
    for (c0 = 0; c0 < ntiles; c0 += 4 * SEL_FIND_THREADS) {
        local = 0;
        for (u = 0; u < 4; u++) {
            const uint32_t tt = c0 + 4 * t + (uint32_t)u;

            cnt[u] = (tt < ntiles) ? tilecnt[tt] : 0;
            local += cnt[u];
        }
        sel_scan_t(tmp).ExclusiveSum(local, pre, agg);
        pre += carry;
        for (u = 0; u < 4; u++) {
            if (cnt[u] != 0 && pre < ties && ties <= pre + cnt[u]) {
                s_tile  = c0 + 4 * t + (uint32_t)u;
                s_rank  = ties - pre;
                s_found = 1;
            }
            pre += cnt[u];
        }
        carry += agg;
        __syncthreads();
        if (s_found) {
            break;
        }
    }
    if (!s_found) {
        if (t == 0) {
            st->err = 1;
        }
        return;
    }
    r     = s_rank;
    p0    = (size_t)s_tile * SEL_TILE + 4 * (size_t)t;
    local = 0;
    for (u = 0; u < 4; u++) {
        eq[u] = (p0 + u < s.len) && sel_key(s, p0 + u) == T;
        local += (uint32_t)eq[u];
    }
    sel_scan_t(tmp).ExclusiveSum(local, pre);
    if (pre < r && r <= pre + local) {
        for (u = 0; u < 4; u++) {
            pre += (uint32_t)eq[u];
            if (eq[u] && pre == r) {
                st->cut = sel_index(s, p0 + u) + 1;
                break;
            }
        }
    }
}

/* sample: keys at pseudo-random indices (splitmix64 of seed and position) */
__global__ void sel_sample_kernel(const float *m, const float *g, size_t n,
                                  uint32_t *keys, uint32_t ns,
                                  unsigned long long seed)
{
    size_t j;

    for (j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < ns;
         j += (size_t)gridDim.x * blockDim.x) {
        unsigned long long x = seed + (unsigned long long)j * 0x9e3779b97f4a7c15ull;

        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
        keys[j] = sel_key_at(m, g, (uint32_t)(x % n));
    }
}

/* sample: elements with key >= thresh */
__global__ void sel_count_kernel(const float *m, const float *g, size_t n,
                                 sel_state_t *st)
{
    __shared__ uint32_t c;
    const uint32_t      T      = st->thresh;
    const unsigned      lane   = threadIdx.x & 31u;
    const size_t        stride = (size_t)gridDim.x * blockDim.x;
    size_t              base;

    if (threadIdx.x == 0) {
        c = 0;
    }
    __syncthreads();
    for (base = (size_t)blockIdx.x * blockDim.x + (threadIdx.x & ~31u);
         base < n; base += stride) {
        const size_t   j   = base + lane;
        const bool     ge  = j < n && sel_key_at(m, g, (uint32_t)j) >= T;
        const unsigned bal = __ballot_sync(0xffffffffu, ge);

        if (lane == 0 && bal != 0) {
            atomicAdd(&c, (uint32_t)__popc(bal));
        }
    }
    __syncthreads();
    if (threadIdx.x == 0 && c != 0) {
        atomicAdd(&st->count, c);
    }
}

/* DeviceSelect's input: position -> index; its predicate on the index. */
struct sel_map_t {
    const uint32_t *list;

    __host__ __device__ uint32_t operator()(uint32_t j) const
    {
#ifdef __CUDA_ARCH__
        return list != NULL ? list[j] : j;
#else
        return j;
#endif
    }
};

struct sel_pred_t {
    const float       *m;
    const float       *g;
    const sel_state_t *st;
    int                ge; /* 1: key >= T (sample candidates); 0: the top k */

    __host__ __device__ bool operator()(const uint32_t &i) const
    {
#ifdef __CUDA_ARCH__
        const uint32_t key = sel_key_at(m, g, i);
        const uint32_t T   = st->thresh;

        if (ge) {
            return key >= T;
        }
        return key > T || (key == T && i < st->cut);
#else
        return false;
#endif
    }
};

typedef thrust::transform_iterator<sel_map_t, thrust::counting_iterator<uint32_t> >
    sel_in_t;

static unsigned sel_grid(size_t work, int sms, unsigned per_sm)
{
    size_t g   = (work + SEL_THREADS - 1) / SEL_THREADS;
    size_t cap = (size_t)(sms > 0 ? sms : 132) * per_sm;

    if (g == 0) {
        g = 1;
    }
    return (unsigned)(g < cap ? g : cap);
}

static compcoll_status_t sel_compact(cudaStream_t st, cudaMemPool_t pool,
                                     const uint32_t *list, uint32_t len,
                                     sel_pred_t pred, uint32_t *out,
                                     uint32_t *d_nsel)
{
    compcoll_status_t status = COMPCOLL_OK;
    sel_in_t in(thrust::counting_iterator<uint32_t>(0), sel_map_t{list});
    void    *tmp   = NULL;
    size_t   bytes = 0;

    COMPCOLL_CUDA_CHECK_GOTO(cub::DeviceSelect::If(NULL, bytes, in, out,
                                                   d_nsel, (int64_t)len, pred,
                                                   st),
                             status, out);
    COMPCOLL_CUDA_CHECK_GOTO(cudaMallocFromPoolAsync(&tmp, bytes ? bytes : 16,
                                                     pool, st),
                             status, out);
    COMPCOLL_CUDA_CHECK_GOTO(cub::DeviceSelect::If(tmp, bytes, in, out, d_nsel,
                                                   (int64_t)len, pred, st),
                             status, out);
out:
    if (tmp != NULL) {
        cudaFreeAsync(tmp, st);
    }
    return status;
}

/* Threshold (and, when cut, the tie cut) of the top q of s into *d_st. */
static compcoll_status_t sel_threshold(cudaStream_t st, int sms,
                                       const sel_src_t &s, uint32_t q,
                                       sel_state_t *d_st, uint32_t *d_hist,
                                       uint32_t *d_tiles, int cut)
{
    compcoll_status_t status = COMPCOLL_OK;
    const uint32_t    ntiles = (uint32_t)(((size_t)s.len + SEL_TILE - 1) / SEL_TILE);
    int               level;

    sel_init_kernel<<<1, 1, 0, st>>>(d_st, q);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("init", status, out);
    COMPCOLL_CUDA_CHECK_GOTO(cudaMemsetAsync(d_hist, 0,
                                             3 * SEL_BINS * sizeof(uint32_t),
                                             st),
                             status, out);
    for (level = 0; level < 3; level++) {
        sel_hist_kernel<<<sel_grid(s.len, sms, 8), SEL_THREADS, 0, st>>>(
            s, level, d_st, d_hist + level * SEL_BINS);
        COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("hist", status, out);
        sel_find_kernel<<<1, SEL_FIND_THREADS, 0, st>>>(level, d_st,
                                                        d_hist + level * SEL_BINS);
        COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("find", status, out);
    }
    if (cut) {
        const unsigned grid = ntiles < (unsigned)(sms > 0 ? sms : 132) * 8
                                  ? ntiles
                                  : (unsigned)(sms > 0 ? sms : 132) * 8;

        sel_tilecount_kernel<<<grid > 0 ? grid : 1, SEL_THREADS, 0, st>>>(
            s, d_st, d_tiles, ntiles);
        COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("tilecount", status, out);
        sel_cut_kernel<<<1, SEL_FIND_THREADS, 0, st>>>(s, d_st, d_tiles,
                                                       ntiles);
        COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("cut", status, out);
    }
out:
    return status;
}

/* The scratch of one threshold search over len elements. */
typedef struct {
    sel_state_t *st;
    uint32_t    *hist;
    uint32_t    *tiles;
    uint32_t    *keys; /* sample only */
    uint32_t    *cand; /* sample only */
    void        *base;
} sel_scratch_t;

static size_t sel_align(size_t b)
{
    return (b + 255) & ~(size_t)255;
}

static compcoll_status_t sel_scratch_get(cudaStream_t st, cudaMemPool_t pool,
                                         size_t tiles_len, size_t nkeys,
                                         size_t ncand, sel_scratch_t *sc)
{
    compcoll_status_t status = COMPCOLL_OK;
    const size_t      b_st    = sel_align(sizeof(sel_state_t));
    const size_t      b_hist  = sel_align(3 * SEL_BINS * sizeof(uint32_t));
    const size_t      b_tiles = sel_align(((tiles_len + SEL_TILE - 1) / SEL_TILE + 1) *
                                          sizeof(uint32_t));
    const size_t      b_keys  = sel_align(nkeys * sizeof(uint32_t));
    const size_t      b_cand  = sel_align(ncand * sizeof(uint32_t));
    char             *p       = NULL;

    COMPCOLL_CUDA_CHECK_GOTO(cudaMallocFromPoolAsync((void **)&p,
                                                     b_st + b_hist + b_tiles +
                                                         b_keys + b_cand,
                                                     pool, st),
                             status, out);
    sc->base  = p;
    sc->st    = (sel_state_t *)p;
    sc->hist  = (uint32_t *)(p + b_st);
    sc->tiles = (uint32_t *)(p + b_st + b_hist);
    sc->keys  = nkeys ? (uint32_t *)(p + b_st + b_hist + b_tiles) : NULL;
    sc->cand  = ncand ? (uint32_t *)(p + b_st + b_hist + b_tiles + b_keys) : NULL;
out:
    return status;
}

static compcoll_status_t sel_report(cudaStream_t st,
                                    const compcoll_gpu_select_ctx_t *c,
                                    sel_state_t *d_st)
{
    compcoll_status_t status = COMPCOLL_OK;

    COMPCOLL_CUDA_CHECK_GOTO(cudaMemcpyAsync(c->h_check, &d_st->nsel,
                                             2 * sizeof(uint32_t),
                                             cudaMemcpyDeviceToHost, st),
                             status, out);
out:
    return status;
}

static compcoll_status_t sel_exact(cudaStream_t st,
                                   const compcoll_gpu_select_ctx_t *c,
                                   const float *m, const float *g, size_t n,
                                   size_t k, uint32_t *idx)
{
    compcoll_status_t status;
    sel_scratch_t     sc;
    sel_src_t         s = {m, g, NULL, NULL, (uint32_t)n};

    status = sel_scratch_get(st, c->pool, n, 0, 0, &sc);
    if (status != COMPCOLL_OK) {
        return status;
    }
    status = sel_threshold(st, c->sms, s, (uint32_t)k, sc.st, sc.hist,
                           sc.tiles, 1);
    if (status == COMPCOLL_OK) {
        status = sel_compact(st, c->pool, NULL, (uint32_t)n,
                             sel_pred_t{m, g, sc.st, 0}, idx, &sc.st->nsel);
    }
    if (status == COMPCOLL_OK) {
        status = sel_report(st, c, sc.st);
    }
    cudaFreeAsync(sc.base, st);
    return status;
}

static compcoll_status_t sel_sample(cudaStream_t st,
                                    const compcoll_gpu_select_ctx_t *c,
                                    const float *m, const float *g, size_t n,
                                    size_t k, uint32_t *idx)
{
    compcoll_status_t status = COMPCOLL_OK;
    size_t            ns = n / 128, r, cap, cnt;
    double            expect;
    sel_scratch_t     sc;
    sel_src_t         s;

    if (ns < 32768) {
        ns = 32768;
    }
    /* the host's margins: expected rank plus 25 % and four deviations */
    expect = (double)k * (double)ns / (double)n;
    r      = (size_t)(1.25 * expect + 4.0 * sqrt(expect) + 8.0);
    if (r > ns) {
        r = ns;
    }
    cap = 2 * k + (size_t)(16.0 * sqrt((double)k)) + 1024;
    if (cap > n) {
        cap = n;
    }
    status = sel_scratch_get(st, c->pool, ns > cap ? ns : cap, ns, cap, &sc);
    if (status != COMPCOLL_OK) {
        return status;
    }
    *c->rng += 0x9e3779b97f4a7c15ull;
    sel_sample_kernel<<<sel_grid(ns, c->sms, 8), SEL_THREADS, 0, st>>>(
        m, g, n, sc.keys, (uint32_t)ns, (unsigned long long)*c->rng);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("sample", status, out);
    s = sel_src_t{NULL, NULL, NULL, sc.keys, (uint32_t)ns};
    status = sel_threshold(st, c->sms, s, (uint32_t)r, sc.st, sc.hist,
                           sc.tiles, 0);
    if (status != COMPCOLL_OK) {
        goto out;
    }
    sel_count_kernel<<<sel_grid(n, c->sms, 8), SEL_THREADS, 0, st>>>(m, g, n,
                                                                     sc.st);
    COMPCOLL_CUDA_LAUNCH_CHECK_GOTO("count", status, out);
    COMPCOLL_CUDA_CHECK_GOTO(cudaMemcpyAsync(&c->h_check[2], &sc.st->count,
                                             sizeof(uint32_t),
                                             cudaMemcpyDeviceToHost, st),
                             status, out);
    /* the one wait of a selection: is the candidate list usable? */
    COMPCOLL_CUDA_CHECK_GOTO(cudaStreamSynchronize(st), status, out);
    cnt = c->h_check[2];
    if (cnt < k || cnt > cap) {
        ++*c->fallbacks;
        cudaFreeAsync(sc.base, st);
        return sel_exact(st, c, m, g, n, k, idx);
    }
    status = sel_compact(st, c->pool, NULL, (uint32_t)n,
                         sel_pred_t{m, g, sc.st, 1}, sc.cand, &sc.st->nsel);
    if (status != COMPCOLL_OK) {
        goto out;
    }
    s = sel_src_t{m, g, sc.cand, NULL, (uint32_t)cnt};
    status = sel_threshold(st, c->sms, s, (uint32_t)k, sc.st, sc.hist,
                           sc.tiles, 1);
    if (status == COMPCOLL_OK) {
        status = sel_compact(st, c->pool, sc.cand, (uint32_t)cnt,
                             sel_pred_t{m, g, sc.st, 0}, idx, &sc.st->nsel);
    }
    if (status == COMPCOLL_OK) {
        status = sel_report(st, c, sc.st);
    }
out:
    cudaFreeAsync(sc.base, st);
    return status;
}

extern "C" compcoll_status_t
compcoll_gpu_launch_select(cudaStream_t st, const compcoll_gpu_select_ctx_t *c,
                           compcoll_select_t mode, const float *m,
                           const float *g, size_t n, size_t k, uint32_t *idx)
{
    if (mode == COMPCOLL_SELECT_SAMPLE && n >= SEL_SAMPLE_MIN_N) {
        return sel_sample(st, c, m, g, n, k, idx);
    }
    return sel_exact(st, c, m, g, n, k, idx);
}
