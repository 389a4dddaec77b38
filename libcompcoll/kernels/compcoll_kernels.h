/*
 * libcompcoll: the kernel-ops interface.
 *
 * One table per memory type.  The host table (kernels_host.c, select_host.c)
 * is the reference: a device implementation must select the same indices bit
 * for bit and produce the same values to float rounding.
 *
 * Throughout, a = m + g is the error-compensated gradient; m may be NULL (a
 * tensor without memory), which reads as zeros and is never written.  The
 * ordering key of an element is the bit pattern of |a| as an unsigned 32-bit
 * integer: it orders finite values by magnitude, puts infinities above them
 * and NaNs above everything, so every selection mode is total and
 * deterministic.  Ties go to the lower index.  Index lists are ascending.
 * One exception to "bit for bit" below: where m and g are both NaN, which
 * payload their sum keeps is the compiler's choice of operand order, so
 * the key, and the order among such NaNs, can differ between builds.
 */
#ifndef COMPCOLL_KERNELS_H
#define COMPCOLL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "compcoll_config.h"
#include "compcoll_icode.h"
#include "compcoll_status.h"

/* A growable buffer owned by the caller, reused across calls. */
typedef struct {
    void  *ptr;
    size_t size;
} compcoll_buf_t;

void *compcoll_buf_reserve(compcoll_buf_t *buf, size_t bytes);
void  compcoll_buf_release(compcoll_buf_t *buf);

typedef struct {
    compcoll_buf_t cand;   /* selection candidates */
    compcoll_buf_t above;  /* indices surely selected */
    compcoll_buf_t keys;   /* key scratch */
    compcoll_buf_t hist;   /* the exact pass's histograms */
    compcoll_buf_t cval;   /* the candidates' values (sample, folded) */
    uint64_t       rng;    /* sampling state */
    uint64_t       sample_fallbacks;
} compcoll_select_scratch_t;

/* The scratch's buffers freed (it can be used again). */
void compcoll_select_scratch_release(compcoll_select_scratch_t *s);

typedef struct compcoll_kernel_ops {
    const char *name;

    /* Leader: k ascending indices of a = m + g into idx (0 < k <= n). */
    compcoll_status_t (*select)(compcoll_select_t mode, const float *m,
                                const float *g, size_t n, size_t k,
                                uint32_t *idx,
                                compcoll_select_scratch_t *scratch);

    /*
     * The fused pass of a sparse call, one sweep over n: for i in idx,
     * vals[j] = a_i and m_i <- (1 - beta) m_i (compcoll_kept); elsewhere
     * m_i <- m_i + beta g_i; out <- 0 everywhere.  out may alias g
     * (MPI_IN_PLACE).
     */
    void (*compress)(float *m, const float *g, float *out, size_t n,
                     const uint32_t *idx, size_t k, float beta, float *vals);

    /* out[idx[j]] = vals[j] */
    void (*scatter)(float *out, const uint32_t *idx, const float *vals,
                    size_t k);

    /* A dense call (every index sent): out = a; m <- (1 - beta) m
     * (compcoll_kept), or 0 where that is a NaN or an infinity (it went
     * out in a, so nothing of it lingers). */
    void (*dense)(float *m, const float *g, float *out, size_t n, float beta);

    /*
     * Classic error feedback (beta = 1) in two steps, so that the pass over
     * n can run before the indices are known.  fold: m <- m + g (= a) and
     * out <- 0 everywhere (out may alias g); take: for i in idx,
     * vals[j] = m_i (= a_i) and m_i <- 0.  fold then take equals compress
     * with beta = 1, bit for bit.  NULL where the memory type has none.
     */
    void (*fold)(float *m, const float *g, float *out, size_t n);
    void (*take)(float *m, const uint32_t *idx, size_t k, float *vals);
    /* Leader: fold, select k indices of a as select does, and take them
     * (as take: vals and m at idx), in as few passes over n as the mode
     * allows (m not NULL).  Equals fold, select of the folded m, take. */
    compcoll_status_t (*fold_select)(compcoll_select_t mode, float *m,
                                     const float *g, float *out, size_t n,
                                     size_t k, uint32_t *idx, float *vals,
                                     compcoll_select_scratch_t *scratch);
} compcoll_kernel_ops_t;

extern const compcoll_kernel_ops_t compcoll_host_kernels;

/* Exposed for the unit tests and the benchmarks. */
compcoll_status_t compcoll_host_select(compcoll_select_t mode, const float *m,
                                       const float *g, size_t n, size_t k,
                                       uint32_t *idx,
                                       compcoll_select_scratch_t *scratch);
compcoll_status_t compcoll_host_fold_select(compcoll_select_t mode, float *m,
                                            const float *g, float *out,
                                            size_t n, size_t k, uint32_t *idx,
                                            float *vals,
                                            compcoll_select_scratch_t *scratch);

