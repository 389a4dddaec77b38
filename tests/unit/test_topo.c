/*
 * NUMA placement of the error-feedback memory (compcoll_topo_mem_*): the
 * placement rule against this machine and this process's CPU binding, read
 * by a topology of the test's own; blocks zeroed and writable; their pages
 * on the nodes the rule calls for (hwloc_get_area_memlocation) and, when
 * bound, a binding to this process's nodes (hwloc_get_area_membind); each
 * kind of block freed the way it was made, also after the topology is gone.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../tap/tap.h"
#include "compcoll_log.h"
#include "compcoll_topo.h"

#ifdef HAVE_HWLOC
#include <hwloc.h>
#endif

/* glibc's heap statistics; under ASan malloc is ASan's, which keeps none */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33) && \
    !defined(__SANITIZE_ADDRESS__)
#define TEST_MALLINFO2 1
#endif

/* Not a multiple of the page size, so that rounding shows. */
#define SMALL_BYTES ((size_t)4096 * 3 + 12)
#define LARGE_BYTES ((size_t)3 << 20 | 12)

static const char *kind_name(compcoll_topo_mem_kind_t kind)
{
    return kind == COMPCOLL_TOPO_MEM_BOUND ? "bound" : "first touch";
}

/* Every byte zero, then a pattern written over all of it reads back. */
static void check_zero_writable(const char *what, unsigned char *p,
                                size_t bytes)
{
    size_t i;
    int    zero = 1, same = 1;

    for (i = 0; i < bytes; i++) {
        zero &= p[i] == 0;
    }
    ok(zero, "%s: %zu bytes, all zero", what, bytes);
    for (i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(i * 131 + 7);
    }
    for (i = 0; i < bytes; i++) {
        same &= p[i] == (unsigned char)(i * 131 + 7);
    }
    ok(same, "%s: written over and read back", what);
}

/* Whether [p, p + bytes) is mapped, by mincore: ENOMEM when it is not. */
static int mapped(void *p, size_t bytes)
{
    static unsigned char vec[4096]; /* no allocation between free and here */
    long                 page  = sysconf(_SC_PAGESIZE);
    uintptr_t            start = (uintptr_t)p & ~(uintptr_t)(page - 1);
    size_t               len   = (uintptr_t)p + bytes - start;

    if ((len + page - 1) / page > sizeof(vec)) {
        return -1;
    }
    if (mincore((void *)start, len, vec) == 0) {
        return 1;
    }
    return errno == ENOMEM ? 0 : -1;
}

#ifdef TEST_MALLINFO2
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}
#endif

/* Free through the API and check that the block went back: a bound block
 * is unmapped, a first-touch block leaves the heap's count of bytes in use. */
static void check_free(const char *what, void *p, size_t bytes,
                       compcoll_topo_mem_kind_t kind)
{
    if (kind == COMPCOLL_TOPO_MEM_BOUND) {
        int before = mapped(p, bytes), after;

        compcoll_topo_mem_free(p, bytes, kind);
        after = mapped(p, bytes); /* before any other allocation */
        ok(before == 1 && after == 0,
           "%s: free of a bound block unmaps it (mapped before: %d, after: "
           "%d)", what, before, after);
        return;
    }
#ifdef TEST_MALLINFO2
    {
        size_t before = heap_in_use(), after;

        compcoll_topo_mem_free(p, bytes, kind);
        after = heap_in_use();
        ok(before >= after + bytes,
           "%s: free of a first-touch block returns it to the heap (%zu "
           "bytes in use before, %zu after)", what, before, after);
    }
#else
    compcoll_topo_mem_free(p, bytes, kind);
    skip("%s: free of a first-touch block: no mallinfo2 (or ASan's heap) "
         "to see it", what);
#endif
}

#ifdef HAVE_HWLOC

/* The test's view of the machine, independent of the library's. */
typedef struct {
    hwloc_topology_t topo;
    hwloc_nodeset_t  all;     /* every NUMA node of the topology */
    hwloc_nodeset_t  mine;    /* the nodes of this process's CPU binding */
    int              nnodes;
    int              can_bind; /* an area can be bound to `mine` here */
    int              can_locate; /* pages can be located here */
    int              locate_errno;
} machine_t;

