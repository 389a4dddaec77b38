/*
 * libcompcoll: memory types, the GPU module and the device state of tensors
 * (see compcoll_memtype.h).
 *
 * Device state hangs off the user's communicator as an MPI attribute of its
 * own, like the registry's state: MPI drops it when the communicator is
 * freed, and compcoll_gpu_finalize drops the rest before MPI_Finalize.  A
 * communicator's registry state carries an id that is never reused; device
 * state made for another id is stale and dropped.
 *
 * Built with or without CUDA: nothing here includes a CUDA header.  The
 * driver is asked through dlsym, and only in a process that loaded it
 * already; the kernels are the module's.  A build without the module still
 * recognizes device buffers and stages them with the driver's copies.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr, dl_iterate_phdr */
#endif

#include "compcoll_memtype.h"

#include <stdlib.h>
#include <string.h>

#include "compcoll.h"
#include "compcoll_log.h"
#include "compcoll_topo.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>

/* From cuda.h, which the core does not include. */
#define GPU_CUDA_SUCCESS             0
#define GPU_MEMORYTYPE_DEVICE        2
#define GPU_ATTR_CONTEXT             1
#define GPU_ATTR_MEMORY_TYPE         2
#define GPU_ATTR_IS_MANAGED          8
#define GPU_ATTR_DEVICE_ORDINAL      9

typedef int (*gpu_ptr_attrs_fn_t)(unsigned, int *, void **,
                                  unsigned long long);
typedef int (*gpu_memcpy_fn_t)(unsigned long long, unsigned long long,
                               size_t);
typedef int (*gpu_ctx_push_fn_t)(void *);
typedef int (*gpu_ctx_pop_fn_t)(void **);

#define GPU_BUCKETS 256

typedef struct {
    void  *ptr;
    size_t size;
} gpu_stage_t;

/* A communicator's device state: its tensors' and its staging buffers,
 * which its calls (serialized by the registry state's lock) use one at a
 * time; calls on other communicators, from other threads, have theirs. */
typedef struct compcoll_gpu_comm {
    struct compcoll_gpu_comm *prev, *next; /* every live state, for finalize */
    MPI_Comm               comm;
    uint64_t               id;          /* of the registry state it serves */
    compcoll_gpu_tensor_t *buckets[GPU_BUCKETS];
    gpu_stage_t            stages[COMPCOLL_STAGE_SLOTS];
} gpu_comm_t;


static void                 *gpu_libcuda;     /* set once the driver is seen */
static gpu_ptr_attrs_fn_t    gpu_ptr_attrs;
static gpu_memcpy_fn_t       gpu_drv_copy;    /* the rest: NULL where absent */
static gpu_ctx_push_fn_t     gpu_drv_push;
static gpu_ctx_pop_fn_t      gpu_drv_pop;
static unsigned long long    gpu_seen_adds;   /* loader count last looked at */
static const compcoll_gpu_module_t *gpu_mod;
static int                   gpu_mod_failed;
static pthread_mutex_t       gpu_mod_lock = PTHREAD_MUTEX_INITIALIZER;
/* gpu_keyval's creation and the gpu_comms list: under gpu_comms_lock
 * (threads make calls on different communicators at once). */
static pthread_mutex_t       gpu_comms_lock = PTHREAD_MUTEX_INITIALIZER;
static int                   gpu_keyval = MPI_KEYVAL_INVALID;
static gpu_comm_t           *gpu_comms;

/* ------------------------------------------------------------ presence */

static int gpu_adds_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    if (size >= offsetof(struct dl_phdr_info, dlpi_adds) +
                    sizeof(info->dlpi_adds)) {
        *(unsigned long long *)data = info->dlpi_adds;
    }
    return 1; /* the first object is enough: the counters are global */
}

