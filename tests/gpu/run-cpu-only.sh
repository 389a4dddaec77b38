#!/bin/sh
#
# tests/gpu/run-cpu-only.sh: a CPU-only job never loads CUDA or the GPU
# module (cpu_only_check.c), whatever the method and transport; TAP.  Runs
# on every machine and in every build.
. "${TESTS_SRCDIR:-.}/mpi-common.sh"

echo "1..6"
run_case 1 1 "TRANSPORT=mpi" cpu_only_check
run_case 2 2 "TRANSPORT=ucx" cpu_only_check
run_case 3 2 "TRANSPORT=mpi SELECT=sample" cpu_only_check
run_case 4 2 "TRANSPORT=ucx METHOD=dense" cpu_only_check
run_case 5 2 "TRANSPORT=mpi METHOD=topk" cpu_only_check
run_case 6 2 "ENABLE=n" cpu_only_check
exit 0
