#!/bin/sh
#
# tests/mpi/run-faults.sh: a call that fails on one rank fails on every
# rank, in bounded time, and the next calls are right; TAP.
#
# COMPCOLL_FAULT (a test aid, libcompcoll(7)) makes one point of call 3 of
# each communicator fail on one rank: its buffers (alloc), its check of the
# leader's header (validate) or index list (decode), the leader's selection
# (kernel), or a transport operation (transport); or the state of a tensor
# met in call 1, while COMPCOLL_KEY=auto learns the cycle (tensor).  A
# learning window that cannot note a call (window) fails nothing: the ranks
# learn the cycle anew from that call, and every output must still match
# the oracle.  A failed MPI step among the ranks of a node in a
# hierarchical call (node: their sum; result: the leader's broadcast of the
# result), or of the ranks' agreement on a call's outcome (agree), ends the
# job, whatever the error handler.  With
# MPI_ERRORS_RETURN (scalecom_check and, for adacomp and topk,
# sparse_check: --fail-call 3 or 1) every rank must get an error of one class
# within 10 s, and every later call must match the oracle, which clears the
# failed tensor's memory (and, after a transport failure, expects the
# communicator's calls to pass through to MPI; broken_check: a nonblocking
# call then passes through beside the program's own collectives on that
# communicator).  With the default handler
# the job must end, non-zero, without hanging.  Call 3's leader is rank 1 of
# 2 and rank 0 of 3.
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT.

mpi_name=faults mpi_timeout=60
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

f="scalecom_check --steps 5 --interleave --fail-call 3"
sp="sparse_check --steps 5 --interleave --fail-call 3"
big="scalecom_check --steps 5 --count 600000 --count2 700000 --fail-call 3"
cat >"$tmp/cases" <<EOF2
2 | FAULT=alloc:0:3 | $f
2 | FAULT=alloc:1:3 | $f
2 | FAULT=validate:0:3 | $f
2 | FAULT=decode:0:3 | $f
2 | FAULT=kernel:1:3 | $f
2 | FAULT=transport:0:3 | $f --fail-broken
2 | FAULT=transport:1:3 | $f --fail-broken
2 | TRANSPORT=mpi FAULT=alloc:0:3 | $f
2 | TRANSPORT=mpi FAULT=alloc:1:3 | $f
2 | TRANSPORT=mpi FAULT=validate:0:3 | $f
2 | TRANSPORT=mpi FAULT=decode:0:3 | $f
2 | TRANSPORT=mpi FAULT=kernel:1:3 | $f
2 | TRANSPORT=mpi FAULT=transport:0:3 | $f --fail-broken
3 | FAULT=alloc:2:3 | $f
3 | FAULT=validate:1:3 | $f
3 | FAULT=decode:2:3 | $f
3 | FAULT=kernel:0:3 | $f
3 | TRANSPORT=mpi FAULT=transport:1:3 | $f --fail-broken
2 | FAULT=decode:0:3 | $f --dup
2 | FAULT=decode:0:3 | $f --api nb
2 | FAULT=alloc:1:3 TRANSPORT=mpi | $f --api nb_c
2 | FAULT=kernel:1:3 | $f --api large
2 | FAULT=decode:0:3 BETA=0.5 | $f
2 | FAULT=decode:0:3 WIRE_TYPE=bf16 | $f
2 | FAULT=transport:0:3 WIRE_TYPE=fp16 | $f --fail-broken
2 | FAULT=alloc:0:3 WARMUP=2 | $f
2 | FAULT=alloc:1:3 | $big
2 | FAULT=decode:0:3 | $big
2 | FAULT=kernel:1:3 | $big
3 | FAULT=validate:2:3 | $big
2 | FAULT=transport:0:3 | $big --fail-broken
2 | FAULT=decode:0:3 SELECT=chunk | $big
2 | FAULT=tensor:1:1 | scalecom_check --steps 5 --interleave --fail-call 1
2 | FAULT=window:1:1 | scalecom_check --steps 5 --interleave --third
3 | FAULT=window:0:2 TRANSPORT=mpi | scalecom_check --steps 4 --interleave --fresh-odd
3 | FAULT=window:2:3 | scalecom_check --steps 4 --interleave --third --fresh-odd
3 | FAULT=tensor:1:1 TRANSPORT=mpi | scalecom_check --steps 4 --interleave --third --fresh-odd --fail-call 1
2 | FAULT=alloc:0:3 SELECT=chunk | $big
2 | FAULT=transport:1:3 SELECT=chunk | $big --fail-broken
2 | METHOD=dense FAULT=transport:0:3 | $f --fail-broken
4 | HIERARCHICAL=y RANKS_PER_NODE=2 FAULT=alloc:2:3 | $f
4 | HIERARCHICAL=y RANKS_PER_NODE=2 FAULT=validate:0:3 TRANSPORT=mpi | $f
2 | FAULT=transport:0:0 MIN_COUNT=1000 | broken_check
2 | FAULT=transport:1:0 MIN_COUNT=1000 TRANSPORT=mpi | broken_check
2 | METHOD=topk FAULT=alloc:0:3 | $sp
2 | METHOD=topk FAULT=validate:1:3 | $sp
2 | METHOD=topk FAULT=decode:0:3 | $sp
2 | METHOD=topk FAULT=kernel:1:3 | $sp
2 | METHOD=topk FAULT=transport:0:3 | $sp --fail-broken
2 | METHOD=topk WIRE_TYPE=bf16 FAULT=decode:1:3 | $sp
3 | METHOD=topk TRANSPORT=mpi FAULT=alloc:2:3 | $sp
2 | METHOD=adacomp FAULT=alloc:1:3 | $sp
2 | METHOD=adacomp FAULT=validate:0:3 | $sp
2 | METHOD=adacomp FAULT=decode:1:3 | $sp
2 | METHOD=adacomp FAULT=kernel:0:3 | $sp
2 | METHOD=adacomp TRANSPORT=mpi FAULT=transport:1:3 | $sp --fail-broken
3 | METHOD=adacomp FAULT=kernel:2:3 | $sp
EOF2