int compcoll_gpu_present(void)
{
    unsigned long long adds = 0;
    void              *h;
    gpu_ptr_attrs_fn_t fn;

    if (__atomic_load_n(&gpu_libcuda, __ATOMIC_ACQUIRE) != NULL) {
        return 1;
    }
    /* Look for the driver only when the set of loaded objects changed:
     * one loader-counter read per call in a CPU-only job. */
    dl_iterate_phdr(gpu_adds_cb, &adds);
    if (adds != 0 && adds == __atomic_load_n(&gpu_seen_adds, __ATOMIC_RELAXED)) {
        return 0;
    }
    __atomic_store_n(&gpu_seen_adds, adds, __ATOMIC_RELAXED);
    h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) {
        return 0;
    }
    fn = (gpu_ptr_attrs_fn_t)dlsym(h, "cuPointerGetAttributes");
    if (fn == NULL) {
        compcoll_warn_once("the loaded CUDA driver has no "
                           "cuPointerGetAttributes: buffers are taken for "
                           "host memory");
        dlclose(h);
        return 0;
    }
    compcoll_debug("the CUDA driver is loaded: buffers may be device memory");
    gpu_ptr_attrs = fn;
    *(void **)&gpu_drv_copy = dlsym(h, "cuMemcpy");
    *(void **)&gpu_drv_push = dlsym(h, "cuCtxPushCurrent_v2");
    *(void **)&gpu_drv_pop  = dlsym(h, "cuCtxPopCurrent_v2");
    __atomic_store_n(&gpu_libcuda, h, __ATOMIC_RELEASE);
    return 1;
}

void compcoll_mem_query(const void *ptr, compcoll_mem_info_t *info)
{
    int          attrs[] = {GPU_ATTR_MEMORY_TYPE, GPU_ATTR_IS_MANAGED,
                            GPU_ATTR_DEVICE_ORDINAL, GPU_ATTR_CONTEXT};
    unsigned     type = 0, managed = 0;
    int          ordinal = -1;
    void        *ctx     = NULL;
    void        *data[]  = {&type, &managed, &ordinal, &ctx};

    info->type    = COMPCOLL_MEM_HOST;
    info->device  = -1;
    info->context = NULL;
    if (ptr == NULL || !compcoll_gpu_present()) {
        return;
    }
    /* Not initialised, not a CUDA pointer: host memory.  The driver query
     * needs no current context and never makes one. */
    if (gpu_ptr_attrs(4, attrs, data, (unsigned long long)(uintptr_t)ptr) !=
        GPU_CUDA_SUCCESS) {
        return;
    }
    if (managed || type == GPU_MEMORYTYPE_DEVICE) {
        info->type    = managed ? COMPCOLL_MEM_MANAGED : COMPCOLL_MEM_DEVICE;
        info->device  = ordinal;
        info->context = ctx;
    }
}

/* ------------------------------------------------------------ module */

static void gpu_log_cb(int level, const char *file, int line, const char *msg)
{
    if (level < COMPCOLL_LOG_ERROR) {
        level = COMPCOLL_LOG_ERROR;
    }
    if ((compcoll_log_level_t)level <= compcoll_log_level) {
        compcoll_log_emit((compcoll_log_level_t)level, file, line, "%s", msg);
    }
}

static const compcoll_gpu_module_t *gpu_try(const char *path, char *why,
                                            size_t whylen)
{
    compcoll_gpu_module_get_fn get;
    const compcoll_gpu_module_t *mod;
    void                        *h;
    size_t                       used = strlen(why);

    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(why + used, whylen - used, "; %s", dlerror());
        return NULL;
    }
    *(void **)&get = dlsym(h, COMPCOLL_GPU_MODULE_SYMBOL);
    mod = (get != NULL) ? get(COMPCOLL_GPU_ABI_VERSION, gpu_log_cb) : NULL;
    if (mod == NULL) {
        snprintf(why + used, whylen - used, "; %s: %s", path,
                 get == NULL ? "no " COMPCOLL_GPU_MODULE_SYMBOL
                             : "refused to start (see above)");
        dlclose(h);
        return NULL;
    }
    compcoll_info("GPU module %s: %s", path, mod->description);
    return mod;
}

/*
 * Where the module is: beside the loaded libcompcoll.so (its pkglibdir,
 * $libdir/libcompcoll/), then the configured install path; in the build
 * tree, when the library is the uninstalled one, the module built there.
 */
