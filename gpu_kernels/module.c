/*
 * gpu_kernels: libcompcoll_cuda.so, the module the core dlopen()s the first
 * time it meets a device buffer.  Its one export returns the table of
 * compcoll_kernels.h; everything else here is hidden.
 *
 * Contexts.  The module links the CUDA runtime statically, so it shares the
 * driver (and the contexts) with the program's own runtime but keeps its own
 * runtime state.  Every operation pushes the context of its stream (the
 * context that owns the tensor's buffer, found by the core from the pointer)
 * and pops it before returning: the calling thread's current context and
 * device are left as the program set them, and no operation ever creates a
 * context the program does not already have.
 *
 * Driver entry points come from the libcuda.so.1 the process has already
 * loaded (RTLD_NOLOAD): the module does not link libcuda, and refuses to
 * start in a process that has not loaded it.
 */
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compcoll_gpu_kernels.h"

#define GPU_EXPORT       __attribute__((visibility("default")))
#define GPU_MAX_DEVICES  64
#define GPU_HOST_HEADER  64 /* bytes before a pinned block: its context */

#ifndef COMPCOLL_GPU_ARCHS
#define COMPCOLL_GPU_ARCHS "unknown"
#endif

struct compcoll_gpu_stream {
    CUcontext     ctx;
    CUdevice      dev;
    int           ordinal;
    int           retained;  /* we hold a reference on dev's primary ctx */
    cudaStream_t  st;
    cudaEvent_t   ev;
    cudaMemPool_t pool;
    int           sms;
    uint32_t     *h_check;   /* pinned: what select reports */
    int           check_pending; /* a selection's report is on its way */
    int           mark_check;    /* ... and comes before the mark */
    size_t        check_expect;
    uint64_t      rng;
    uint64_t      fallbacks; /* sample selections redone by exact */
};

/* What host_alloc keeps in front of a pinned block. */
typedef struct {
    CUcontext ctx;
    CUdevice  dev;
    int       retained;
} gpu_host_header_t;

typedef struct {
    cudaMemPool_t pool;
    CUcontext     ctx;
    CUdevice      dev;
    int           retained;
} gpu_pool_t;

static struct {
    CUresult (*ptr_attrs)(unsigned, CUpointer_attribute *, void **,
                          CUdeviceptr);
    CUresult (*ctx_push)(CUcontext);
    CUresult (*ctx_pop)(CUcontext *);
    CUresult (*primary_retain)(CUcontext *, CUdevice);
    CUresult (*primary_release)(CUdevice);
    CUresult (*primary_state)(CUdevice, unsigned *, int *);
    CUresult (*device_get)(CUdevice *, int);
    CUresult (*error_string)(CUresult, const char **);
    void     *handle;
} drv;

static compcoll_gpu_log_fn_t  gpu_log_fn;
static pthread_mutex_t        gpu_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static gpu_pool_t             gpu_pools[GPU_MAX_DEVICES];
static char                   gpu_description[160];

void compcoll_gpu_log(int level, const char *file, int line, const char *fmt,
                      ...)
{
    char    msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (gpu_log_fn != NULL) {
        gpu_log_fn(level, file, line, msg);
    } else {
        fprintf(stderr, "libcompcoll_cuda: %s:%d %s\n", file, line, msg);
    }
}

static const char *gpu_cu_string(CUresult rc)
{
    const char *s = NULL;

    if (drv.error_string == NULL || drv.error_string(rc, &s) != CUDA_SUCCESS ||
        s == NULL) {
        return "unknown CUDA driver error";
    }
    return s;
}

#define GPU_CU_CHECK_GOTO(_call, _status, _label)                            \
    do {                                                                     \
        CUresult _rc = (_call);                                              \
        if (_rc != CUDA_SUCCESS) {                                           \
            compcoll_gpu_log(COMPCOLL_GPU_LOG_ERROR, __FILE__, __LINE__,     \
                             "%s failed: %s (%d)", #_call,                   \
                             gpu_cu_string(_rc), (int)_rc);                  \
            (_status) = COMPCOLL_ERR_CUDA;                                   \
            goto _label;                                                     \
        }                                                                    \
    } while (0)

