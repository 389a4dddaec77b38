/*
 * libcompcoll: the node's topology (hwloc), for the log and for the NUMA
 * placement of the error-feedback memory (see compcoll_topo.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_topo.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compcoll_log.h"

/* Where blocks go; chosen once, at the first block. */
typedef enum {
    TOPO_PLACE_UNDECIDED,
    TOPO_PLACE_FIRST_TOUCH,
    TOPO_PLACE_BIND,
} topo_place_t;

/* Guards everything below: blocks are made once per tensor, not per call,
 * so one lock costs nothing that matters. */
static pthread_mutex_t topo_lock = PTHREAD_MUTEX_INITIALIZER;
static topo_place_t    topo_place;
static char            topo_why[512]; /* the choice, in words */

static void topo_decide_locked(void);

/* The choice, made and logged once. */
static void topo_choose_locked(void)
{
    if (topo_place == TOPO_PLACE_UNDECIDED) {
        topo_decide_locked();
        compcoll_info("error-feedback memory: %s", topo_why);
    }
}

static void *topo_calloc(size_t bytes, compcoll_topo_mem_kind_t *kind)
{
    *kind = COMPCOLL_TOPO_MEM_FIRST_TOUCH;
    return calloc(1, bytes);
}

#ifdef HAVE_HWLOC
#include <hwloc.h>

static hwloc_topology_t topo_topology;    /* NULL until loaded */
static int              topo_load_failed; /* not retried until finalize */
static hwloc_nodeset_t  topo_bind_nodes;  /* TOPO_PLACE_BIND: the nodes */

/* The process-wide topology, loaded on first use; NULL when hwloc fails. */
static hwloc_topology_t topo_get_locked(void)
{
    hwloc_topology_t topo;

    if (topo_topology != NULL || topo_load_failed) {
        return topo_topology;
    }
    if (hwloc_topology_init(&topo) != 0) {
        compcoll_warn_once("hwloc_topology_init failed (%s): no topology; "
                           "error-feedback memory is placed by first touch",
                           strerror(errno));
        topo_load_failed = 1;
        return NULL;
    }
    /* cores and memory only: no PCI or GPU discovery */
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (hwloc_topology_load(topo) != 0) {
        compcoll_warn_once("hwloc_topology_load failed (%s): no topology; "
                           "error-feedback memory is placed by first touch",
                           strerror(errno));
        hwloc_topology_destroy(topo);
        topo_load_failed = 1;
        return NULL;
    }
    topo_topology = topo;
    return topo;
}

/* The NUMA nodes of the PUs this process may run on (all its threads).
 * Returns 0, or -1 with errno set by hwloc. */
static int topo_process_nodes(hwloc_topology_t topo, hwloc_cpuset_t cpus,
                              hwloc_nodeset_t nodes)
{
    if (hwloc_get_cpubind(topo, cpus, HWLOC_CPUBIND_PROCESS) != 0) {
        return -1;
    }
    hwloc_cpuset_to_nodeset(topo, cpus, nodes);
    return 0;
}

/* The same for the placement, from bitmaps the caller allocated (NULL when
 * that failed): NULL, or why not, warned once. */
static const char *topo_placement_nodes(hwloc_topology_t topo,
                                        hwloc_cpuset_t cpus,
                                        hwloc_nodeset_t nodes)
{
    if (cpus == NULL || nodes == NULL) {
        compcoll_warn_once("hwloc_bitmap_alloc failed: error-feedback memory "
                           "is placed by first touch");
        return "hwloc_bitmap_alloc failed";
    }
    if (topo_process_nodes(topo, cpus, nodes) != 0) {
        compcoll_warn_once("hwloc_get_cpubind failed (%s): this process's "
                           "CPU binding is unknown; error-feedback memory is "
                           "placed by first touch", strerror(errno));
        return "this process's CPU binding is unknown";
    }
    return NULL;
}

static void topo_list(char *buf, size_t len, hwloc_const_bitmap_t set)
{
    if (set == NULL || hwloc_bitmap_list_snprintf(buf, len, set) < 0) {
        snprintf(buf, len, "?");
    }
}

/*
 * A zeroed anonymous mapping bound to `nodes`, or NULL (one warning per
 * cause; *bind_failed set when hwloc could not bind): the caller then falls
 * back to calloc.  Without STRICT, BIND is a preference: when the nodes are
 * full the kernel takes pages elsewhere instead of failing the page fault.
 */
static void *topo_mmap_bound_locked(hwloc_topology_t topo,
                                    hwloc_const_nodeset_t nodes, size_t bytes,
                                    compcoll_topo_mem_kind_t *kind,
                                    int *bind_failed)
{
    char  node_list[96];
    void *p;
    int   err;

    *bind_failed = 0;
    if (bytes == 0) {
        return NULL; /* mmap refuses 0 bytes; calloc does not */
    }
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        compcoll_warn_once("mmap of a %zu-byte error-feedback buffer failed "
                           "(%s): such buffers come from calloc, placed by "
                           "first touch", bytes, strerror(errno));
        return NULL;
    }
    if (hwloc_set_area_membind(topo, p, bytes, nodes, HWLOC_MEMBIND_BIND,
                               HWLOC_MEMBIND_BYNODESET) != 0) {
        err          = errno;
        *bind_failed = 1;
        munmap(p, bytes);
        topo_list(node_list, sizeof(node_list), nodes);
        compcoll_warn_once("hwloc_set_area_membind to NUMA nodes %s failed "
                           "(%s): error-feedback memory is placed by first "
                           "touch", node_list, strerror(err));
        return NULL;
    }
    *kind = COMPCOLL_TOPO_MEM_BOUND;
    return p;
}