# The job must end, non-zero, in bounded time, with the fault's message:
# under the default error handler for any fault; under MPI_ERRORS_RETURN
# too for a failed MPI step among a node's ranks (node, result) or a failed
# agreement on a call's outcome (agree), which leave a rank unable to tell
# what the others saw.
# fatal_case P ENV FAULT PROGRAM-ARGUMENTS...
fatal_case() {
    np=$1 extra=$2 fault=$3
    shift 3
    job_ends "$np" "COMPCOLL_FAULT=$fault $extra" scalecom_check "$@"
    [ -n "$why" ] || grep -q "COMPCOLL_FAULT: ${fault%%:*} fails" "$tmp/log" ||
        why="no COMPCOLL_FAULT message"
    case $fault:$why in
    node:*: | result:*: | agree:*:) grep -q "failed in MPI; this rank cannot go on in step.*ending the job" \
        "$tmp/log" || why="the library did not say it ends the job" ;;
    esac
    [ -z "$why" ]
    tap $? "P=$np ${extra:+$extra }FAULT=$fault $*: the job ends (exit $rc, ${secs}s)${why:+: $why}" "$tmp/log"
}

run_cases "$tmp/cases" 12
tap_i=$n_case
for fault in alloc:0:3 validate:0:3 kernel:1:3 transport:0:3; do
    fatal_case 2 "" "$fault" --steps 5 --interleave
done
hier="COMPCOLL_HIERARCHICAL=y COMPCOLL_RANKS_PER_NODE=2"
fatal_case 4 "$hier" node:0:3 --steps 5 --interleave
fatal_case 4 "$hier" node:3:3 --steps 5 --interleave
fatal_case 4 "$hier" node:2:3 --steps 5 --interleave --fail-call 3
fatal_case 4 "$hier COMPCOLL_TRANSPORT=mpi" node:1:3 --steps 5 --interleave --fail-call 3
fatal_case 4 "$hier" result:1:3 --steps 5 --interleave
fatal_case 4 "$hier COMPCOLL_TRANSPORT=mpi" result:2:3 --steps 5 --interleave --fail-call 3
fatal_case 2 "" agree:1:3 --steps 5 --interleave --fail-call 3
fatal_case 3 "COMPCOLL_TRANSPORT=mpi" agree:0:2 --steps 5 --interleave