static compcoll_status_t gpu_driver_load(void)
{
    compcoll_status_t status = COMPCOLL_OK;
    const struct {
        const char *name;
        void      **fn;
    } syms[] = {
        {"cuPointerGetAttributes", (void **)&drv.ptr_attrs},
        {"cuCtxPushCurrent_v2", (void **)&drv.ctx_push},
        {"cuCtxPopCurrent_v2", (void **)&drv.ctx_pop},
        {"cuDevicePrimaryCtxRetain", (void **)&drv.primary_retain},
        {"cuDevicePrimaryCtxRelease_v2", (void **)&drv.primary_release},
        {"cuDevicePrimaryCtxGetState", (void **)&drv.primary_state},
        {"cuDeviceGet", (void **)&drv.device_get},
        {"cuGetErrorString", (void **)&drv.error_string},
    };
    size_t i;

    if (drv.handle != NULL) {
        return COMPCOLL_OK;
    }
    drv.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (drv.handle == NULL) {
        compcoll_gpu_log(COMPCOLL_GPU_LOG_ERROR, __FILE__, __LINE__,
                         "the CUDA driver (libcuda.so.1) is not loaded in "
                         "this process; the GPU module does not load it");
        return COMPCOLL_ERR_UNAVAILABLE;
    }
    for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        *syms[i].fn = dlsym(drv.handle, syms[i].name);
        if (*syms[i].fn == NULL) {
            compcoll_gpu_log(COMPCOLL_GPU_LOG_ERROR, __FILE__, __LINE__,
                             "the CUDA driver lacks %s: %s", syms[i].name,
                             dlerror());
            status = COMPCOLL_ERR_UNAVAILABLE;
        }
    }
    if (status != COMPCOLL_OK) {
        dlclose(drv.handle);
        memset(&drv, 0, sizeof(drv));
    }
    return status;
}

static compcoll_status_t gpu_enter(CUcontext ctx)
{
    compcoll_status_t status = COMPCOLL_OK;

    GPU_CU_CHECK_GOTO(drv.ctx_push(ctx), status, out);
out:
    return status;
}

static void gpu_leave(void)
{
    CUcontext ctx;

    drv.ctx_pop(&ctx);
}

/*
 * The context to run in for memory of device `ordinal` owned by `owner`
 * (NULL: unknown).  The device's primary context, retained, when it is the
 * owner or the owner is unknown; otherwise the owner itself, which lives as
 * long as the memory does.
 */
static compcoll_status_t gpu_context(int ordinal, void *owner, CUcontext *ctx,
                                     CUdevice *dev, int *retained)
{
    compcoll_status_t status = COMPCOLL_OK;
    CUcontext         primary;
    unsigned          flags  = 0;
    int               active = 0;

    *retained = 0;
    GPU_CU_CHECK_GOTO(drv.device_get(dev, ordinal), status, out);
    GPU_CU_CHECK_GOTO(drv.primary_state(*dev, &flags, &active), status, out);
    if (owner != NULL && !active) {
        *ctx = (CUcontext)owner;
        goto out;
    }
    GPU_CU_CHECK_GOTO(drv.primary_retain(&primary, *dev), status, out);
    if (owner == NULL || owner == (void *)primary) {
        *ctx      = primary;
        *retained = 1;
    } else {
        drv.primary_release(*dev);
        *ctx = (CUcontext)owner;
    }
out:
    return status;
}

/* ------------------------------------------------------------ pools */