const compcoll_gpu_module_t *compcoll_gpu_module(void)
{
    char        self[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 64];
    char        why[2048] = "";
    const char *slash;
    Dl_info     info;

    if (__atomic_load_n(&gpu_mod, __ATOMIC_ACQUIRE) != NULL ||
        gpu_mod_failed) {
        return gpu_mod;
    }
    pthread_mutex_lock(&gpu_mod_lock);
    if (gpu_mod != NULL || gpu_mod_failed) {
        pthread_mutex_unlock(&gpu_mod_lock);
        return gpu_mod;
    }
    dir[0] = '\0';
    if (dladdr((void *)compcoll_gpu_module, &info) != 0 &&
        info.dli_fname != NULL && realpath(info.dli_fname, self) != NULL &&
        (slash = strrchr(self, '/')) != NULL) {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - self), self);
        snprintf(path, sizeof(path), "%s/libcompcoll/%s", dir,
                 COMPCOLL_GPU_MODULE_NAME);
        gpu_mod = gpu_try(path, why, sizeof(why));
    }
    if (gpu_mod == NULL) {
        snprintf(path, sizeof(path), "%s/%s", COMPCOLL_PKGLIBDIR,
                 COMPCOLL_GPU_MODULE_NAME);
        gpu_mod = gpu_try(path, why, sizeof(why));
    }
#if defined(COMPCOLL_BUILD_LIBDIR) && defined(COMPCOLL_BUILD_MODULE)
    if (gpu_mod == NULL) {
        char build[PATH_MAX];

        if (realpath(COMPCOLL_BUILD_LIBDIR, build) != NULL &&
            strcmp(build, dir) == 0) {
            gpu_mod = gpu_try(COMPCOLL_BUILD_MODULE, why, sizeof(why));
        }
    }
#endif
    if (gpu_mod == NULL) {
#ifdef HAVE_CUDA
        const char *built = "";
#else
        const char *built = " (this build made none: configured without "
                            "CUDA)";
#endif
        gpu_mod_failed = 1;
        compcoll_warn("the GPU module %s could not be loaded%s%s: device "
                      "buffers go through host memory, copied by the CUDA "
                      "driver", COMPCOLL_GPU_MODULE_NAME, built, why);
    }
    pthread_mutex_unlock(&gpu_mod_lock);
    return gpu_mod;
}

/* ------------------------------------------------------------ staging */

/*
 * A copy by the driver the program loaded, when the module cannot be had:
 * cuMemcpy (unified addressing tells the direction), in the buffer's
 * context when the driver names one, else in the calling thread's.
 */
static compcoll_status_t gpu_driver_copy(const compcoll_mem_info_t *where,
                                         void *dst, const void *src,
                                         size_t bytes)
{
    const gpu_memcpy_fn_t   copy = gpu_drv_copy;
    const gpu_ctx_push_fn_t push = gpu_drv_push;
    const gpu_ctx_pop_fn_t  pop  = gpu_drv_pop;
    void                   *ctx  = where->context, *popped;
    int                     err;

    if (copy == NULL || (ctx != NULL && (push == NULL || pop == NULL))) {
        compcoll_error("the loaded CUDA driver has no cuMemcpy or "
                       "cuCtxPushCurrent: a device buffer cannot be staged");
        return COMPCOLL_ERR_UNAVAILABLE;
    }
    if (ctx != NULL && (err = push(ctx)) != GPU_CUDA_SUCCESS) {
        compcoll_error("the CUDA driver cannot make the context of device "
                       "%d current (CUDA error %d): a device buffer cannot "
                       "be staged", where->device, err);
        return COMPCOLL_ERR_CUDA;
    }
    err = copy((unsigned long long)(uintptr_t)dst,
               (unsigned long long)(uintptr_t)src, bytes);
    if (ctx != NULL) {
        pop(&popped);
    }
    if (err != GPU_CUDA_SUCCESS) {
        compcoll_error("the CUDA driver's copy of %zu bytes between host "
                       "memory and device %d failed (CUDA error %d)", bytes,
                       where->device, err);
        return COMPCOLL_ERR_CUDA;
    }
    return COMPCOLL_OK;
}

compcoll_status_t compcoll_mem_copy(const compcoll_mem_info_t *where,
                                    void *dst, const void *src, size_t bytes)
{
    const compcoll_gpu_module_t *gpu;

    if (bytes == 0) {
        return COMPCOLL_OK;
    }
    if (where->type == COMPCOLL_MEM_HOST) {
        memcpy(dst, src, bytes);
        return COMPCOLL_OK;
    }
    gpu = compcoll_gpu_module();
    return gpu != NULL ? gpu->copy_sync(where, dst, src, bytes)
                       : gpu_driver_copy(where, dst, src, bytes);
}