/*
 * The NUMA nodes Linux lists, read without hwloc; -1 when unknown, or when
 * the user points hwloc at another topology (HWLOC_SYNTHETIC,
 * HWLOC_XMLFILE).  Loading hwloc's topology opens every installed hwloc
 * plugin (the CUDA and NVML ones among them), so a process on a one-node
 * machine, the common case, is spared it.
 */
static int topo_sys_nodes(void)
{
    struct dirent *e;
    DIR           *d;
    int            count = 0;
    unsigned       id;
    char           rest;

    if (getenv("HWLOC_SYNTHETIC") != NULL || getenv("HWLOC_XMLFILE") != NULL) {
        return -1;
    }
    d = opendir("/sys/devices/system/node");
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        count += sscanf(e->d_name, "node%u%c", &id, &rest) == 1;
    }
    closedir(d);
    return count > 0 ? count : -1;
}

/* TOPO_PLACE_BIND when there is more than one NUMA node and this process
 * runs on a strict subset of them; first touch otherwise. */
static void topo_decide_locked(void)
{
    hwloc_topology_t         topo;
    hwloc_const_nodeset_t    all;
    hwloc_cpuset_t           cpus  = NULL;
    hwloc_nodeset_t          nodes = NULL;
    compcoll_topo_mem_kind_t kind;
    char                     cpu_list[96], node_list[96], all_list[96];
    const char              *why;
    void                    *probe;
    size_t                   page;
    int                      nnodes, bind_failed;

    topo_place = TOPO_PLACE_FIRST_TOUCH;
    if (topo_sys_nodes() == 1) {
        snprintf(topo_why, sizeof(topo_why), "first touch: one NUMA node");
        return;
    }
    topo = topo_get_locked();
    if (topo == NULL) {
        snprintf(topo_why, sizeof(topo_why),
                 "first touch: hwloc could not load the topology");
        return;
    }
    nnodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    if (nnodes <= 1) {
        snprintf(topo_why, sizeof(topo_why), "first touch: one NUMA node");
        return;
    }
    cpus  = hwloc_bitmap_alloc();
    nodes = hwloc_bitmap_alloc();
    why   = topo_placement_nodes(topo, cpus, nodes);
    if (why != NULL) {
        snprintf(topo_why, sizeof(topo_why), "first touch: %s", why);
        goto out;
    }
    all = hwloc_topology_get_topology_nodeset(topo);
    topo_list(cpu_list, sizeof(cpu_list), cpus);
    topo_list(node_list, sizeof(node_list), nodes);
    topo_list(all_list, sizeof(all_list), all);
    if (hwloc_bitmap_iszero(nodes) || !hwloc_bitmap_isincluded(nodes, all) ||
        hwloc_bitmap_isequal(nodes, all)) {
        snprintf(topo_why, sizeof(topo_why),
                 "first touch: this process is not bound to a subset of the "
                 "NUMA nodes (it runs on PUs %s, NUMA nodes %s of %s)",
                 cpu_list, node_list, all_list);
        goto out;
    }
    /* One page tells whether binding works here (a container may forbid
     * mbind, a system may lack it): the choice logged is the one made. */
    page  = sysconf(_SC_PAGESIZE) > 0 ? (size_t)sysconf(_SC_PAGESIZE) : 4096;
    probe = topo_mmap_bound_locked(topo, nodes, page, &kind, &bind_failed);
    if (probe == NULL) {
        snprintf(topo_why, sizeof(topo_why),
                 "first touch: %s NUMA nodes %s failed",
                 bind_failed ? "binding to" : "mmap for", node_list);
        goto out;
    }
    munmap(probe, page);
    topo_place      = TOPO_PLACE_BIND;
    topo_bind_nodes = nodes;
    nodes           = NULL;
    snprintf(topo_why, sizeof(topo_why),
             "bound to NUMA nodes %s of %s (this process runs on PUs %s)",
             node_list, all_list, cpu_list);
out:
    hwloc_bitmap_free(cpus);
    hwloc_bitmap_free(nodes);
}

