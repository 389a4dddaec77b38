#!/bin/sh
#
# tests/mpi/run-scalecom.sh: ScaleCom all-reduce under mpiexec, against the
# oracle of scalecom_check.c, over a covering set of configurations; TAP.
#
# Environment (set by tests/Makefile.am for the tap-driver):
#   MPIEXEC          mpiexec.mpich
#   TEST_LIBCOMPCOLL     absolute path of the built libcompcoll.so
#   TESTS_BUILDDIR   directory holding scalecom_check and passthrough_check
#                    (or holding them in its mpi/ subdirectory)
#   TEST_MPI_TIMEOUT  seconds per mpiexec run (default 120)
#   TEST_SCALECOM_STRIDE  run every Nth case only (default 1: all; the
#                    sanitizer build's check-sanitizers sets 3)
#
# The full cross product of ranks x transports x features is too slow on a
# small machine (3-4 ranks on 2 cores), so the matrix below is a covering
# set: every feature (in-place, interleaved tensors, dup'ed and split
# communicators, exact/chunk/sample selection, warm-up, the sparsity ramp, fp16/bf16 wire,
# KEY=sequence with fresh buffers, KEY=auto with steps that begin with two
# tensors of one size and with ranks whose buffers differ (one reuses, one
# never does: the ranks agree on the cycle), METHOD=dense, ties, passthrough-sized
# calls, COMPCOLL_MAX_MEMORY below the tensor size, pipelined calls of
# 600000 elements and more: sample's planned pieces, down to ratio 1 where
# every piece's quota is all of it) runs at P=2 and at P=3
# or 4, on both transports, with beta 1 and 0.5.  The hierarchical cases
# make nodes of COMPCOLL_RANKS_PER_NODE ranks on this one host.  One mpiexec run is one
# TAP line; a failing line is followed by the command and the tail of the
# job's output as TAP diagnostics.

mpi_name=scalecom
case_stride=${TEST_SCALECOM_STRIDE:-1}
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

