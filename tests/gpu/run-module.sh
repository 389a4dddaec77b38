#!/bin/sh
#
# tests/gpu/run-module.sh: the GPU module is loaded when, and only when, a
# device buffer appears; with a stand-in driver (stub/libcuda.so.1), so it
# runs without a GPU (module_check.c); TAP.  Built with CUDA only.
. "${TESTS_SRCDIR:-.}/mpi-common.sh"

stub=$builddir/stub/libcuda.so.1
if [ ! -r "$stub" ]; then
    echo "1..0 # SKIP $stub not built"
    exit 77
fi
echo "1..3"
run_case 1 1 "TRANSPORT=mpi" module_check "$stub"
run_case 2 2 "TRANSPORT=ucx" module_check "$stub"
run_case 3 2 "TRANSPORT=mpi SELECT=chunk" module_check "$stub"
exit 0
