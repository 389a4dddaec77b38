/*
 * tests/gpu/stub_module.c: a stand-in for the GPU module,
 * libcompcoll_cuda.so, for machines without a GPU.
 *
 * It implements compcoll_gpu_module_t with the host kernels on host memory:
 * "device" memory is malloc'ed, streams do their work when it is queued,
 * copies are memmove.  With the stand-in driver (stub_cuda.c) telling the
 * library that a test's buffers are device memory, the library's whole
 * device path (the ScaleCom protocol with device buffers, staging, the
 * device error-feedback memory) runs on the CPU, so that its protocol is
 * checked by the host oracle where no GPU is (scalecom_stub_check).  The
 * kernels themselves are the GPU's business: test_kernels checks those.
 */
#include <stdlib.h>
#include <string.h>

#include "compcoll_kernels.h"
#include "compcoll_wire.h"

#define STUB_EXPORT __attribute__((visibility("default")))

struct compcoll_gpu_stream {
    int unused;
};

static __thread compcoll_select_scratch_t stub_scratch;

static compcoll_status_t stub_stream_create(const compcoll_mem_info_t *where,
                                            compcoll_gpu_stream_t **s_p)
{
    (void)where;
    *s_p = calloc(1, sizeof(**s_p));
    return *s_p != NULL ? COMPCOLL_OK : COMPCOLL_ERR_NO_MEMORY;
}

static void stub_stream_destroy(compcoll_gpu_stream_t *s)
{
    free(s);
}

static compcoll_status_t stub_stream_sync(compcoll_gpu_stream_t *s)
{
    (void)s;
    return COMPCOLL_OK;
}

static compcoll_status_t stub_mark(compcoll_gpu_stream_t *s)
{
    (void)s;
    return COMPCOLL_OK;
}

static compcoll_status_t stub_dev_alloc(compcoll_gpu_stream_t *s, size_t bytes,
                                        void **p)
{
    (void)s;
    *p = malloc(bytes != 0 ? bytes : 4);
    return *p != NULL ? COMPCOLL_OK : COMPCOLL_ERR_NO_MEMORY;
}

static void stub_dev_free(compcoll_gpu_stream_t *s, void *p)
{
    (void)s;
    free(p);
}

static void stub_host_free(void *p)
{
    free(p);
}

static compcoll_status_t stub_copy(compcoll_gpu_stream_t *s, void *dst,
                                   const void *src, size_t bytes)
{
    if (bytes != 0) {
        memmove(dst, src, bytes);
    }
    (void)s;
    return COMPCOLL_OK;
}

static compcoll_status_t stub_zero(compcoll_gpu_stream_t *s, void *dst,
                                   size_t bytes)
{
    memset(dst, 0, bytes);
    (void)s;
    return COMPCOLL_OK;
}

static compcoll_status_t stub_copy_sync(const compcoll_mem_info_t *where,
                                        void *dst, const void *src,
                                        size_t bytes)
{
    (void)where;
    if (bytes != 0) {
        memmove(dst, src, bytes);
    }
    return COMPCOLL_OK;
}

static compcoll_status_t stub_select(compcoll_gpu_stream_t *s,
                                     compcoll_select_t mode, const float *m,
                                     const float *g, size_t n, size_t k,
                                     uint32_t *idx)
{
    compcoll_status_t st;

    st = compcoll_host_select(mode, m, g, n, k, idx, &stub_scratch);
    (void)s;
    return st;
}

static compcoll_status_t stub_compress(compcoll_gpu_stream_t *s, float *m,
                                       const float *g, float *out, size_t n,
                                       const uint32_t *idx, size_t k,
                                       float beta, float *vals)
{
    compcoll_host_kernels.compress(m, g, out, n, idx, k, beta, vals);
    (void)s;
    return COMPCOLL_OK;
}

static compcoll_status_t stub_chunk_compress(compcoll_gpu_stream_t *s,
                                             float *m, const float *g,
                                             float *out, size_t n, size_t k,
                                             float beta, uint32_t *idx,
                                             float *vals)
{
    compcoll_status_t st;

    st = compcoll_host_select(COMPCOLL_SELECT_CHUNK, m, g, n, k, idx,
                              &stub_scratch);
    if (st == COMPCOLL_OK) {
        compcoll_host_kernels.compress(m, g, out, n, idx, k, beta, vals);
    }
    (void)s;
    return st;
}

static compcoll_status_t stub_scatter(compcoll_gpu_stream_t *s, float *out,
                                      const uint32_t *idx, const float *vals,
                                      size_t k)
{
    compcoll_host_kernels.scatter(out, idx, vals, k);
    (void)s;
    return COMPCOLL_OK;
}

static compcoll_status_t stub_dense(compcoll_gpu_stream_t *s, float *m,
                                    const float *g, float *out, size_t n,
                                    float beta)
{
    compcoll_host_kernels.dense(m, g, out, n, beta);
    (void)s;
    return COMPCOLL_OK;
}

static compcoll_status_t stub_wire_encode(compcoll_gpu_stream_t *s,
                                          compcoll_wire_t wire, void *dst,
                                          const float *src, size_t count)
{
    compcoll_wire_encode(wire, dst, src, count);
    (void)s;
    return COMPCOLL_OK;
}

static compcoll_status_t stub_wire_decode(compcoll_gpu_stream_t *s,
                                          compcoll_wire_t wire, float *dst,
                                          const void *src, size_t count)
{
    compcoll_wire_decode(wire, dst, src, count);
    (void)s;
    return COMPCOLL_OK;
}

static uint64_t stub_sample_fallbacks(compcoll_gpu_stream_t *s)
{
    (void)s; /* one scratch: the tests make one call at a time */
    return stub_scratch.sample_fallbacks;
}

static void stub_finalize(void)
{
}

static const compcoll_gpu_module_t stub_module = {
    .abi              = COMPCOLL_GPU_ABI_VERSION,
    .description      = "stand-in module: host kernels on host memory",
    .stream_create    = stub_stream_create,
    .stream_destroy   = stub_stream_destroy,
    .stream_sync      = stub_stream_sync,
    .mark             = stub_mark,
    .mark_wait        = stub_mark,
    .dev_alloc        = stub_dev_alloc,
    .dev_free         = stub_dev_free,
    .host_alloc       = stub_dev_alloc,
    .host_free        = stub_host_free,
    .copy             = stub_copy,
    .zero             = stub_zero,
    .copy_sync        = stub_copy_sync,
    .select           = stub_select,
    .chunk_compress   = stub_chunk_compress,
    .compress         = stub_compress,
    .scatter          = stub_scatter,
    .dense            = stub_dense,
    .wire_encode      = stub_wire_encode,
    .wire_decode      = stub_wire_decode,
    .sample_fallbacks = stub_sample_fallbacks,
    .finalize         = stub_finalize,
};

STUB_EXPORT const compcoll_gpu_module_t *
compcoll_gpu_module_get(uint32_t abi, compcoll_gpu_log_fn_t log)
{
    (void)log;
    return abi == COMPCOLL_GPU_ABI_VERSION ? &stub_module : NULL;
}
