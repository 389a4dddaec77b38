/*
 * tests/gpu/stub_cuda.c: a stand-in for the CUDA driver, libcuda.so.1, for
 * module_check on machines without a GPU.
 *
 * It answers cuPointerGetAttributes like the real driver (success; memory
 * type 0 for memory it does not know), except that memory the test declares
 * with stub_cuda_pretend() reads as device memory of device 0, allocated in
 * the stand-in context stub_ctx; cuMemcpy copies (the "device" memory being
 * host memory), and cuCtxPushCurrent / cuCtxPopCurrent accept that context
 * (and only it), keeping a depth that stub_cuda_ctx_depth() reads.  Every
 * other entry point fails with CUDA_ERROR_NO_DEVICE, as on a machine
 * without a GPU, so nothing can make a context.  Each entry point counts its calls;
 * stub_cuda_calls(name) reads them.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STUB_EXPORT __attribute__((visibility("default")))
#define STUB_SUCCESS   0
#define STUB_NO_DEVICE 100

enum {
    C_POINTER_ATTRS, C_CTX_PUSH, C_CTX_POP, C_PRIMARY_RETAIN,
    C_PRIMARY_RELEASE, C_PRIMARY_STATE, C_DEVICE_GET, C_ERROR_STRING,
    C_INIT, C_DRIVER_VERSION, C_GET_PROC, C_CTX_CREATE, C_CTX_GET,
    C_DEVICE_COUNT, C_EXPORT_TABLE, C_MEMCPY, C_COUNT
};
static const char *stub_names[C_COUNT] = {
    "cuPointerGetAttributes", "cuCtxPushCurrent_v2", "cuCtxPopCurrent_v2",
    "cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRelease_v2",
    "cuDevicePrimaryCtxGetState", "cuDeviceGet", "cuGetErrorString",
    "cuInit", "cuDriverGetVersion", "cuGetProcAddress", "cuCtxCreate_v2",
    "cuCtxGetCurrent", "cuDeviceGetCount", "cuGetExportTable", "cuMemcpy"};
static unsigned long stub_count[C_COUNT];
static uintptr_t     stub_lo, stub_hi;
static int           stub_ctx;       /* its address is the context */
static int           stub_ctx_depth; /* pushes not popped */

STUB_EXPORT int stub_cuda_ctx_depth(void)
{
    return stub_ctx_depth;
}

STUB_EXPORT void stub_cuda_pretend(const void *p, size_t bytes)
{
    stub_lo = (uintptr_t)p;
    stub_hi = (uintptr_t)p + bytes;
}

STUB_EXPORT unsigned long stub_cuda_calls(const char *name)
{
    int i;

    for (i = 0; i < C_COUNT; i++) {
        if (strcmp(name, stub_names[i]) == 0) {
            return stub_count[i];
        }
    }
    return (unsigned long)-1;
}

/* The attributes the library asks for: 1 context, 2 memory type,
 * 8 is-managed, 9 device ordinal. */
STUB_EXPORT int cuPointerGetAttributes(unsigned num, int *attrs, void **data,
                                       unsigned long long ptr)
{
    const int dev = (uintptr_t)ptr >= stub_lo && (uintptr_t)ptr < stub_hi;
    unsigned  i;

    stub_count[C_POINTER_ATTRS]++;
    for (i = 0; i < num; i++) {
        switch (attrs[i]) {
        case 1:
            *(void **)data[i] = dev ? (void *)&stub_ctx : NULL;
            break;
        case 2:
            *(unsigned *)data[i] = dev ? 2u : 0u;
            break;
        case 8:
            *(unsigned *)data[i] = 0;
            break;
        case 9:
            *(int *)data[i] = dev ? 0 : -1;
            break;
        default:
            break;
        }
    }
    return STUB_SUCCESS;
}

#define STUB_FAIL(_name, _id)                                                \
    STUB_EXPORT int _name(void)                                              \
    {                                                                        \
        stub_count[_id]++;                                                   \
        return STUB_NO_DEVICE;                                               \
    }

STUB_EXPORT int cuCtxPushCurrent_v2(void *ctx)
{
    stub_count[C_CTX_PUSH]++;
    if (ctx != (void *)&stub_ctx) {
        return STUB_NO_DEVICE;
    }
    stub_ctx_depth++;
    return STUB_SUCCESS;
}

STUB_EXPORT int cuCtxPopCurrent_v2(void **ctx)
{
    stub_count[C_CTX_POP]++;
    if (stub_ctx_depth == 0) {
        return STUB_NO_DEVICE;
    }
    stub_ctx_depth--;
    if (ctx != NULL) {
        *ctx = (void *)&stub_ctx;
    }
    return STUB_SUCCESS;
}
STUB_FAIL(cuDevicePrimaryCtxRetain, C_PRIMARY_RETAIN)
STUB_FAIL(cuDevicePrimaryCtxRelease_v2, C_PRIMARY_RELEASE)
STUB_FAIL(cuDevicePrimaryCtxGetState, C_PRIMARY_STATE)
STUB_FAIL(cuDeviceGet, C_DEVICE_GET)
STUB_FAIL(cuInit, C_INIT)
STUB_FAIL(cuDriverGetVersion, C_DRIVER_VERSION)
STUB_FAIL(cuGetProcAddress, C_GET_PROC)
STUB_FAIL(cuCtxCreate_v2, C_CTX_CREATE)
STUB_FAIL(cuCtxGetCurrent, C_CTX_GET)
STUB_FAIL(cuDeviceGetCount, C_DEVICE_COUNT)
STUB_FAIL(cuGetExportTable, C_EXPORT_TABLE)

STUB_EXPORT int cuMemcpy(unsigned long long dst, unsigned long long src,
                         size_t bytes)
{
    stub_count[C_MEMCPY]++;
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, bytes);
    return STUB_SUCCESS;
}

STUB_EXPORT int cuGetErrorString(int error, const char **str)
{
    stub_count[C_ERROR_STRING]++;
    *str = "no CUDA-capable device is detected (stub driver)";
    return STUB_SUCCESS;
}
