#!/bin/sh
#
# tests/mpi/run-cycle.sh: COMPCOLL_KEY=auto learns one cycle of calls on
# every rank although the ranks' allocators hand their buffers out
# differently (cycle_check: one rank's buffers all new in a step, another's
# swapped, at 2 ranks; a third that reuses them, at 3); rank 0's memories
# in the statistics JSON show the cycle; TAP.
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT.

mpi_name=cycle mpi_timeout=60
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

cat >"$tmp/cases" <<EOF2
2 | STATS=$tmp/1.json | cycle_check
2 | STATS=$tmp/2.json TRANSPORT=mpi SELECT=exact | cycle_check --steps 8
3 | STATS=$tmp/3.json | cycle_check --steps 4
2 | STATS=$tmp/4.json HIERARCHICAL=y RANKS_PER_NODE=1 | cycle_check --steps 5
EOF2
run_cases "$tmp/cases"
