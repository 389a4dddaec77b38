#!/bin/sh
#
# tests/mpi/run-sparse.sh: COMPCOLL_METHOD=topk and COMPCOLL_METHOD=adacomp
# under mpiexec, against the oracle of sparse_check.c, over a covering set
# of configurations; TAP.
#
# Environment (set by tests/Makefile.am for the tap-driver):
#   MPIEXEC           mpiexec.mpich
#   TEST_LIBCOMPCOLL  absolute path of the built libcompcoll.so
#   TESTS_BUILDDIR    directory holding sparse_check (or holding it in its
#                     mpi/ subdirectory)
#   TEST_MPI_TIMEOUT  seconds per mpiexec run (default 120)
#
# sparse_check checks every output element bit for bit against a
# re-computation of both methods (every rank's memory simulated), that all
# ranks hold the same bits, conservation, and the stats JSON every case
# writes (call counts, elements sent and the exact bytes sent: they grow
# with P, unlike ScaleCom's).  The matrix is a covering set: both methods
# at P = 1, 2, 3, 4 on both transports; in place, interleaved tensors and a
# dup'ed communicator; exact/chunk/sample selection, fp16/bf16 wire and
# RATIO=1 for topk; explicit bin lengths (1, 7, 33, 64, 500) and auto on
# both sides of 65536 elements for adacomp; warm-up and ties for both;
# exact zero gradients (whole adacomp bins with max |G| = 0); ranks whose
# buffers are keyed apart (topk streams of different lengths during the
# sparsity ramp, adacomp's memories).  Rank order
# of the sum is only observable at P >= 3.
# One mpiexec run is one TAP line; a failing line is followed by the
# command and the tail of the job's output as TAP diagnostics.

mpi_name=sparse
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

# ranks | COMPCOLL_* settings (MIN_COUNT=64, RATIO=10 unless given; every
# case also gets STATS=<file>.json) | program options
cat >"$tmp/cases" <<'EOF'
1 | METHOD=topk TRANSPORT=ucx | --steps 6 --interleave
1 | METHOD=topk TRANSPORT=mpi SELECT=chunk WARMUP=1 | --steps 6 --inplace --dup
2 | METHOD=topk TRANSPORT=ucx | --steps 10 --interleave
2 | METHOD=topk TRANSPORT=mpi SELECT=chunk | --steps 8 --inplace --dup --zeros
2 | METHOD=topk TRANSPORT=ucx WIRE_TYPE=fp16 WARMUP=2 | --steps 8 --interleave
2 | METHOD=topk TRANSPORT=mpi WIRE_TYPE=bf16 | --steps 8 --ties --inplace
2 | METHOD=topk TRANSPORT=ucx SELECT=sample | --steps 8 --ties --dup
2 | METHOD=topk TRANSPORT=mpi RATIO=1 | --steps 4 --interleave
2 | METHOD=topk TRANSPORT=ucx RATIO=50 RAMP=6 WARMUP=1 | --steps 10 --interleave --dup
3 | METHOD=topk TRANSPORT=ucx SELECT=chunk WIRE_TYPE=bf16 | --steps 8 --interleave --dup
3 | METHOD=topk TRANSPORT=mpi WARMUP=1 RATIO=100 | --steps 5 --ties --inplace --count 20000
4 | METHOD=topk TRANSPORT=ucx | --steps 6 --interleave --inplace
4 | METHOD=topk TRANSPORT=mpi WIRE_TYPE=fp16 SELECT=chunk | --steps 6 --dup --ties
2 | METHOD=topk TRANSPORT=ucx KEY=address RATIO=20 RAMP=4 | --steps 6 --interleave --fresh-odd
3 | METHOD=topk TRANSPORT=mpi KEY=address RAMP=3 WIRE_TYPE=fp16 | --steps 5 --inplace --dup --fresh-odd
1 | METHOD=adacomp TRANSPORT=ucx | --steps 6 --interleave
1 | METHOD=adacomp TRANSPORT=mpi ADACOMP_BIN=7 WARMUP=1 | --steps 6 --inplace --dup
2 | METHOD=adacomp TRANSPORT=ucx | --steps 10 --interleave
2 | METHOD=adacomp TRANSPORT=mpi ADACOMP_BIN=64 | --steps 8 --inplace --dup --zeros
2 | METHOD=adacomp TRANSPORT=ucx ADACOMP_BIN=1 WARMUP=2 | --steps 8 --interleave --ties
2 | METHOD=adacomp TRANSPORT=mpi ADACOMP_BIN=auto | --steps 3 --count 65536 --count2 65535 --interleave
3 | METHOD=adacomp TRANSPORT=ucx ADACOMP_BIN=33 | --steps 8 --interleave --dup
3 | METHOD=adacomp TRANSPORT=mpi WARMUP=1 | --steps 8 --ties --inplace --zeros
4 | METHOD=adacomp TRANSPORT=ucx | --steps 6 --interleave --inplace --zeros
4 | METHOD=adacomp TRANSPORT=mpi ADACOMP_BIN=500 | --steps 6 --dup --ties
3 | METHOD=adacomp TRANSPORT=ucx | --steps 2 --count 70001 --inplace
2 | METHOD=adacomp TRANSPORT=mpi KEY=address | --steps 5 --interleave --fresh-odd
EOF

n=$(grep -c . "$tmp/cases")
echo "1..$n"

i=0
while IFS='|' read -r ranks settings options; do
    i=$((i + 1))
    case_env="COMPCOLL_STATS=$tmp/case$i.json"
    rm -f "$tmp/case$i.json"
    # shellcheck disable=SC2086 # the options are words
    run_case "$i" "$(trim "$ranks")" "$(trim "$settings")" sparse_check \
        $(trim "$options")
done <"$tmp/cases"

exit 0
