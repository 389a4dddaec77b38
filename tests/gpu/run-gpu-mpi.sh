#!/bin/sh
#
# tests/gpu/run-gpu-mpi.sh: ScaleCom with device buffers under mpiexec.
# scalecom_gpu_check is tests/mpi/scalecom_check.c (its independent oracle)
# with every MPI_Allreduce buffer in device memory; memtype_gpu_check
# compares host, device, mixed and managed placements bit for bit and the
# staged passthrough with PMPI.  Skips (exit 77) without a CUDA device.
. "${TESTS_SRCDIR:-.}/mpi-common.sh"

if ! "$builddir/gpu_probe" >"$tmp/probe" 2>&1; then
    echo "1..0 # SKIP no CUDA device ($(cat "$tmp/probe"))"
    exit 77
fi

# ranks | COMPCOLL_* settings (MIN_COUNT=64, RATIO=10 unless given) | program and options
cat >"$tmp/cases" <<'CASES'
1 | TRANSPORT=ucx | scalecom_gpu_check --steps 8 --interleave
2 | TRANSPORT=ucx | scalecom_gpu_check --steps 12
2 | TRANSPORT=mpi | scalecom_gpu_check --steps 12 --inplace
2 | TRANSPORT=ucx BETA=0.5 | scalecom_gpu_check --inplace --interleave
2 | TRANSPORT=ucx SELECT=chunk RATIO=16 | scalecom_gpu_check --interleave --dup
2 | TRANSPORT=mpi SELECT=chunk BETA=0.5 | scalecom_gpu_check --inplace --third --interleave
2 | TRANSPORT=ucx SELECT=sample | scalecom_gpu_check --count 100000 --steps 6 --interleave
2 | TRANSPORT=mpi SELECT=sample BETA=0.5 | scalecom_gpu_check --count 70000 --steps 6 --inplace
2 | TRANSPORT=ucx WARMUP=3 | scalecom_gpu_check --interleave --dup
2 | TRANSPORT=ucx WIRE_TYPE=fp16 | scalecom_gpu_check --interleave
2 | TRANSPORT=mpi WIRE_TYPE=bf16 BETA=0.5 | scalecom_gpu_check --interleave --inplace
2 | TRANSPORT=ucx KEY=sequence | scalecom_gpu_check --third --fresh --dup
2 | TRANSPORT=mpi KEY=address WARMUP=1 | scalecom_gpu_check --fresh --interleave
2 | TRANSPORT=ucx METHOD=dense | scalecom_gpu_check --interleave --inplace
2 | TRANSPORT=ucx | scalecom_gpu_check --ties --interleave
2 | TRANSPORT=mpi SELECT=chunk | scalecom_gpu_check --ties --interleave
2 | TRANSPORT=ucx MIN_COUNT=1000 | scalecom_gpu_check --count 1000 --small 999 --split --interleave
2 | TRANSPORT=ucx MAX_MEMORY=1k | scalecom_gpu_check --interleave --dup --no-memory
2 | TRANSPORT=mpi RATIO=1 | scalecom_gpu_check --steps 6 --redup
3 | TRANSPORT=ucx | scalecom_gpu_check --steps 8 --interleave --inplace
3 | TRANSPORT=mpi SELECT=chunk WIRE_TYPE=fp16 | scalecom_gpu_check --steps 8 --dup
2 | TRANSPORT=ucx | memtype_gpu_check
2 | TRANSPORT=mpi SELECT=chunk | memtype_gpu_check
2 | TRANSPORT=ucx SELECT=sample WIRE_TYPE=bf16 BETA=0.5 | memtype_gpu_check
3 | TRANSPORT=mpi WARMUP=1 | memtype_gpu_check
CASES

run_cases "$tmp/cases"
exit 0
