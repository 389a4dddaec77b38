#!/bin/sh
#
# tests/mpi/run-nonfinite.sh: a NaN or an infinity in one rank's gradient
# reaches the output of its call or of the tensor's next one, on every rank
# alike, and no later output is non-finite (nonfinite_check), for every
# method, on the leader and off it, pipelined or not; TAP.
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT.

mpi_name=nonfinite mpi_timeout=60
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

cat >"$tmp/cases" <<'EOF2'
2 | | nonfinite_check --rank 0
2 | | nonfinite_check --rank 1
2 | | nonfinite_check --rank 1 --inf
2 | TRANSPORT=mpi | nonfinite_check --rank 0 --inf
3 | | nonfinite_check --rank 2
2 | BETA=0.5 | nonfinite_check --rank 0
2 | BETA=0.5 | nonfinite_check --rank 1 --inf
2 | SELECT=chunk | nonfinite_check --rank 1
2 | SELECT=sample | nonfinite_check --rank 0 --inf
2 | WARMUP=3 | nonfinite_check --rank 1 --step 3 --steps 7
2 | WIRE_TYPE=bf16 | nonfinite_check --rank 1 --inf
2 | | nonfinite_check --rank 1 --count 600000 --steps 5
2 | SELECT=chunk | nonfinite_check --rank 0 --count 600000 --steps 5 --inf
2 | METHOD=topk | nonfinite_check --rank 1
2 | METHOD=topk WIRE_TYPE=fp16 | nonfinite_check --rank 0 --inf
3 | METHOD=topk | nonfinite_check --rank 2
2 | METHOD=adacomp | nonfinite_check --rank 1
2 | METHOD=adacomp | nonfinite_check --rank 0 --inf
3 | METHOD=adacomp TRANSPORT=mpi | nonfinite_check --rank 1
2 | METHOD=dense | nonfinite_check --rank 1 --inf
EOF2
run_cases "$tmp/cases"