void *compcoll_gpu_stage(compcoll_gpu_tensor_t *gt, compcoll_stage_slot_t slot,
                         size_t bytes)
{
    gpu_stage_t *st = &gt->comm->stages[slot];
    void        *p  = NULL;
    size_t       size;

    if (bytes <= st->size && st->ptr != NULL) {
        return st->ptr;
    }
    size = bytes + bytes / 4 + 4096; /* grow geometrically, never per call */
    if (gpu_mod->host_alloc(gt->stream, size, &p) != COMPCOLL_OK) {
        return NULL;
    }
    gpu_mod->host_free(st->ptr);
    st->ptr  = p;
    st->size = size;
    return p;
}

/* ------------------------------------------------------------ tensors */

static size_t gpu_hash(const compcoll_tensor_t *t)
{
    uint64_t h = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull;

    return (size_t)(h >> 32) % GPU_BUCKETS;
}

/* t's memory from the device into a full-size t->mem again. */
static compcoll_status_t gpu_mem_home(compcoll_gpu_tensor_t *gt,
                                      compcoll_tensor_t *t)
{
    const size_t             bytes = t->count * sizeof(float);
    compcoll_status_t        status;
    compcoll_topo_mem_kind_t kind;
    float                   *p;

    if (!gt->mem_live) {
        return COMPCOLL_OK;
    }
    /* placed like a new tensor's memory; t->mem may be the placeholder or,
     * when that could not be made, the full block */
    p = compcoll_topo_mem_alloc(bytes, &kind);
    if (p == NULL) {
        compcoll_error("no host memory to bring a %zu-element tensor's "
                       "error-feedback memory back from the device",
                       t->count);
        return COMPCOLL_ERR_NO_MEMORY;
    }
    compcoll_topo_mem_free(t->mem, bytes, t->mem_kind);
    t->mem      = p;
    t->mem_kind = kind;
    status = gpu_mod->copy(gt->stream, t->mem, gt->mem,
                           t->count * sizeof(float));
    if (status == COMPCOLL_OK) {
        status = gpu_mod->stream_sync(gt->stream);
    }
    if (status == COMPCOLL_OK) {
        gt->mem_live = 0;
    }
    return status;
}

static void gpu_tensor_free(compcoll_gpu_tensor_t *gt)
{
    gpu_mod->dev_free(gt->stream, gt->mem);
    gpu_mod->dev_free(gt->stream, gt->idx);
    gpu_mod->dev_free(gt->stream, gt->vals);
    gpu_mod->stream_destroy(gt->stream);
    free(gt);
}

static void gpu_comm_clear(gpu_comm_t *gc)
{
    size_t b;

    for (b = 0; b < GPU_BUCKETS; b++) {
        while (gc->buckets[b] != NULL) {
            compcoll_gpu_tensor_t *gt = gc->buckets[b];

            gc->buckets[b] = gt->next;
            gpu_tensor_free(gt);
        }
    }
}

static int gpu_delete_fn(MPI_Comm comm, int keyval, void *value, void *extra)
{
    gpu_comm_t *gc = value;
    int         s;

    pthread_mutex_lock(&gpu_comms_lock);
    if (gc->prev != NULL) {
        gc->prev->next = gc->next;
    } else {
        gpu_comms = gc->next;
    }
    if (gc->next != NULL) {
        gc->next->prev = gc->prev;
    }
    pthread_mutex_unlock(&gpu_comms_lock);
    gpu_comm_clear(gc);
    for (s = 0; s < COMPCOLL_STAGE_SLOTS && gpu_mod != NULL; s++) {
        gpu_mod->host_free(gc->stages[s].ptr);
    }
    free(gc);
    return MPI_SUCCESS;
}

/* The keyval of the communicators' device states; under gpu_comms_lock. */
static compcoll_status_t gpu_keyval_make(void)
{
    compcoll_status_t status = COMPCOLL_OK;

    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN,
                                                    gpu_delete_fn, &gpu_keyval,
                                                    NULL),
                            status, out);
out:
    return status;
}

