/*
 * libcompcoll: the node's topology, in words, for the log (hwloc).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "compcoll_topo.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef HAVE_HWLOC
#include <hwloc.h>

void compcoll_topo_describe(char *buf, size_t len)
{
    hwloc_topology_t topo;
    hwloc_bitmap_t   cpus = NULL, nodes = NULL;
    char            *cpu_list = NULL, *node_list = NULL;

    if (hwloc_topology_init(&topo) != 0) {
        snprintf(buf, len, "topology unknown (hwloc_topology_init failed)");
        return;
    }
    /* cores and memory only: no PCI or GPU discovery */
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (hwloc_topology_load(topo) != 0) {
        snprintf(buf, len, "topology unknown (hwloc_topology_load failed)");
        hwloc_topology_destroy(topo);
        return;
    }
    cpus  = hwloc_bitmap_alloc();
    nodes = hwloc_bitmap_alloc();
    if (cpus != NULL && nodes != NULL &&
        hwloc_get_cpubind(topo, cpus, HWLOC_CPUBIND_PROCESS) == 0) {
        hwloc_cpuset_to_nodeset(topo, cpus, nodes);
        hwloc_bitmap_list_asprintf(&cpu_list, cpus);
        hwloc_bitmap_list_asprintf(&node_list, nodes);
    }
    snprintf(buf, len,
             "%d packages, %d cores, %d PUs, %d NUMA nodes; this rank runs "
             "on PUs %s (NUMA nodes %s)",
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU),
             hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE),
             cpu_list != NULL ? cpu_list : "?",
             node_list != NULL ? node_list : "?");
    free(cpu_list);
    free(node_list);
    hwloc_bitmap_free(cpus);
    hwloc_bitmap_free(nodes);
    hwloc_topology_destroy(topo);
}

#else

void compcoll_topo_describe(char *buf, size_t len)
{
    snprintf(buf, len, "topology unknown (built without hwloc)");
}

#endif
