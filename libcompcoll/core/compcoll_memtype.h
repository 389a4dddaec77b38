/*
 * libcompcoll: where buffers live, and the device state of tensors.
 *
 * A process that has not loaded the CUDA driver (libcuda.so.1) is a CPU-only
 * process: every buffer is host memory, nothing is queried and nothing of
 * CUDA is loaded (compcoll_gpu_present() costs one loader-counter read per
 * call until the driver appears).  Once the program has loaded the driver,
 * each call asks it where its buffers live (cuPointerGetAttributes through
 * the driver the program loaded; no context is made or changed); the GPU
 * module (libcompcoll_cuda.so) is loaded the first time a buffer is device
 * memory.  Builds without CUDA compile all of this to "host memory".
 */
#ifndef COMPCOLL_MEMTYPE_H
#define COMPCOLL_MEMTYPE_H

#include <mpi.h>

#include "compcoll_kernels.h"
#include "compcoll_registry.h"

/*
 * The device side of a tensor: its stream, its error-feedback memory on the
 * device and room for k indices and values.  While mem_live is set, `mem`
 * holds the tensor's memory and the registry's t->mem is a one-float
 * placeholder (it still marks that the tensor has memory); a call with host
 * buffers brings the memory back first (compcoll_gpu_tensor_to_host).
 */
typedef struct compcoll_gpu_tensor {
    struct compcoll_gpu_tensor *next;
    const compcoll_tensor_t    *t;
    struct compcoll_gpu_comm   *comm;   /* its communicator's device state */
    compcoll_mem_info_t         where;  /* device and context of the stream */
    compcoll_gpu_stream_t      *stream;
    float                      *mem;    /* device memory; NULL: none */
    int                         mem_live;
    uint32_t                   *idx;    /* device, cap_k entries */
    float                      *vals;   /* device, cap_k entries */
    size_t                      cap_k;
} compcoll_gpu_tensor_t;

/* Pinned host staging buffers of the compressed path, one per use. */
typedef enum {
    COMPCOLL_STAGE_MSG,  /* header and indices (the broadcast) */
    COMPCOLL_STAGE_VALS, /* the k values (the all-reduce) */
    COMPCOLL_STAGE_BULK, /* n values of a dense call */
    COMPCOLL_STAGE_SLOTS
} compcoll_stage_slot_t;

/* The program has loaded the CUDA driver: buffers may be device memory. */
int compcoll_gpu_present(void);

/* Where ptr lives: host memory unless the driver says otherwise. */
void compcoll_mem_query(const void *ptr, compcoll_mem_info_t *info);

/* The GPU module, loaded on first use; NULL (and one warning) when it
 * cannot be. */
const compcoll_gpu_module_t *compcoll_gpu_module(void);

/* A synchronous copy of bytes between host memory and the buffer `where`
 * describes (dst or src; host memory is memcpy'd): by the GPU module, or,
 * when it cannot be loaded, by the CUDA driver the program loaded, so that
 * device buffers are staged through host memory either way. */
compcoll_status_t compcoll_mem_copy(const compcoll_mem_info_t *where,
                                    void *dst, const void *src,
                                    size_t bytes);

/* The device state of t (a tensor of cc) for buffers at `where`, made on
 * first use, holding the tensor's memory on the device. */
compcoll_status_t compcoll_gpu_tensor_get(compcoll_comm_t *cc,
                                          compcoll_tensor_t *t,
                                          const compcoll_mem_info_t *where,
                                          compcoll_gpu_tensor_t **gt_p);
/* After a failed call: t's memory cleared if it lives on the device, which
 * returns 1 (t->mem is then a placeholder, not to be touched); 0 when it
 * lives in t->mem (or t has no device state). */
int compcoll_gpu_tensor_clear(compcoll_comm_t *cc, compcoll_tensor_t *t);
/* Room for k indices and values on the device. */
compcoll_status_t compcoll_gpu_tensor_reserve(compcoll_gpu_tensor_t *gt,
                                              size_t k);
/* Before a call with host buffers: t's memory back in t->mem. */
compcoll_status_t compcoll_gpu_tensor_to_host(compcoll_comm_t *cc,
                                              compcoll_tensor_t *t);
/* Before the registry frees t: its device state freed with it, since it is
 * found by t's address, which a later tensor may be given. */
void compcoll_gpu_tensor_forget(compcoll_comm_t *cc,
                                const compcoll_tensor_t *t);

/* A pinned host buffer of at least `bytes` for `slot` of the calls on
 * gt's communicator, reused across them (made in the context of gt's
 * stream, usable from all); NULL when it cannot be had.  Each
 * communicator has its own: its calls are serialized, those of other
 * communicators may run in other threads at once. */
void *compcoll_gpu_stage(compcoll_gpu_tensor_t *gt, compcoll_stage_slot_t slot,
                         size_t bytes);

/* Device state, staging and module released; before the registry goes. */
void compcoll_gpu_finalize(void);

#endif
