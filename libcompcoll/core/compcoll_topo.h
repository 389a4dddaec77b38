/*
 * libcompcoll: the node's topology (hwloc): a description for the log, and
 * the NUMA placement of the error-feedback memory.
 *
 * One hwloc topology per process (cores and memory only, no I/O discovery),
 * loaded on first use and destroyed by compcoll_topo_finalize.  Placement:
 * when the machine has more than one NUMA node and this process's CPU
 * binding covers a strict subset of them, blocks are anonymous mappings
 * bound to that subset (HWLOC_MEMBIND_BIND without STRICT: the kernel
 * prefers those nodes and takes pages elsewhere rather than fail when they
 * are full); otherwise, or without hwloc, or when hwloc fails (one
 * warning), they come from calloc and their pages land where they are first
 * touched.  The choice is made once, at the first block, and logged once at
 * info level.
 */
#ifndef COMPCOLL_TOPO_H
#define COMPCOLL_TOPO_H

#include <stddef.h>

/* How a block was obtained; compcoll_topo_mem_free takes it back. */
typedef enum {
    COMPCOLL_TOPO_MEM_FIRST_TOUCH, /* calloc: pages where first touched */
    COMPCOLL_TOPO_MEM_BOUND,       /* anonymous mmap bound to NUMA nodes */
} compcoll_topo_mem_kind_t;

/* Packages, cores, NUMA nodes, and where this process may run (loads the
 * topology, so callers check the log level first). */
void compcoll_topo_describe(char *buf, size_t len);

/*
 * `bytes` of zeroed memory placed as above; NULL when there is no memory
 * (the caller says what goes without it).  *kind tells how the block was
 * obtained.  Thread-safe.
 */
void *compcoll_topo_mem_alloc(size_t bytes, compcoll_topo_mem_kind_t *kind);

/*
 * The same, bound to the NUMA nodes of this process's CPU binding even where
 * the rule above chooses first touch (one node, an unbound process): the
 * bound path on any machine, for the tests.  First touch without hwloc or
 * when binding fails (one warning).
 */
void *compcoll_topo_mem_alloc_bound(size_t bytes,
                                    compcoll_topo_mem_kind_t *kind);

/* Free a block of compcoll_topo_mem_alloc*: the same `bytes` and the kind
 * it returned; NULL is a no-op.  Needs no topology (also after finalize). */
void compcoll_topo_mem_free(void *p, size_t bytes,
                            compcoll_topo_mem_kind_t kind);

/* The placement chosen, in words, e.g. "bound to NUMA nodes 1 of 0-3 (...)"
 * or "first touch: one NUMA node"; makes the choice if no block has yet. */
void compcoll_topo_mem_placement(char *buf, size_t len);

/* Drop the topology and the choice; blocks still held stay valid. */
void compcoll_topo_finalize(void);

#endif
