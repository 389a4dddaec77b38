/*
 * tests/gpu/stub_arena.h: device buffers on a machine without a GPU (the
 * test programs built with STUB_DEVICE; header-only).  One arena, reserved
 * but not committed, that the stand-in driver ($TEST_STUB_LIBCUDA,
 * stub_cuda.c) is told to report as device memory; allocations bump
 * through it under a lock and are never reused, so every one starts
 * zeroed.
 */
#ifndef COMPCOLL_TEST_STUB_ARENA_H
#define COMPCOLL_TEST_STUB_ARENA_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#define STUB_ARENA ((size_t)1 << 32)

static unsigned char  *stub_arena;
static size_t          stub_used;
static pthread_mutex_t stub_lock = PTHREAD_MUTEX_INITIALIZER;

/* Load the stand-in driver and make the arena; NULL when done, else what
 * failed. */
static const char *stub_arena_open(void)
{
    const char *path = getenv("TEST_STUB_LIBCUDA");
    void (*pretend)(const void *, size_t) = NULL;
    void *stub = path != NULL ? dlopen(path, RTLD_NOW | RTLD_GLOBAL) : NULL;

    if (stub == NULL) {
        return "cannot load the stand-in driver $TEST_STUB_LIBCUDA";
    }
    *(void **)&pretend = dlsym(stub, "stub_cuda_pretend");
    stub_arena = mmap(NULL, STUB_ARENA, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (pretend == NULL || stub_arena == MAP_FAILED) {
        return "no stub_cuda_pretend in the driver, or no arena";
    }
    pretend(stub_arena, STUB_ARENA);
    return NULL;
}

/* bytes of the arena (64-byte aligned, zeroed); NULL when it is full. */
static void *stub_arena_alloc(size_t bytes)
{
    void *p = NULL;

    pthread_mutex_lock(&stub_lock);
    stub_used = (stub_used + 63) & ~(size_t)63;
    if (stub_used + bytes <= STUB_ARENA) {
        p = stub_arena + stub_used;
        stub_used += bytes;
    }
    pthread_mutex_unlock(&stub_lock);
    return p;
}

#endif