static compcoll_status_t gpu_pool(compcoll_gpu_stream_t *s)
{
    compcoll_status_t status = COMPCOLL_OK;
    gpu_pool_t       *p;
    struct cudaMemPoolProps props;
    uint64_t          keep = UINT64_MAX; /* scratch stays for the next call */

    if (s->ordinal < 0 || s->ordinal >= GPU_MAX_DEVICES) {
        compcoll_gpu_log(COMPCOLL_GPU_LOG_ERROR, __FILE__, __LINE__,
                         "device %d is beyond the %d the module serves",
                         s->ordinal, GPU_MAX_DEVICES);
        return COMPCOLL_ERR_NOT_SUPPORTED;
    }
    pthread_mutex_lock(&gpu_pool_lock);
    p = &gpu_pools[s->ordinal];
    if (p->pool == NULL) {
        memset(&props, 0, sizeof(props));
        props.allocType     = cudaMemAllocationTypePinned;
        props.location.type = cudaMemLocationTypeDevice;
        props.location.id   = s->ordinal;
        COMPCOLL_CUDA_CHECK_GOTO(cudaMemPoolCreate(&p->pool, &props), status,
                                 out);
        COMPCOLL_CUDA_CHECK_GOTO(cudaMemPoolSetAttribute(
                                     p->pool, cudaMemPoolAttrReleaseThreshold,
                                     &keep),
                                 status, out);
        /* destroyed at finalize in a context that is still held */
        p->ctx = s->ctx;
        p->dev = s->dev;
        if (s->retained) {
            CUcontext again;

            if (drv.primary_retain(&again, s->dev) == CUDA_SUCCESS) {
                p->retained = 1;
            }
        }
    }
    s->pool = p->pool;
out:
    if (status != COMPCOLL_OK && p->pool != NULL) {
        cudaMemPoolDestroy(p->pool);
        p->pool = NULL;
    }
    pthread_mutex_unlock(&gpu_pool_lock);
    return status;
}

/* ------------------------------------------------------------ streams */

static void gpu_stream_destroy(compcoll_gpu_stream_t *s)
{
    if (s == NULL) {
        return;
    }
    if (s->ctx != NULL && gpu_enter(s->ctx) == COMPCOLL_OK) {
        if (s->st != NULL) {
            cudaStreamSynchronize(s->st);
            cudaStreamDestroy(s->st);
        }
        if (s->ev != NULL) {
            cudaEventDestroy(s->ev);
        }
        if (s->h_check != NULL) {
            cudaFreeHost(s->h_check);
        }
        gpu_leave();
    }
    if (s->retained) {
        drv.primary_release(s->dev);
    }
    free(s);
}

static compcoll_status_t gpu_stream_create(const compcoll_mem_info_t *where,
                                           compcoll_gpu_stream_t **s_p)
{
    compcoll_status_t      status;
    compcoll_gpu_stream_t *s;
    int                    entered = 0;

    if (where->type == COMPCOLL_MEM_HOST || where->device < 0) {
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    s->ordinal = where->device;
    s->rng     = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)s;
    status = gpu_context(where->device, where->context, &s->ctx, &s->dev,
                         &s->retained);
    if (status != COMPCOLL_OK) {
        goto err;
    }
    status = gpu_enter(s->ctx);
    if (status != COMPCOLL_OK) {
        s->ctx = NULL;
        goto err;
    }
    entered = 1;
    /* a blocking stream: ordered after the program's work on the legacy
     * default stream of the context */
    COMPCOLL_CUDA_CHECK_GOTO(cudaStreamCreateWithFlags(&s->st,
                                                       cudaStreamDefault),
                             status, err);
    COMPCOLL_CUDA_CHECK_GOTO(cudaEventCreateWithFlags(&s->ev,
                                                      cudaEventDisableTiming),
                             status, err);
    COMPCOLL_CUDA_CHECK_GOTO(cudaDeviceGetAttribute(
                                 &s->sms, cudaDevAttrMultiProcessorCount,
                                 s->ordinal),
                             status, err);
    COMPCOLL_CUDA_CHECK_GOTO(cudaHostAlloc((void **)&s->h_check,
                                           4 * sizeof(uint32_t),
                                           cudaHostAllocPortable),
                             status, err);
    status = gpu_pool(s);
    if (status != COMPCOLL_OK) {
        goto err;
    }
    gpu_leave();
    *s_p = s;
    return COMPCOLL_OK;

err:
    if (entered) {
        gpu_leave();
    }
    gpu_stream_destroy(s);
    return status;
}

/* After a wait that covers a selection's report: did it select k? */
static compcoll_status_t gpu_check_report(compcoll_gpu_stream_t *s)
{
    compcoll_status_t status = COMPCOLL_OK;

    if (s->check_pending &&
        (s->h_check[1] != 0 || s->h_check[0] != s->check_expect)) {
        compcoll_gpu_log(COMPCOLL_GPU_LOG_ERROR, __FILE__, __LINE__,
                         "device selection produced %u indices (scan error "
                         "flag %u) where %zu were asked: refusing its result",
                         s->h_check[0], s->h_check[1], s->check_expect);
        status = COMPCOLL_ERR_PROTOCOL;
    }
    s->check_pending = 0;
    s->mark_check    = 0;
    return status;
}