# ranks | COMPCOLL_* settings (MIN_COUNT=64, RATIO=10 unless given) | program and options
cat >"$tmp/cases" <<'EOF'
1 | TRANSPORT=ucx | scalecom_check --steps 8 --interleave
1 | TRANSPORT=mpi BETA=0.5 SELECT=chunk | scalecom_check --inplace --dup --split --small 10
2 | TRANSPORT=ucx | scalecom_check --steps 12
2 | TRANSPORT=mpi | scalecom_check --steps 12
2 | TRANSPORT=ucx BETA=0.5 | scalecom_check --inplace --interleave
2 | TRANSPORT=mpi BETA=0.5 SELECT=chunk RATIO=16 | scalecom_check --interleave --dup
2 | TRANSPORT=ucx SELECT=chunk RATIO=16 | scalecom_check --inplace --dup --third
2 | TRANSPORT=mpi SELECT=sample | scalecom_check --interleave --inplace
2 | TRANSPORT=ucx SELECT=sample BETA=0.5 | scalecom_check --interleave --dup
2 | TRANSPORT=ucx WARMUP=3 | scalecom_check --interleave --dup
2 | TRANSPORT=mpi WARMUP=2 BETA=0.5 | scalecom_check --interleave --inplace
2 | TRANSPORT=ucx WIRE_TYPE=fp16 | scalecom_check --interleave
2 | TRANSPORT=mpi WIRE_TYPE=bf16 BETA=0.5 | scalecom_check --interleave --inplace
2 | TRANSPORT=mpi WIRE_TYPE=fp16 BETA=0.5 WARMUP=1 | scalecom_check --steps 8
2 | TRANSPORT=ucx KEY=sequence | scalecom_check --third --fresh --dup
2 | TRANSPORT=mpi KEY=sequence BETA=0.5 WARMUP=1 | scalecom_check --third --fresh --inplace
2 | TRANSPORT=mpi KEY=address WARMUP=1 | scalecom_check --fresh --interleave
2 | TRANSPORT=mpi | scalecom_check --fresh-odd --interleave --third --inplace --dup
2 | TRANSPORT=ucx | scalecom_check --count 1000 --count2 1000 --interleave --steps 6
2 | TRANSPORT=mpi | scalecom_check --count 1000 --count2 1000 --interleave --realloc --steps 6
2 | TRANSPORT=ucx METHOD=dense | scalecom_check --interleave --inplace
2 | TRANSPORT=mpi METHOD=dense | scalecom_check --dup --small 10
3 | TRANSPORT=ucx METHOD=dense WIRE_TYPE=bf16 | scalecom_check --steps 4 --inplace
2 | TRANSPORT=ucx | scalecom_check --ties --interleave
2 | TRANSPORT=mpi SELECT=chunk BETA=0.5 | scalecom_check --ties --interleave
2 | TRANSPORT=ucx MIN_COUNT=1000 | scalecom_check --count 1000 --small 999 --split --interleave
2 | TRANSPORT=mpi RATIO=1 | scalecom_check --steps 6 --redup
2 | TRANSPORT=ucx MAX_MEMORY=1k | scalecom_check --interleave --dup --no-memory
3 | TRANSPORT=ucx | scalecom_check --steps 8 --interleave --inplace
3 | TRANSPORT=mpi BETA=0.5 SELECT=chunk | scalecom_check --steps 8 --dup --redup
3 | TRANSPORT=ucx SELECT=sample BETA=0.5 WARMUP=2 | scalecom_check --steps 8 --interleave
3 | TRANSPORT=mpi WIRE_TYPE=fp16 | scalecom_check --steps 8 --interleave
3 | TRANSPORT=ucx WIRE_TYPE=bf16 BETA=0.5 | scalecom_check --steps 8
3 | TRANSPORT=ucx KEY=sequence | scalecom_check --steps 8 --third --fresh
3 | TRANSPORT=ucx SELECT=sample | scalecom_check --steps 6 --fresh-odd --split
3 | TRANSPORT=mpi METHOD=dense | scalecom_check --steps 6 --interleave
3 | TRANSPORT=ucx | scalecom_check --steps 8 --split --interleave --small 10
3 | TRANSPORT=mpi RATIO=5000 SELECT=chunk | scalecom_check --steps 8 --ties --dup
3 | TRANSPORT=mpi MAX_MEMORY=2k | scalecom_check --steps 6 --inplace --no-memory
4 | TRANSPORT=ucx | scalecom_check --steps 6 --interleave --dup
4 | TRANSPORT=mpi BETA=0.5 SELECT=chunk WARMUP=1 | scalecom_check --steps 6 --inplace --split
4 | TRANSPORT=ucx WIRE_TYPE=bf16 SELECT=sample | scalecom_check --steps 6 --ties
4 | TRANSPORT=mpi WIRE_TYPE=fp16 KEY=sequence | scalecom_check --steps 6 --third --fresh
4 | TRANSPORT=ucx METHOD=dense | scalecom_check --steps 4 --interleave
2 | TRANSPORT=ucx WARMUP=1 | scalecom_check --steps 6 --fresh-odd --interleave
2 | TRANSPORT=ucx SELECT=chunk | scalecom_check --count 600000 --steps 6 --interleave --inplace
2 | TRANSPORT=mpi SELECT=chunk RATIO=300 | scalecom_check --count 600000 --steps 4 --interleave --dup
3 | TRANSPORT=ucx SELECT=chunk RATIO=300 | scalecom_check --count 600000 --steps 6 --interleave
3 | TRANSPORT=mpi SELECT=chunk | scalecom_check --count 600000 --steps 6 --inplace --dup --ties
4 | TRANSPORT=ucx SELECT=chunk WARMUP=1 | scalecom_check --count 600000 --steps 4 --interleave --inplace
4 | TRANSPORT=mpi SELECT=chunk | scalecom_check --count 600000 --steps 4 --interleave
2 | TRANSPORT=ucx | scalecom_check --count 600000 --steps 6 --interleave --inplace
2 | TRANSPORT=mpi SELECT=sample RATIO=300 | scalecom_check --count 600000 --steps 4 --interleave --skewed
3 | TRANSPORT=ucx SELECT=sample | scalecom_check --count 600000 --steps 6 --interleave --dup --skewed
3 | TRANSPORT=mpi | scalecom_check --count 600000 --steps 4 --inplace --ties
4 | TRANSPORT=ucx RATIO=300 | scalecom_check --count 600000 --steps 4 --interleave --skewed
4 | TRANSPORT=mpi SELECT=sample WARMUP=1 | scalecom_check --count 600000 --steps 4 --interleave --inplace
2 | TRANSPORT=ucx WARMUP=1 | scalecom_check --count 600000 --steps 6 --fresh-odd --interleave
2 | TRANSPORT=ucx WIRE_TYPE=fp16 | scalecom_check --count 600000 --steps 6 --interleave --inplace
3 | TRANSPORT=mpi WIRE_TYPE=bf16 SELECT=chunk | scalecom_check --count 600000 --steps 4 --interleave --skewed
4 | TRANSPORT=ucx WIRE_TYPE=fp16 SELECT=sample | scalecom_check --count 600000 --steps 4 --dup
3 | TRANSPORT=mpi WARMUP=2 SELECT=chunk | scalecom_check --count 600000 --steps 6 --fresh-odd --inplace
3 | TRANSPORT=mpi WARMUP=2 SELECT=sample | scalecom_check --steps 6 --fresh-odd --inplace
2 | TRANSPORT=ucx RATIO=50 RAMP=6 WARMUP=1 | scalecom_check --steps 10 --interleave
3 | TRANSPORT=mpi RATIO=40 RAMP=4 BETA=0.5 SELECT=sample | scalecom_check --count 600000 --steps 6 --inplace
2 | TRANSPORT=ucx RATIO=3 RAMP=3 WIRE_TYPE=bf16 | scalecom_check --steps 6 --dup
3 | TRANSPORT=mpi RATIO=20 RAMP=4 KEY=address | scalecom_check --steps 6 --fresh-odd --interleave
2 | TRANSPORT=ucx RATIO=20 RAMP=4 KEY=address | scalecom_check --count 600000 --steps 6 --fresh-odd
2 | TRANSPORT=ucx RATIO=1 | scalecom_check --count 600000 --steps 3
4 | TRANSPORT=ucx RATIO=50 | scalecom_check --count 1500001 --steps 4 --interleave --ties
4 | HIERARCHICAL=y RANKS_PER_NODE=2 TRANSPORT=ucx | scalecom_check --steps 6 --interleave --dup
4 | RANKS_PER_NODE=2 TRANSPORT=mpi BETA=0.5 SELECT=chunk | scalecom_check --steps 6 --inplace --split
3 | HIERARCHICAL=y RANKS_PER_NODE=2 SELECT=sample WARMUP=1 | scalecom_check --steps 6 --interleave --redup
4 | RANKS_PER_NODE=2 KEY=sequence WIRE_TYPE=fp16 | scalecom_check --steps 6 --third --fresh
4 | RANKS_PER_NODE=2 TRANSPORT=ucx | scalecom_check --steps 6 --ties --small 10
2 | HIERARCHICAL=y TRANSPORT=ucx | scalecom_check --steps 6 --inplace
3 | HIERARCHICAL=y RANKS_PER_NODE=1 | scalecom_check --steps 4 --interleave
4 | RANKS_PER_NODE=2 METHOD=dense | scalecom_check --steps 4 --interleave
4 | RANKS_PER_NODE=2 MAX_MEMORY=1k | scalecom_check --steps 4 --no-memory
4 | HIERARCHICAL=y RANKS_PER_NODE=2 SELECT=chunk | scalecom_check --count 600000 --steps 4 --interleave
1 | TRANSPORT=ucx | passthrough_check
2 | TRANSPORT=mpi | passthrough_check
3 | TRANSPORT=ucx | passthrough_check
4 | TRANSPORT=mpi | passthrough_check
EOF

run_cases "$tmp/cases"

exit 0
