/*
 * libcompcoll: the node's topology, in words, for the log.
 */
#ifndef COMPCOLL_TOPO_H
#define COMPCOLL_TOPO_H

#include <stddef.h>

/* Packages, cores, NUMA nodes, and where this process may run (hwloc;
 * loads the topology, so callers check the log level first). */
void compcoll_topo_describe(char *buf, size_t len);

#endif