void *compcoll_topo_mem_alloc(size_t bytes, compcoll_topo_mem_kind_t *kind)
{
    char  node_list[96];
    void *p = NULL;
    int   bind_failed;

    pthread_mutex_lock(&topo_lock);
    topo_choose_locked();
    if (topo_place == TOPO_PLACE_BIND) {
        p = topo_mmap_bound_locked(topo_topology, topo_bind_nodes, bytes,
                                   kind, &bind_failed);
        if (bind_failed) {
            /* warned once; a failed binding is not tried again */
            topo_list(node_list, sizeof(node_list), topo_bind_nodes);
            topo_place = TOPO_PLACE_FIRST_TOUCH;
            snprintf(topo_why, sizeof(topo_why),
                     "first touch: binding to NUMA nodes %s failed",
                     node_list);
        }
    }
    pthread_mutex_unlock(&topo_lock);
    return p != NULL ? p : topo_calloc(bytes, kind);
}

void *compcoll_topo_mem_alloc_bound(size_t bytes,
                                    compcoll_topo_mem_kind_t *kind)
{
    hwloc_topology_t topo;
    hwloc_cpuset_t   cpus  = hwloc_bitmap_alloc();
    hwloc_nodeset_t  nodes = hwloc_bitmap_alloc();
    void            *p     = NULL;
    int              bind_failed;

    pthread_mutex_lock(&topo_lock);
    topo = topo_get_locked();
    if (topo == NULL) {
        goto out; /* warned */
    }
    if (topo_placement_nodes(topo, cpus, nodes) != NULL) {
        goto out;
    }
    if (!hwloc_bitmap_iszero(nodes)) {
        p = topo_mmap_bound_locked(topo, nodes, bytes, kind, &bind_failed);
    }
out:
    pthread_mutex_unlock(&topo_lock);
    hwloc_bitmap_free(cpus);
    hwloc_bitmap_free(nodes);
    return p != NULL ? p : topo_calloc(bytes, kind);
}

void compcoll_topo_describe(char *buf, size_t len)
{
    hwloc_topology_t topo;
    hwloc_cpuset_t   cpus         = NULL;
    hwloc_nodeset_t  nodes        = NULL;
    char             cpu_list[96] = "?", node_list[96] = "?";

    pthread_mutex_lock(&topo_lock);
    topo = topo_get_locked();
    if (topo == NULL) {
        snprintf(buf, len, "topology unknown (hwloc could not load it)");
        goto out;
    }
    cpus  = hwloc_bitmap_alloc();
    nodes = hwloc_bitmap_alloc();
    if (cpus != NULL && nodes != NULL &&
        topo_process_nodes(topo, cpus, nodes) == 0) {
        topo_list(cpu_list, sizeof(cpu_list), cpus);
        topo_list(node_list, sizeof(node_list), nodes);
    }
    snprintf(buf, len,
             "%d packages, %d cores, %d PUs, %d NUMA nodes; this rank runs "
             "on PUs %s (NUMA nodes %s)",
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE), cpu_list,
             node_list);
out:
    pthread_mutex_unlock(&topo_lock);
    hwloc_bitmap_free(cpus);
    hwloc_bitmap_free(nodes);
}

void compcoll_topo_finalize(void)
{
    pthread_mutex_lock(&topo_lock);
    hwloc_bitmap_free(topo_bind_nodes);
    topo_bind_nodes = NULL;
    if (topo_topology != NULL) {
        hwloc_topology_destroy(topo_topology);
        topo_topology = NULL;
    }
    topo_load_failed = 0;
    topo_place       = TOPO_PLACE_UNDECIDED;
    pthread_mutex_unlock(&topo_lock);
}

#else /* !HAVE_HWLOC */

static void topo_decide_locked(void)
{
    topo_place = TOPO_PLACE_FIRST_TOUCH;
    snprintf(topo_why, sizeof(topo_why), "first touch: built without hwloc");
}

void *compcoll_topo_mem_alloc(size_t bytes, compcoll_topo_mem_kind_t *kind)
{
    pthread_mutex_lock(&topo_lock);
    topo_choose_locked();
    pthread_mutex_unlock(&topo_lock);
    return topo_calloc(bytes, kind);
}

void *compcoll_topo_mem_alloc_bound(size_t bytes,
                                    compcoll_topo_mem_kind_t *kind)
{
    return topo_calloc(bytes, kind);
}

void compcoll_topo_describe(char *buf, size_t len)
{
    snprintf(buf, len, "topology unknown (built without hwloc)");
}

void compcoll_topo_finalize(void)
{
    pthread_mutex_lock(&topo_lock);
    topo_place = TOPO_PLACE_UNDECIDED;
    pthread_mutex_unlock(&topo_lock);
}

#endif /* HAVE_HWLOC */

void compcoll_topo_mem_placement(char *buf, size_t len)
{
    pthread_mutex_lock(&topo_lock);
    topo_choose_locked();
    snprintf(buf, len, "%s", topo_why);
    pthread_mutex_unlock(&topo_lock);
}

void compcoll_topo_mem_free(void *p, size_t bytes,
                            compcoll_topo_mem_kind_t kind)
{
    if (p == NULL) {
        return;
    }
    if (kind == COMPCOLL_TOPO_MEM_BOUND) {
        if (munmap(p, bytes) != 0) {
            compcoll_error("munmap of a %zu-byte error-feedback buffer at %p "
                           "failed: %s", bytes, p, strerror(errno));
        }
        return;
    }
    free(p);
}
