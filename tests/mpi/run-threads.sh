#!/bin/sh
#
# tests/mpi/run-threads.sh: MPI_THREAD_MULTIPLE and nonblocking calls under
# mpiexec (threads_check.c: every output equals the same calls made by one
# thread, blocking, on a fresh communicator, and is compressed); TAP.  A
# deadlock is a timeout, reported as a failure.
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT
# (see tests/mpi/common.sh).

mpi_name=threads
mpi_timeout=90
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

# ranks | COMPCOLL_* settings (MIN_COUNT=64, RATIO=10 unless given) | program and options
cat >"$tmp/cases" <<'CASES'
2 | TRANSPORT=ucx | threads_check --mode dup --threads 2
2 | TRANSPORT=mpi | threads_check --mode dup --threads 2
2 | TRANSPORT=ucx | threads_check --mode dup --threads 4 --steps 3
2 | TRANSPORT=mpi | threads_check --mode dup --threads 4 --steps 3
3 | TRANSPORT=ucx SELECT=sample | threads_check --mode dup --threads 2 --steps 2
2 | TRANSPORT=ucx | threads_check --mode bg
2 | TRANSPORT=mpi | threads_check --mode bg
2 | TRANSPORT=ucx | threads_check --mode nb --steps 6
2 | TRANSPORT=mpi | threads_check --mode nb --steps 6
3 | TRANSPORT=ucx BETA=0.5 | threads_check --mode nb --steps 3
2 | TRANSPORT=ucx | threads_check --mode nb --steps 3 --release disconnect --disconnects 2
2 | TRANSPORT=mpi | threads_check --mode dup --threads 2 --release disconnect --disconnects 3
4 | TRANSPORT=mpi HIERARCHICAL=y RANKS_PER_NODE=2 | threads_check --mode dup --threads 2 --steps 2 --release disconnect --disconnects 3,6
CASES
run_cases "$tmp/cases"