static compcoll_status_t gpu_comm_get(compcoll_comm_t *cc, int create,
                                      gpu_comm_t **gc_p)
{
    compcoll_status_t status = COMPCOLL_OK;
    gpu_comm_t       *gc     = NULL;
    int               found  = 0, keyval;

    *gc_p = NULL;
    pthread_mutex_lock(&gpu_comms_lock);
    if (gpu_keyval == MPI_KEYVAL_INVALID && create) {
        status = gpu_keyval_make();
    }
    keyval = gpu_keyval;
    pthread_mutex_unlock(&gpu_comms_lock);
    if (status != COMPCOLL_OK) {
        return status;
    }
    if (keyval == MPI_KEYVAL_INVALID) {
        return COMPCOLL_OK; /* none made yet, none asked for */
    }
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_get_attr(cc->comm, keyval, &gc,
                                               &found),
                            status, out);
    if (found) {
        if (gc->id != cc->id) {
            gpu_comm_clear(gc); /* made for an earlier state of comm */
            gc->id = cc->id;
        }
        *gc_p = gc;
        return COMPCOLL_OK;
    }
    if (!create) {
        return COMPCOLL_OK;
    }
    gc = calloc(1, sizeof(*gc));
    if (gc == NULL) {
        return COMPCOLL_ERR_NO_MEMORY;
    }
    gc->comm = cc->comm;
    gc->id   = cc->id;
    COMPCOLL_MPI_CHECK_GOTO(PMPI_Comm_set_attr(cc->comm, keyval, gc),
                            status, out);
    pthread_mutex_lock(&gpu_comms_lock);
    gc->next = gpu_comms;
    if (gpu_comms != NULL) {
        gpu_comms->prev = gc;
    }
    gpu_comms = gc;
    pthread_mutex_unlock(&gpu_comms_lock);
    *gc_p = gc;
    return COMPCOLL_OK;
out:
    if (!found) {
        free(gc);
    }
    return status;
}

static compcoll_gpu_tensor_t **gpu_find(gpu_comm_t *gc,
                                        const compcoll_tensor_t *t)
{
    compcoll_gpu_tensor_t **pp = &gc->buckets[gpu_hash(t)];

    while (*pp != NULL && (*pp)->t != t) {
        pp = &(*pp)->next;
    }
    return pp;
}

compcoll_status_t compcoll_gpu_tensor_to_host(compcoll_comm_t *cc,
                                              compcoll_tensor_t *t)
{
    compcoll_status_t       status;
    compcoll_gpu_tensor_t **pp;
    gpu_comm_t             *gc;

    if (gpu_mod == NULL) {
        return COMPCOLL_OK; /* no device state can exist */
    }
    status = gpu_comm_get(cc, 0, &gc);
    if (status != COMPCOLL_OK || gc == NULL) {
        return status;
    }
    pp = gpu_find(gc, t);
    return (*pp != NULL) ? gpu_mem_home(*pp, t) : COMPCOLL_OK;
}

void compcoll_gpu_tensor_forget(compcoll_comm_t *cc,
                                const compcoll_tensor_t *t)
{
    compcoll_gpu_tensor_t **pp, *gt;
    gpu_comm_t             *gc;

    if (gpu_mod == NULL || gpu_comm_get(cc, 0, &gc) != COMPCOLL_OK ||
        gc == NULL) {
        return;
    }
    pp = gpu_find(gc, t);
    gt = *pp;
    if (gt != NULL) {
        *pp = gt->next;
        gpu_tensor_free(gt);
    }
}

int compcoll_gpu_tensor_clear(compcoll_comm_t *cc, compcoll_tensor_t *t)
{
    compcoll_gpu_tensor_t **pp;
    gpu_comm_t             *gc;

    if (gpu_mod == NULL || gpu_comm_get(cc, 0, &gc) != COMPCOLL_OK ||
        gc == NULL) {
        return 0;
    }
    pp = gpu_find(gc, t);
    if (*pp == NULL || !(*pp)->mem_live) {
        return 0;
    }
    if (gpu_mod->zero((*pp)->stream, (*pp)->mem,
                      t->count * sizeof(float)) != COMPCOLL_OK ||
        gpu_mod->stream_sync((*pp)->stream) != COMPCOLL_OK) {
        compcoll_warn("could not clear the device memory of a tensor of %zu "
                      "elements after a failed call", t->count);
    }
    return 1;
}

