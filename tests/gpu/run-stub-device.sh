#!/bin/sh
#
# tests/gpu/run-stub-device.sh: the library's device path on a machine
# without a GPU.  scalecom_stub_check is scalecom_gpu_check (the oracle of
# tests/mpi/scalecom_check.c, every MPI_Allreduce buffer in "device"
# memory) with its buffers in an arena that the stand-in driver reports as
# device memory; the library, copied beside the stand-in module
# (stub_module.c: the host kernels on host memory), runs its device
# protocol, staging and device error-feedback memory exactly as it does on
# a GPU, and the oracle checks every result (40 steps of fresh buffers by
# address: memories retired after 64 calls, and new tensors that must not
# find the retired ones' device memory).  threads_stub_check is
# tests/mpi/threads_check.c with its buffers in that arena: device calls
# on several communicators from several threads at once, a background
# thread's, and nonblocking ones, against a one-thread replay.  TAP.
. "${TESTS_SRCDIR:-.}/mpi-common.sh"

stub=$builddir/stub/libcuda.so.1
module=$builddir/stub/module/libcompcoll_cuda.so
if [ ! -r "$stub" ] || [ ! -r "$module" ]; then
    echo "1..0 # SKIP the stand-in driver or module is not built"
    exit 77
fi
mkdir -p "$tmp/dev/libcompcoll"
cp "$TEST_LIBCOMPCOLL" "$tmp/dev/libcompcoll.so"
cp "$module" "$tmp/dev/libcompcoll/libcompcoll_cuda.so"
lib=$(echo "$lib" | sed "s|$TEST_LIBCOMPCOLL|$tmp/dev/libcompcoll.so|")
case_env="TEST_STUB_LIBCUDA=$stub"

# ranks | COMPCOLL_* settings (MIN_COUNT=64, RATIO=10 unless given) | program and options
cat >"$tmp/cases" <<'CASES'
1 | TRANSPORT=ucx | scalecom_stub_check --steps 8 --interleave
2 | TRANSPORT=ucx | scalecom_stub_check --steps 12
2 | TRANSPORT=mpi | scalecom_stub_check --steps 12 --inplace
2 | TRANSPORT=ucx BETA=0.5 | scalecom_stub_check --inplace --interleave
2 | TRANSPORT=ucx SELECT=chunk RATIO=16 | scalecom_stub_check --interleave --dup
2 | TRANSPORT=mpi SELECT=chunk BETA=0.5 | scalecom_stub_check --inplace --third --interleave
2 | TRANSPORT=ucx SELECT=sample | scalecom_stub_check --count 100000 --steps 6 --interleave
2 | TRANSPORT=ucx WARMUP=3 | scalecom_stub_check --interleave --dup
2 | TRANSPORT=mpi WIRE_TYPE=bf16 BETA=0.5 | scalecom_stub_check --interleave --inplace
2 | TRANSPORT=ucx KEY=sequence | scalecom_stub_check --third --fresh --dup
2 | TRANSPORT=mpi KEY=address WARMUP=1 | scalecom_stub_check --fresh --interleave
2 | TRANSPORT=ucx KEY=address | scalecom_stub_check --steps 40 --fresh --interleave
2 | TRANSPORT=ucx | scalecom_stub_check --steps 40 --third --realloc
2 | TRANSPORT=ucx RATIO=20 RAMP=4 KEY=address | scalecom_stub_check --steps 6 --fresh-odd
2 | TRANSPORT=ucx METHOD=dense | scalecom_stub_check --interleave --inplace
2 | TRANSPORT=ucx | scalecom_stub_check --ties --interleave
2 | TRANSPORT=ucx MIN_COUNT=1000 | scalecom_stub_check --count 1000 --small 999 --split --interleave
2 | TRANSPORT=ucx MAX_MEMORY=1k | scalecom_stub_check --interleave --dup --no-memory
2 | TRANSPORT=mpi RATIO=1 | scalecom_stub_check --steps 6 --redup
3 | TRANSPORT=ucx | scalecom_stub_check --steps 8 --interleave --inplace
3 | TRANSPORT=mpi SELECT=chunk WIRE_TYPE=fp16 RAMP=4 | scalecom_stub_check --steps 8 --dup
4 | HIERARCHICAL=y RANKS_PER_NODE=2 | scalecom_stub_check --steps 4 --interleave
2 | FAULT=alloc:1:3 | scalecom_stub_check --steps 5 --interleave --fail-call 3
2 | FAULT=validate:0:3 | scalecom_stub_check --steps 5 --interleave --fail-call 3
2 | FAULT=decode:0:3 TRANSPORT=mpi | scalecom_stub_check --steps 5 --interleave --fail-call 3
2 | FAULT=kernel:1:3 | scalecom_stub_check --steps 5 --interleave --fail-call 3
3 | FAULT=kernel:0:3 SELECT=chunk | scalecom_stub_check --steps 5 --interleave --fail-call 3
2 | FAULT=transport:0:3 | scalecom_stub_check --steps 5 --interleave --fail-call 3 --fail-broken
2 | TRANSPORT=ucx | threads_stub_check --mode dup --threads 3 --steps 4
2 | TRANSPORT=mpi | threads_stub_check --mode dup --threads 2
2 | TRANSPORT=ucx | threads_stub_check --mode bg
2 | TRANSPORT=ucx | threads_stub_check --mode nb --steps 6
CASES

run_cases "$tmp/cases" 1

# That the device path is what ran: the stand-in module loaded, and the
# compressed calls made on the device.
n=$((n_case + 1))
$guard "$mpiexec" -n 2 env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=64 \
    COMPCOLL_RATIO=10 COMPCOLL_LOG_LEVEL=trace $case_env \
    "$builddir/scalecom_stub_check" --steps 4 >"$tmp/log" 2>&1 </dev/null
rc=$?
loaded=$(grep -c "GPU module .*stand-in module" "$tmp/log")
ondev=$(grep -c "scalecom sparse .*on device 0" "$tmp/log")
if [ "$rc" -eq 0 ] && [ "$loaded" -eq 2 ] && [ "$ondev" -gt 0 ]; then
    echo "ok $n - P=2: the stand-in module loaded on both ranks, $ondev sparse calls made on the device"
else
    echo "not ok $n - P=2: exit status $rc, module loaded on $loaded ranks, $ondev sparse calls on the device"
    grep -v TRACE "$tmp/log" | head -n 10 | sed 's/^/#   /'
fi
exit 0
