#!/bin/sh
#
# tests/mpi/run-momentum.sh: COMPCOLL_MOMENTUM (scalecom's momentum
# correction) against the oracle of scalecom_check.c, which keeps every
# rank's velocity and expects S - mu S' from each call; TAP.
#
# The oracle cases cover the transports, warm-up's dense calls, the ramp,
# pipelined calls, hierarchical calls, buffers re-taken every step (KEY=auto
# and sequence), MPI_IN_PLACE, nonblocking calls, bf16 values and calls
# that fail on every rank (MPI_ERRORS_RETURN; one rank's check of the
# header, its buffers, or its tensor's state, when it takes part with a
# stand-in): the momentum state starts again on every rank, and the later
# calls must match.  A NaN or an
# infinity reaches the output as a dense sum's would and does not linger
# (nonfinite_check).  Then two ways the correction cannot be made, each of
# which must end the job, non-zero, in bounded time, saying why: ranks whose
# tensors' histories differ (COMPCOLL_KEY=address with fresh buffers on the
# odd ranks, or two tensors of one count whose buffers the odd ranks swap
# every step, which without the correction the oracle case above passes),
# and no room for the momentum state (COMPCOLL_MAX_MEMORY).
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT.

mpi_name=momentum mpi_timeout=60
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

cat >"$tmp/cases" <<'CASES'
2 | MOMENTUM=0.9 | scalecom_check --steps 8 --interleave --realloc
3 | MOMENTUM=0.9 TRANSPORT=mpi | scalecom_check --steps 6 --interleave --inplace
3 | MOMENTUM=0.5 WARMUP=2 | scalecom_check --steps 6 --inplace --dup
2 | MOMENTUM=0.9 RAMP=3 | scalecom_check --steps 6 --third
2 | MOMENTUM=0.9 RATIO=100 | scalecom_check --steps 4 --count 600000 --count2 700000
4 | MOMENTUM=0.9 HIERARCHICAL=y RANKS_PER_NODE=2 | scalecom_check --steps 6 --interleave
2 | MOMENTUM=0.9 KEY=sequence | scalecom_check --steps 6 --fresh --interleave
2 | MOMENTUM=0.9 WIRE_TYPE=bf16 | scalecom_check --steps 6 --interleave --api nb
2 | MOMENTUM=0.99 SELECT=chunk | scalecom_check --steps 6 --interleave --api large
2 | MOMENTUM=0.9 FAULT=decode:0:3 | scalecom_check --steps 5 --interleave --fail-call 3
3 | MOMENTUM=0.9 FAULT=alloc:2:3 TRANSPORT=mpi | scalecom_check --steps 5 --interleave --fail-call 3
2 | MOMENTUM=0.9 FAULT=tensor:1:1 | scalecom_check --steps 5 --interleave --fail-call 1
2 | MOMENTUM=0.9 | nonfinite_check --count 4096
2 | MOMENTUM=0.9 | nonfinite_check --count 4096 --inf --rank 0 --step 3
2 | KEY=address | scalecom_check --steps 5 --interleave --count 1000 --count2 1000 --swap-odd
CASES

# must_end P ENV MESSAGE PROGRAM-ARGUMENTS...: the job ends non-zero, in
# bounded time, and its output has MESSAGE
must_end() {
    np=$1 extra=$2 msg=$3
    shift 3
    job_ends "$np" "COMPCOLL_MOMENTUM=0.9 $extra" scalecom_check "$@"
    [ -n "$why" ] || grep -q -F -- "$msg" "$tmp/log" || why="no message: $msg"
    [ -z "$why" ]
    tap $? "P=$np MOMENTUM=0.9 $extra $*: the job ends (exit $rc, ${secs}s)${why:+: $why}" "$tmp/log"
}

run_cases "$tmp/cases" 4
tap_i=$n_case
must_end 2 "COMPCOLL_KEY=address" \
    "the leader's momentum state (COMPCOLL_MOMENTUM) of this tensor" \
    --steps 4 --fresh-odd
must_end 3 "COMPCOLL_KEY=address COMPCOLL_TRANSPORT=mpi" \
    "the leader's momentum state (COMPCOLL_MOMENTUM) of this tensor" \
    --steps 4 --fresh-odd --interleave
must_end 2 "COMPCOLL_KEY=address" \
    "the leader's momentum state (COMPCOLL_MOMENTUM) of this tensor" \
    --steps 5 --interleave --count 1000 --count2 1000 --swap-odd
must_end 2 "COMPCOLL_MAX_MEMORY=6000" \
    "no memory for the momentum state (COMPCOLL_MOMENTUM)" --steps 4