compcoll_status_t compcoll_gpu_tensor_get(compcoll_comm_t *cc,
                                          compcoll_tensor_t *t,
                                          const compcoll_mem_info_t *where,
                                          compcoll_gpu_tensor_t **gt_p)
{
    const size_t            bytes = t->count * sizeof(float);
    compcoll_status_t       status;
    compcoll_gpu_tensor_t **pp, *gt;
    gpu_comm_t             *gc;
    float                  *p;

    if (compcoll_gpu_module() == NULL) {
        return COMPCOLL_ERR_UNAVAILABLE;
    }
    status = gpu_comm_get(cc, 1, &gc);
    if (status != COMPCOLL_OK) {
        return status;
    }
    pp = gpu_find(gc, t);
    gt = *pp;
    if (gt != NULL && (gt->where.device != where->device ||
                       gt->where.context != where->context)) {
        /* the tensor's buffers moved to another device (fresh buffers with
         * COMPCOLL_KEY=sequence): its memory goes with them, via the host */
        status = gpu_mem_home(gt, t);
        if (status != COMPCOLL_OK) {
            return status;
        }
        *pp = gt->next;
        gpu_tensor_free(gt);
        gt = NULL;
    }
    if (gt == NULL) {
        gt = calloc(1, sizeof(*gt));
        if (gt == NULL) {
            return COMPCOLL_ERR_NO_MEMORY;
        }
        gt->t     = t;
        gt->comm  = gc;
        gt->where = *where;
        status    = gpu_mod->stream_create(where, &gt->stream);
        if (status != COMPCOLL_OK) {
            free(gt);
            return status;
        }
        if (t->mem != NULL &&
            gpu_mod->dev_alloc(gt->stream, bytes, (void **)&gt->mem) !=
                COMPCOLL_OK) {
            compcoll_warn_once("no device memory for a %zu-byte "
                               "error-feedback buffer: such tensors are "
                               "handled as having no memory", bytes);
            gt->mem = NULL;
        }
        gt->next = gc->buckets[gpu_hash(t)];
        gc->buckets[gpu_hash(t)] = gt;
        compcoll_debug("tensor of %zu elements on device %d: stream and "
                       "%s device memory", t->count, where->device,
                       gt->mem != NULL ? "its" : "no");
    }
    if (gt->mem != NULL && !gt->mem_live && t->mem != NULL) {
        /* the memory moves to the device; t->mem keeps a placeholder */
        status = gpu_mod->copy(gt->stream, gt->mem, t->mem, bytes);
        if (status == COMPCOLL_OK) {
            status = gpu_mod->stream_sync(gt->stream);
        }
        if (status != COMPCOLL_OK) {
            return status;
        }
        gt->mem_live = 1;
        /* the block goes the way it came (it may be a bound mapping) */
        p = calloc(1, sizeof(float));
        if (p != NULL) {
            compcoll_topo_mem_free(t->mem, bytes, t->mem_kind);
            t->mem      = p;
            t->mem_kind = COMPCOLL_TOPO_MEM_FIRST_TOUCH;
        }
    }
    *gt_p = gt;
    return COMPCOLL_OK;
}

compcoll_status_t compcoll_gpu_tensor_reserve(compcoll_gpu_tensor_t *gt,
                                              size_t k)
{
    compcoll_status_t status;
    size_t            cap;

    if (k <= gt->cap_k && gt->idx != NULL) {
        return COMPCOLL_OK;
    }
    gpu_mod->dev_free(gt->stream, gt->idx);
    gpu_mod->dev_free(gt->stream, gt->vals);
    gt->idx   = NULL;
    gt->vals  = NULL;
    gt->cap_k = 0;
    cap       = k;
    status = gpu_mod->dev_alloc(gt->stream, cap * sizeof(uint32_t),
                                (void **)&gt->idx);
    if (status == COMPCOLL_OK) {
        status = gpu_mod->dev_alloc(gt->stream, cap * sizeof(float),
                                    (void **)&gt->vals);
    }
    if (status == COMPCOLL_OK) {
        gt->cap_k = cap;
    }
    return status;
}

void compcoll_gpu_finalize(void)
{
    /* (one thread left: MPI_Finalize's) */
    while (gpu_comms != NULL) {
        gpu_comm_t *gc = gpu_comms;

        /* deleting the attribute runs gpu_delete_fn, which unlinks it */
        if (PMPI_Comm_delete_attr(gc->comm, gpu_keyval) != MPI_SUCCESS) {
            gpu_delete_fn(gc->comm, gpu_keyval, gc, NULL);
        }
    }
    if (gpu_keyval != MPI_KEYVAL_INVALID) {
        PMPI_Comm_free_keyval(&gpu_keyval);
    }
    if (gpu_mod != NULL) {
        gpu_mod->finalize();
    }
}
