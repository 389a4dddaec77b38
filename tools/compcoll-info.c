/*
 * compcoll-info: what this build of libcompcoll has and how it is set.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_UCX
#include <ucp/api/ucp.h>
#endif

#include "compcoll_config.h"
#include "compcoll_topo.h"

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: compcoll-info [-c] [-v] [-m] [-t] [-h]\n"
            "  -c  every COMPCOLL_* variable: its value in this environment,\n"
            "      the values it accepts, its default and what it does\n"
            "  -v  version and what this build has (MPI, UCX, CUDA, hwloc)\n"
            "  -m  the ENVIRONMENT section of libcompcoll(7), in roff\n"
            "  -t  this node's topology as the library sees it, and where\n"
            "      a process bound as this one would get its\n"
            "      error-feedback memory\n"
            "  -h  this help\n"
            "With no option, -v.\n");
}

static void print_version(void)
{
    printf("libcompcoll %s\n", PACKAGE_VERSION);
    printf("  MPI:          %s\n", COMPCOLL_BUILD_MPI);
#ifdef HAVE_UCX
    printf("  UCX:          yes (built with %s, running %s)\n",
           COMPCOLL_BUILD_UCX, ucp_get_version_string());
#else
    printf("  UCX:          no (the mpi transport only)\n");
#endif
#ifdef HAVE_CUDA
    printf("  CUDA:         yes (%s)\n", COMPCOLL_BUILD_CUDA);
#else
    printf("  CUDA:         no (no kernel module: device buffers are staged "
           "through host memory)\n");
#endif
#ifdef HAVE_HWLOC
    printf("  hwloc:        yes (%s)\n", COMPCOLL_BUILD_HWLOC);
#else
    printf("  hwloc:        no\n");
#endif
    printf("  methods:      scalecom, adacomp, topk, dense, none\n");
    printf("  selection:    exact, chunk, sample\n");
    printf("  wire types:   fp32, fp16, bf16\n");
}

static void print_topology(void)
{
    char buf[1024];

    compcoll_topo_describe(buf, sizeof(buf));
    printf("topology:       %s\n", buf);
    compcoll_topo_mem_placement(buf, sizeof(buf));
    printf("memory:         %s\n", buf);
    compcoll_topo_finalize();
}

int main(int argc, char **argv)
{
    int opt, did = 0;

    while ((opt = getopt(argc, argv, "cvmth")) != -1) {
        switch (opt) {
        case 'c':
            compcoll_cfg_print_table(stdout, environ);
            did = 1;
            break;
        case 'v':
            print_version();
            did = 1;
            break;
        case 'm':
            compcoll_cfg_print_man(stdout);
            did = 1;
            break;
        case 't':
            print_topology();
            did = 1;
            break;
        case 'h':
            usage(stdout);
            return EXIT_SUCCESS;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "compcoll-info: unexpected argument '%s'\n",
                argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!did) {
        print_version();
    }
    return EXIT_SUCCESS;
}