/* Shared by the host kernels (kernels_host.c, select_host.c).  The fold of
 * [lo, hi), writing out with streaming stores when `stream`, which
 * compcoll_host_fold_streams decides once per pass and
 * compcoll_host_stream_fence closes. */
int  compcoll_host_fold_streams(const float *g, const float *out, size_t n);
void compcoll_host_fold_range(float *m, const float *g, float *out, size_t lo,
                              size_t hi, int stream);
void compcoll_host_stream_fence(int stream);
void compcoll_host_take(float *m, const uint32_t *idx, size_t k, float *vals);
/* fold_select(CHUNK) of the chunks [c0, c1) alone: their elements folded,
 * idx and vals at [c0, c1) filled, m there taken.  A leader that streams
 * its indices calls it piece by piece. */
void compcoll_host_chunk_fold(float *m, const float *g, float *out, size_t n,
                              size_t k, size_t c0, size_t c1, uint32_t *idx,
                              float *vals);
/*
 * sample, for a leader that sends a call in `pieces` (at most
 * COMPCOLL_SELECT_PIECES) runs of elements [s n / pieces, (s + 1) n / pieces)
 * and must announce each run's count before it selects any.  The plan, from
 * a sample of a = m + g taken alike in every run: quota[s], the indices
 * run s gets (in proportion to its samples among the sample's top k / n,
 * adding up to k, none more than the run holds), and *thresh, the key
 * whose candidates cover the quotas with high probability.  Then, run by
 * run, sample_piece folds [lo, hi) of n and takes its exact top q (idx and
 * vals, q of each, ascending; m there +0), from the candidates at or above
 * thresh, or by exact selection in the run when they do not cover q (or
 * overflow their bound).  The set is the top k but for the quotas' error:
 * a run given fewer than its share leaves out its smallest, one given more
 * takes some just below the line.
 */
#define COMPCOLL_SELECT_PIECES 32u
compcoll_status_t compcoll_host_sample_plan(const float *m, const float *g,
                                            size_t n, size_t k,
                                            unsigned pieces, uint32_t *quota,
                                            uint32_t *thresh,
                                            compcoll_select_scratch_t *scratch);
compcoll_status_t compcoll_host_sample_piece(float *m, const float *g,
                                             float *out, size_t n, size_t lo,
                                             size_t hi, size_t q,
                                             uint32_t thresh, uint32_t *idx,
                                             float *vals,
                                             compcoll_select_scratch_t *scratch);
/* The unit tests: allow (1, the default) or forbid (0) the AVX2 loops where
 * the CPU has them, so that both paths are checked on one machine. */
void compcoll_host_allow_avx2(int allow);


static inline uint32_t compcoll_abs_key(float a)
{
    return compcoll_f32_bits(a) & 0x7fffffffu;
}

/*
 * Set (never cleared) by the host kernels on this thread when they leave a
 * NaN or an infinity in an error-feedback memory: the caller clears it
 * before a call and reads it after (compcoll_call_end), so that such a
 * value is delivered and dropped at once instead of lingering.
 */
extern __thread int compcoll_host_nonfinite;

/* Whether a is a NaN or an infinity, branch-free (a - a is 0 or NaN). */
static inline int compcoll_nonfinite(float a)
{
    return (a - a) != 0.0f;
}

/*
 * What a sent element's memory keeps: (1 - beta) m, and exactly +0 for
 * beta = 1 (not -0 from a negative m, nor NaN from an infinite one).
 */
static inline float compcoll_kept(float m, float keep)
{
    return keep != 0.0f ? keep * m : 0.0f;
}

/* ------------------------------------------------------------------ GPU */
/*
 * The CUDA module, libcompcoll_cuda.so (gpu_kernels/), implements the
 * kernels for device memory.  The core dlopen()s it the first time it meets
 * a device buffer (never in a process that has not loaded the CUDA driver)
 * and calls its one exported symbol, COMPCOLL_GPU_MODULE_SYMBOL, of type
 * compcoll_gpu_module_get_fn.  Everything below is the contract between the
 * two; the core never includes a CUDA header.
 *
 * Every operation runs in the CUDA context of its stream and leaves the
 * calling thread's current context as it found it.  Kernels and copies are
 * asynchronous on the stream; stream_sync waits for them and reports what
 * failed in between (a launch error, or a selection that did not come out
 * at exactly k indices).  Results equal the host reference: selected
 * indices bit for bit, values, memory and output bit for bit as well (the
 * kernels round every operation to nearest and never contract a*b+c), except
 * that NaN payloads are not preserved (see libcompcoll(7)).
 */
#define COMPCOLL_GPU_ABI_VERSION   3u
#define COMPCOLL_GPU_MODULE_NAME   "libcompcoll_cuda.so"
#define COMPCOLL_GPU_MODULE_SYMBOL "compcoll_gpu_module_get"

/* Where a buffer lives, as the CUDA driver reports it. */
typedef enum {
    COMPCOLL_MEM_HOST,    /* pageable or pinned host memory: MPI may read it */
    COMPCOLL_MEM_DEVICE,  /* device memory: only the GPU may touch it */
    COMPCOLL_MEM_MANAGED, /* managed memory: both may; the GPU does the work */
} compcoll_memtype_t;

