/*
 * gpu_kernels: the extern "C" launchers behind the module's table.
 *
 * Internal to libcompcoll_cuda.so.  Each launcher enqueues its kernels on
 * the given stream, checks every launch with cudaGetLastError, logs the
 * failing call once (compcoll_gpu_log) and returns a status.  The caller
 * (module.c) has made the stream's context current.
 */
#ifndef COMPCOLL_GPU_KERNELS_H
#define COMPCOLL_GPU_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "compcoll_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define COMPCOLL_GPU_LOG_ERROR 0
#define COMPCOLL_GPU_LOG_WARN  1
#define COMPCOLL_GPU_LOG_INFO  2
#define COMPCOLL_GPU_LOG_DEBUG 3

void compcoll_gpu_log(int level, const char *file, int line, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/* Log a failed CUDA runtime call with its text, set _status, jump. */
#define COMPCOLL_CUDA_CHECK_GOTO(_call, _status, _label)                     \
    do {                                                                     \
        cudaError_t _e = (_call);                                            \
        if (_e != cudaSuccess) {                                             \
            compcoll_gpu_log(COMPCOLL_GPU_LOG_ERROR, __FILE__, __LINE__,     \
                             "%s failed: %s", #_call,                        \
                             cudaGetErrorString(_e));                        \
            (_status) = COMPCOLL_ERR_CUDA;                                   \
            goto _label;                                                     \
        }                                                                    \
    } while (0)

/* After a kernel launch: the launch itself (configuration, resources). */
#define COMPCOLL_CUDA_LAUNCH_CHECK_GOTO(_what, _status, _label)              \
    COMPCOLL_CUDA_CHECK_GOTO(cudaGetLastError(), _status, _label)

/* Scratch the selection needs besides its output, from the stream's pool. */
typedef struct {
    cudaMemPool_t pool;
    uint32_t     *h_check;   /* pinned: [0] selected count, [1] error flag,
                              * [2] sample candidate count */
    uint64_t     *rng;       /* sample: per-stream seed, advanced per call */
    uint64_t     *fallbacks; /* sample: fell back to exact */
    int           sms;       /* multiprocessors of the device */
} compcoll_gpu_select_ctx_t;

/* kernels.cu */
compcoll_status_t compcoll_gpu_launch_chunk(cudaStream_t st, int sms,
                                            float *m, const float *g,
                                            float *out, size_t n, size_t k,
                                            float beta, uint32_t *idx,
                                            float *vals, int fused);
compcoll_status_t compcoll_gpu_launch_compress(cudaStream_t st,
                                               cudaMemPool_t pool, float *m,
                                               const float *g, float *out,
                                               size_t n, const uint32_t *idx,
                                               size_t k, float beta,
                                               float *vals);
compcoll_status_t compcoll_gpu_launch_scatter(cudaStream_t st, float *out,
                                              const uint32_t *idx,
                                              const float *vals, size_t k);
compcoll_status_t compcoll_gpu_launch_dense(cudaStream_t st, float *m,
                                            const float *g, float *out,
                                            size_t n, float beta);
compcoll_status_t compcoll_gpu_launch_encode(cudaStream_t st,
                                             compcoll_wire_t wire, void *dst,
                                             const float *src, size_t count);
compcoll_status_t compcoll_gpu_launch_decode(cudaStream_t st,
                                             compcoll_wire_t wire, float *dst,
                                             const void *src, size_t count);

/* select.cu: exact and sample (chunk is compcoll_gpu_launch_chunk).  Writes
 * the selected count and an error flag to h_check[0..1] in stream order;
 * sample waits for the stream once, for its candidate count. */
compcoll_status_t compcoll_gpu_launch_select(cudaStream_t st,
                                             const compcoll_gpu_select_ctx_t *c,
                                             compcoll_select_t mode,
                                             const float *m, const float *g,
                                             size_t n, size_t k,
                                             uint32_t *idx);

#ifdef __cplusplus
}
#endif

#endif