static compcoll_status_t gpu_stream_sync(compcoll_gpu_stream_t *s)
{
    compcoll_status_t status;

    status = gpu_enter(s->ctx);
    if (status != COMPCOLL_OK) {
        return status;
    }
    COMPCOLL_CUDA_CHECK_GOTO(cudaStreamSynchronize(s->st), status, out);
    status = gpu_check_report(s);
out:
    s->check_pending = 0;
    s->mark_check    = 0;
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_mark(compcoll_gpu_stream_t *s)
{
    compcoll_status_t status = gpu_enter(s->ctx);

    if (status != COMPCOLL_OK) {
        return status;
    }
    COMPCOLL_CUDA_CHECK_GOTO(cudaEventRecord(s->ev, s->st), status, out);
    s->mark_check = s->check_pending;
out:
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_mark_wait(compcoll_gpu_stream_t *s)
{
    compcoll_status_t status = gpu_enter(s->ctx);

    if (status != COMPCOLL_OK) {
        return status;
    }
    COMPCOLL_CUDA_CHECK_GOTO(cudaEventSynchronize(s->ev), status, out);
    if (s->mark_check) {
        status = gpu_check_report(s);
    }
out:
    gpu_leave();
    return status;
}

/* ------------------------------------------------------------ memory */

static compcoll_status_t gpu_dev_alloc(compcoll_gpu_stream_t *s, size_t bytes,
                                       void **p)
{
    compcoll_status_t status = gpu_enter(s->ctx);

    *p = NULL;
    if (status != COMPCOLL_OK) {
        return status;
    }
    COMPCOLL_CUDA_CHECK_GOTO(cudaMallocFromPoolAsync(p, bytes ? bytes : 4,
                                                     s->pool, s->st),
                             status, out);
out:
    gpu_leave();
    return status;
}

static void gpu_dev_free(compcoll_gpu_stream_t *s, void *p)
{
    if (p == NULL || gpu_enter(s->ctx) != COMPCOLL_OK) {
        return;
    }
    cudaFreeAsync(p, s->st);
    gpu_leave();
}

static compcoll_status_t gpu_host_alloc(compcoll_gpu_stream_t *s, size_t bytes,
                                        void **p)
{
    compcoll_status_t  status = gpu_enter(s->ctx);
    gpu_host_header_t *h      = NULL;

    *p = NULL;
    if (status != COMPCOLL_OK) {
        return status;
    }
    COMPCOLL_CUDA_CHECK_GOTO(cudaHostAlloc((void **)&h,
                                           bytes + GPU_HOST_HEADER,
                                           cudaHostAllocPortable),
                             status, out);
    h->ctx      = s->ctx;
    h->dev      = s->dev;
    h->retained = 0;
    if (s->retained) {
        CUcontext again;

        /* keep the context alive for host_free */
        h->retained = drv.primary_retain(&again, s->dev) == CUDA_SUCCESS;
    }
    *p = (char *)h + GPU_HOST_HEADER;
out:
    gpu_leave();
    return status;
}

static void gpu_host_free(void *p)
{
    gpu_host_header_t *h;

    if (p == NULL) {
        return;
    }
    h = (gpu_host_header_t *)((char *)p - GPU_HOST_HEADER);
    if (gpu_enter(h->ctx) == COMPCOLL_OK) {
        CUdevice dev      = h->dev;
        int      retained = h->retained;

        cudaFreeHost(h);
        gpu_leave();
        if (retained) {
            drv.primary_release(dev);
        }
    }
}

static compcoll_status_t gpu_copy(compcoll_gpu_stream_t *s, void *dst,
                                  const void *src, size_t bytes)
{
    compcoll_status_t status;

    if (bytes == 0) {
        return COMPCOLL_OK;
    }
    status = gpu_enter(s->ctx);
    if (status != COMPCOLL_OK) {
        return status;
    }
    COMPCOLL_CUDA_CHECK_GOTO(cudaMemcpyAsync(dst, src, bytes,
                                             cudaMemcpyDefault, s->st),
                             status, out);
out:
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_zero(compcoll_gpu_stream_t *s, void *dst,
                                  size_t bytes)
{
    compcoll_status_t status;

    if (bytes == 0) {
        return COMPCOLL_OK;
    }
    status = gpu_enter(s->ctx);
    if (status != COMPCOLL_OK) {
        return status;
    }
    COMPCOLL_CUDA_CHECK_GOTO(cudaMemsetAsync(dst, 0, bytes, s->st), status,
                             out);
out:
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_copy_sync(const compcoll_mem_info_t *where,
                                       void *dst, const void *src,
                                       size_t bytes)
{
    compcoll_status_t status;
    CUcontext         ctx;
    CUdevice          dev;
    int               retained;

    if (bytes == 0) {
        return COMPCOLL_OK;
    }
    status = gpu_context(where->device, where->context, &ctx, &dev,
                         &retained);
    if (status != COMPCOLL_OK) {
        return status;
    }
    status = gpu_enter(ctx);
    if (status == COMPCOLL_OK) {
        COMPCOLL_CUDA_CHECK_GOTO(cudaMemcpy(dst, src, bytes,
                                            cudaMemcpyDefault),
                                 status, out);
out:
        gpu_leave();
    }
    if (retained) {
        drv.primary_release(dev);
    }
    return status;
}

/* ------------------------------------------------------------ kernels */

static compcoll_status_t gpu_check_select_args(size_t n, size_t k)
{
    if (k == 0 || k > n || n > UINT32_MAX) {
        compcoll_gpu_log(COMPCOLL_GPU_LOG_ERROR, __FILE__, __LINE__,
                         "selection of k=%zu of n=%zu: need 0 < k <= n < 2^32",
                         k, n);
        return COMPCOLL_ERR_INVALID_PARAM;
    }
    return COMPCOLL_OK;
}

static compcoll_status_t gpu_select(compcoll_gpu_stream_t *s,
                                    compcoll_select_t mode, const float *m,
                                    const float *g, size_t n, size_t k,
                                    uint32_t *idx)
{
    compcoll_status_t         status = gpu_check_select_args(n, k);
    compcoll_gpu_select_ctx_t c;

    if (status != COMPCOLL_OK) {
        return status;
    }
    status = gpu_enter(s->ctx);
    if (status != COMPCOLL_OK) {
        return status;
    }
    if (mode == COMPCOLL_SELECT_CHUNK) {
        status = compcoll_gpu_launch_chunk(s->st, s->sms, (float *)m, g, NULL,
                                           n, k, 1.0f, idx, NULL, 0);
    } else {
        c.pool      = s->pool;
        c.h_check   = s->h_check;
        c.rng       = &s->rng;
        c.fallbacks = &s->fallbacks;
        c.sms       = s->sms;
        status = compcoll_gpu_launch_select(s->st, &c, mode, m, g, n, k, idx);
        if (status == COMPCOLL_OK) {
            s->check_pending = 1;
            s->check_expect  = k;
        }
    }
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_chunk_compress(compcoll_gpu_stream_t *s, float *m,
                                            const float *g, float *out,
                                            size_t n, size_t k, float beta,
                                            uint32_t *idx, float *vals)
{
    compcoll_status_t status = gpu_check_select_args(n, k);

    if (status != COMPCOLL_OK) {
        return status;
    }
    status = gpu_enter(s->ctx);
    if (status != COMPCOLL_OK) {
        return status;
    }
    status = compcoll_gpu_launch_chunk(s->st, s->sms, m, g, out, n, k, beta,
                                       idx, vals, 1);
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_compress(compcoll_gpu_stream_t *s, float *m,
                                      const float *g, float *out, size_t n,
                                      const uint32_t *idx, size_t k,
                                      float beta, float *vals)
{
    compcoll_status_t status = gpu_enter(s->ctx);

    if (status != COMPCOLL_OK) {
        return status;
    }
    status = compcoll_gpu_launch_compress(s->st, s->pool, m, g, out, n, idx,
                                          k, beta, vals);
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_scatter(compcoll_gpu_stream_t *s, float *out,
                                     const uint32_t *idx, const float *vals,
                                     size_t k)
{
    compcoll_status_t status = gpu_enter(s->ctx);

    if (status != COMPCOLL_OK) {
        return status;
    }
    status = compcoll_gpu_launch_scatter(s->st, out, idx, vals, k);
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_dense(compcoll_gpu_stream_t *s, float *m,
                                   const float *g, float *out, size_t n,
                                   float beta)
{
    compcoll_status_t status = gpu_enter(s->ctx);

    if (status != COMPCOLL_OK) {
        return status;
    }
    status = compcoll_gpu_launch_dense(s->st, m, g, out, n, beta);
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_wire_encode(compcoll_gpu_stream_t *s,
                                         compcoll_wire_t wire, void *dst,
                                         const float *src, size_t count)
{
    compcoll_status_t status = gpu_enter(s->ctx);

    if (status != COMPCOLL_OK) {
        return status;
    }
    status = compcoll_gpu_launch_encode(s->st, wire, dst, src, count);
    gpu_leave();
    return status;
}

static compcoll_status_t gpu_wire_decode(compcoll_gpu_stream_t *s,
                                         compcoll_wire_t wire, float *dst,
                                         const void *src, size_t count)
{
    compcoll_status_t status = gpu_enter(s->ctx);

    if (status != COMPCOLL_OK) {
        return status;
    }
    status = compcoll_gpu_launch_decode(s->st, wire, dst, src, count);
    gpu_leave();
    return status;
}

static uint64_t gpu_sample_fallbacks(compcoll_gpu_stream_t *s)
{
    return s->fallbacks;
}

/* ------------------------------------------------------------ module */

static void gpu_finalize(void)
{
    int d;

    pthread_mutex_lock(&gpu_pool_lock);
    for (d = 0; d < GPU_MAX_DEVICES; d++) {
        gpu_pool_t *p = &gpu_pools[d];

        if (p->pool == NULL) {
            continue;
        }
        /* every stream was synchronized when it was destroyed */
        if (gpu_enter(p->ctx) == COMPCOLL_OK) {
            cudaMemPoolDestroy(p->pool);
            gpu_leave();
        }
        if (p->retained) {
            drv.primary_release(p->dev);
        }
        memset(p, 0, sizeof(*p));
    }
    pthread_mutex_unlock(&gpu_pool_lock);
}

static const compcoll_gpu_module_t gpu_module = {
    .abi              = COMPCOLL_GPU_ABI_VERSION,
    .description      = gpu_description,
    .stream_create    = gpu_stream_create,
    .stream_destroy   = gpu_stream_destroy,
    .stream_sync      = gpu_stream_sync,
    .mark             = gpu_mark,
    .mark_wait        = gpu_mark_wait,
    .dev_alloc        = gpu_dev_alloc,
    .dev_free         = gpu_dev_free,
    .host_alloc       = gpu_host_alloc,
    .host_free        = gpu_host_free,
    .copy             = gpu_copy,
    .zero             = gpu_zero,
    .copy_sync        = gpu_copy_sync,
    .select           = gpu_select,
    .chunk_compress   = gpu_chunk_compress,
    .compress         = gpu_compress,
    .scatter          = gpu_scatter,
    .dense            = gpu_dense,
    .wire_encode      = gpu_wire_encode,
    .wire_decode      = gpu_wire_decode,
    .sample_fallbacks = gpu_sample_fallbacks,
    .finalize         = gpu_finalize,
};

/* The one export.  No CUDA call happens here: the runtime starts on the
 * first stream the core asks for. */
GPU_EXPORT const compcoll_gpu_module_t *
compcoll_gpu_module_get(uint32_t abi, compcoll_gpu_log_fn_t log)
{
    gpu_log_fn = log;
    if (abi != COMPCOLL_GPU_ABI_VERSION) {
        compcoll_gpu_log(COMPCOLL_GPU_LOG_ERROR, __FILE__, __LINE__,
                         "interface version %u asked, this module has %u: "
                         "libcompcoll.so and libcompcoll_cuda.so come from "
                         "different builds", abi, COMPCOLL_GPU_ABI_VERSION);
        return NULL;
    }
    if (gpu_driver_load() != COMPCOLL_OK) {
        return NULL;
    }
    snprintf(gpu_description, sizeof(gpu_description),
             "CUDA runtime %d.%d (static), kernels for sm %s",
             CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10,
             COMPCOLL_GPU_ARCHS);
    return &gpu_module;
}