typedef struct {
    compcoll_memtype_t type;
    int                device;  /* CUDA device ordinal; -1 for host memory */
    void              *context; /* CUcontext of the allocation; NULL: the
                                 * device's primary context */
} compcoll_mem_info_t;

/* A CUDA stream in a context, with the module's per-stream state. */
typedef struct compcoll_gpu_stream compcoll_gpu_stream_t;

/* How the module reports errors: through the core's log. */
typedef void (*compcoll_gpu_log_fn_t)(int level, const char *file, int line,
                                      const char *msg);

typedef struct compcoll_gpu_module {
    uint32_t    abi;          /* COMPCOLL_GPU_ABI_VERSION */
    const char *description;  /* "CUDA runtime 13.0, sm_80 sm_90" */

    /* One stream per tensor, in the context that owns `where`. */
    compcoll_status_t (*stream_create)(const compcoll_mem_info_t *where,
                                       compcoll_gpu_stream_t **s_p);
    void              (*stream_destroy)(compcoll_gpu_stream_t *s);
    compcoll_status_t (*stream_sync)(compcoll_gpu_stream_t *s);
    /* Mark the stream's current position; mark_wait waits for it only. */
    compcoll_status_t (*mark)(compcoll_gpu_stream_t *s);
    compcoll_status_t (*mark_wait)(compcoll_gpu_stream_t *s);

    /* Device memory from the module's stream-ordered pool (per device). */
    compcoll_status_t (*dev_alloc)(compcoll_gpu_stream_t *s, size_t bytes,
                                   void **p);
    void              (*dev_free)(compcoll_gpu_stream_t *s, void *p);
    /* Pinned host memory, usable from every context; host_free needs none. */
    compcoll_status_t (*host_alloc)(compcoll_gpu_stream_t *s, size_t bytes,
                                    void **p);
    void              (*host_free)(void *p);
    /* Asynchronous copy in any direction (unified addressing), and zero. */
    compcoll_status_t (*copy)(compcoll_gpu_stream_t *s, void *dst,
                              const void *src, size_t bytes);
    compcoll_status_t (*zero)(compcoll_gpu_stream_t *s, void *dst,
                              size_t bytes);
    /* Synchronous copy in the context of `where` (passthrough staging). */
    compcoll_status_t (*copy_sync)(const compcoll_mem_info_t *where, void *dst,
                                   const void *src, size_t bytes);

    /*
     * Kernels, asynchronous on s; every pointer is device memory.  The
     * arguments and results are those of compcoll_kernel_ops_t.
     */
    compcoll_status_t (*select)(compcoll_gpu_stream_t *s,
                                compcoll_select_t mode, const float *m,
                                const float *g, size_t n, size_t k,
                                uint32_t *idx);
    /* The leader's fused pass for COMPCOLL_SELECT=chunk: select (as
     * select(CHUNK)) and compress (as compress) in one sweep over n. */
    compcoll_status_t (*chunk_compress)(compcoll_gpu_stream_t *s, float *m,
                                        const float *g, float *out, size_t n,
                                        size_t k, float beta, uint32_t *idx,
                                        float *vals);
    compcoll_status_t (*compress)(compcoll_gpu_stream_t *s, float *m,
                                  const float *g, float *out, size_t n,
                                  const uint32_t *idx, size_t k, float beta,
                                  float *vals);
    compcoll_status_t (*scatter)(compcoll_gpu_stream_t *s, float *out,
                                 const uint32_t *idx, const float *vals,
                                 size_t k);
    compcoll_status_t (*dense)(compcoll_gpu_stream_t *s, float *m,
                               const float *g, float *out, size_t n,
                               float beta);
    /* compcoll_wire_encode / _decode (compcoll_wire.h) on the device. */
    compcoll_status_t (*wire_encode)(compcoll_gpu_stream_t *s,
                                     compcoll_wire_t wire, void *dst,
                                     const float *src, size_t count);
    compcoll_status_t (*wire_decode)(compcoll_gpu_stream_t *s,
                                     compcoll_wire_t wire, float *dst,
                                     const void *src, size_t count);

    /* Selections on stream s that fell back from sample to exact (a
     * stream serves one call at a time, so a difference taken around a
     * select is that select's). */
    uint64_t (*sample_fallbacks)(compcoll_gpu_stream_t *s);

    /* Release the pools and the module's own streams; every stream made by
     * stream_create must be destroyed first. */
    void (*finalize)(void);
} compcoll_gpu_module_t;

/* The module's one export.  NULL when abi differs or the CUDA driver is not
 * loaded in this process; log receives the reason. */
typedef const compcoll_gpu_module_t *(*compcoll_gpu_module_get_fn)(
    uint32_t abi, compcoll_gpu_log_fn_t log);

#endif