static int machine_load(machine_t *m)
{
    hwloc_cpuset_t cpus = hwloc_bitmap_alloc();
    long           page = sysconf(_SC_PAGESIZE);
    void          *probe;
    int            rc;

    memset(m, 0, sizeof(*m));
    m->mine = hwloc_bitmap_alloc();
    if (cpus == NULL || m->mine == NULL ||
        hwloc_topology_init(&m->topo) != 0) {
        return -1;
    }
    hwloc_topology_set_io_types_filter(m->topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (hwloc_topology_load(m->topo) != 0 ||
        hwloc_get_cpubind(m->topo, cpus, HWLOC_CPUBIND_PROCESS) != 0) {
        hwloc_bitmap_free(cpus);
        return -1;
    }
    hwloc_cpuset_to_nodeset(m->topo, cpus, m->mine);
    hwloc_bitmap_free(cpus);
    m->all    = hwloc_bitmap_dup(hwloc_topology_get_topology_nodeset(m->topo));
    m->nnodes = hwloc_get_nbobjs_by_type(m->topo, HWLOC_OBJ_NUMANODE);
    /* A container may forbid mbind and move_pages: what cannot be done
     * here is not asked of the library, nor checked. */
    probe = mmap(NULL, page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe != MAP_FAILED) {
        hwloc_nodeset_t loc = hwloc_bitmap_alloc();

        m->can_bind = !hwloc_bitmap_iszero(m->mine) &&
                      hwloc_set_area_membind(m->topo, probe, page, m->mine,
                                             HWLOC_MEMBIND_BIND,
                                             HWLOC_MEMBIND_BYNODESET) == 0;
        memset(probe, 1, page);
        rc = loc == NULL ? -1
                         : hwloc_get_area_memlocation(m->topo, probe, page,
                                                      loc,
                                                      HWLOC_MEMBIND_BYNODESET);
        m->locate_errno = rc == 0 ? ENOENT : errno; /* ENOENT: no node */
        m->can_locate   = rc == 0 && !hwloc_bitmap_iszero(loc);
        hwloc_bitmap_free(loc);
        munmap(probe, page);
    }
    return 0;
}

static void machine_free(machine_t *m)
{
    hwloc_bitmap_free(m->all);
    hwloc_bitmap_free(m->mine);
    hwloc_topology_destroy(m->topo);
}

static char *list(hwloc_const_bitmap_t set)
{
    static char buf[4][128];
    static int  next;
    char       *b = buf[next++ % 4];

    hwloc_bitmap_list_snprintf(b, sizeof(buf[0]), set);
    return b;
}

/*
 * Where the (touched) pages of a block lie: within `want`, and all of it
 * when `exact`; a bound block also carries a BIND policy within `want`.
 */
static void check_location(machine_t *m, const char *what, void *p,
                           size_t bytes, compcoll_topo_mem_kind_t kind,
                           hwloc_const_nodeset_t want, int exact)
{
    hwloc_nodeset_t        loc = hwloc_bitmap_alloc();
    hwloc_nodeset_t        pol = hwloc_bitmap_alloc();
    hwloc_membind_policy_t policy;
    int                    rc;

    if (!m->can_locate) {
        skip("%s: where the pages lie: hwloc_get_area_memlocation does not "
             "work here (%s)", what, strerror(m->locate_errno));
        goto out;
    }
    rc = hwloc_get_area_memlocation(m->topo, p, bytes, loc,
                                    HWLOC_MEMBIND_BYNODESET);
    ok(rc == 0 && !hwloc_bitmap_iszero(loc) &&
           (exact ? hwloc_bitmap_isequal(loc, want)
                  : hwloc_bitmap_isincluded(loc, want)),
       "%s: pages on NUMA nodes %s, %s %s", what, rc == 0 ? list(loc) : "?",
       exact ? "exactly" : "within", list(want));
    if (kind == COMPCOLL_TOPO_MEM_BOUND) {
        rc = hwloc_get_area_membind(m->topo, p, bytes, pol, &policy,
                                    HWLOC_MEMBIND_BYNODESET);
        ok(rc == 0 && policy == HWLOC_MEMBIND_BIND &&
               !hwloc_bitmap_iszero(pol) && hwloc_bitmap_isincluded(pol, want),
           "%s: bound (policy %d, want %d) to NUMA nodes %s within %s", what,
           rc == 0 ? (int)policy : -1, (int)HWLOC_MEMBIND_BIND,
           rc == 0 ? list(pol) : "?", list(want));
    }
out:
    hwloc_bitmap_free(loc);
    hwloc_bitmap_free(pol);
}

#endif /* HAVE_HWLOC */

/* Dirty heap memory of this size, freed: calloc may hand it out again. */
static void dirty_heap(size_t bytes)
{
    unsigned char *d = malloc(bytes);

    if (d != NULL) {
        memset(d, 0xa5, bytes);
        free(d);
    }
}

int main(void)
{
    static const size_t      sizes[] = {SMALL_BYTES, LARGE_BYTES};
    compcoll_topo_mem_kind_t want_kind, kind, bkind;
    char                     placement[512], again[512], what[96];
    void                    *p, *bound;
    size_t                   s, bytes;
    int                      first_touch_freed = 0;
#ifdef HAVE_HWLOC
    machine_t                m;
    int                      subset;

    if (machine_load(&m) != 0) {
        /* the library would fall back; nothing here could judge it */
        tap_skip_all("hwloc cannot load this machine's topology");
    }
    subset = !hwloc_bitmap_iszero(m.mine) &&
             hwloc_bitmap_isincluded(m.mine, m.all) &&
             !hwloc_bitmap_isequal(m.mine, m.all);
    want_kind = (m.nnodes > 1 && subset && m.can_bind)
                    ? COMPCOLL_TOPO_MEM_BOUND
                    : COMPCOLL_TOPO_MEM_FIRST_TOUCH;
    diag("%d NUMA nodes (%s); this process runs on NUMA nodes %s; binding "
         "%s, locating pages %s; expected placement: %s", m.nnodes,
         list(m.all), list(m.mine), m.can_bind ? "works" : "fails",
         m.can_locate ? "works" : "fails", kind_name(want_kind));
#else
    want_kind = COMPCOLL_TOPO_MEM_FIRST_TOUCH;
#endif
    compcoll_log_level = COMPCOLL_LOG_INFO; /* the choice, in the test log */

    /* The rule, in words. */
    compcoll_topo_mem_placement(placement, sizeof(placement));
#ifdef HAVE_HWLOC
    if (want_kind == COMPCOLL_TOPO_MEM_BOUND) {
        const char *mine = list(m.mine);

        ok(strncmp(placement, "bound to NUMA nodes ", 20) == 0 &&
               strncmp(placement + 20, mine, strlen(mine)) == 0 &&
               placement[20 + strlen(mine)] == ' ',
           "placement: \"%s\", NUMA nodes %s", placement, mine);
    } else if (m.nnodes == 1) {
        ok(strcmp(placement, "first touch: one NUMA node") == 0,
           "placement on one NUMA node: \"%s\"", placement);
    } else {
        ok(strncmp(placement, "first touch: ", 13) == 0,
           "placement: \"%s\"", placement);
    }
#else
    ok(strcmp(placement, "first touch: built without hwloc") == 0,
       "placement without hwloc: \"%s\"", placement);
#endif

    /* Blocks as the registry gets them. */
    for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        bytes = sizes[s];
        dirty_heap(bytes);
        p = compcoll_topo_mem_alloc(bytes, &kind);
        snprintf(what, sizeof(what), "compcoll_topo_mem_alloc(%zu)", bytes);
        if (!ok(p != NULL, "%s: a block", what)) {
            continue;
        }
        ok(kind == want_kind, "%s: %s, expected %s", what, kind_name(kind),
           kind_name(want_kind));
        check_zero_writable(what, p, bytes);
#ifdef HAVE_HWLOC
        if (kind == COMPCOLL_TOPO_MEM_BOUND) {
            check_location(&m, what, p, bytes, kind, m.mine, 0);
        } else {
            /* one node: that node; more: some of the allowed ones */
            check_location(&m, what, p, bytes, kind, m.all, m.nnodes == 1);
        }
#else
        skip("%s: where the pages lie: built without hwloc", what);
#endif
        first_touch_freed |= kind == COMPCOLL_TOPO_MEM_FIRST_TOUCH;
        check_free(what, p, bytes, kind);
    }

    /* The bound path, wherever binding works: one node or several. */
    bytes = LARGE_BYTES;
    bound = compcoll_topo_mem_alloc_bound(bytes, &bkind);
    snprintf(what, sizeof(what), "compcoll_topo_mem_alloc_bound(%zu)", bytes);
    if (ok(bound != NULL, "%s: a block", what)) {
#ifdef HAVE_HWLOC
        ok(bkind == (m.can_bind ? COMPCOLL_TOPO_MEM_BOUND
                                : COMPCOLL_TOPO_MEM_FIRST_TOUCH),
           "%s: %s (binding %s here)", what, kind_name(bkind),
           m.can_bind ? "works" : "fails");
        check_zero_writable(what, bound, bytes);
        check_location(&m, what, bound, bytes, bkind,
                       bkind == COMPCOLL_TOPO_MEM_BOUND ? m.mine : m.all, 0);
#else
        ok(bkind == COMPCOLL_TOPO_MEM_FIRST_TOUCH,
           "%s: first touch without hwloc", what);
        check_zero_writable(what, bound, bytes);
#endif
    }

    /* A first-touch block is calloc's, even where the rule binds. */
    if (!first_touch_freed) {
        p = calloc(1, SMALL_BYTES);
        if (p != NULL) {
            check_free("a calloc'd block", p, SMALL_BYTES,
                       COMPCOLL_TOPO_MEM_FIRST_TOUCH);
        } else {
            skip("free of a first-touch block: no memory for one");
        }
    }

    /* After finalize: blocks made before still free; the choice is made
     * again, the same, with a topology loaded anew. */
    compcoll_topo_finalize();
    if (bound != NULL) {
        check_free("compcoll_topo_mem_alloc_bound block after finalize",
                   bound, bytes, bkind);
    }
    compcoll_topo_mem_placement(again, sizeof(again));
    ok(strcmp(again, placement) == 0,
       "placement after finalize: \"%s\", as before", again);
    p = compcoll_topo_mem_alloc(SMALL_BYTES, &kind);
    ok(p != NULL && kind == want_kind,
       "compcoll_topo_mem_alloc after finalize: %s", kind_name(kind));
    compcoll_topo_mem_free(p, SMALL_BYTES, kind);
    compcoll_topo_finalize();
#ifdef HAVE_HWLOC
    machine_free(&m);
#endif
    return tap_done();
}
