#!/bin/sh
#
# tests/gpu/run-module.sh: the GPU module is loaded when, and only when, a
# device buffer appears; with a stand-in driver (stub/libcuda.so.1), so it
# runs without a GPU (module_check.c); TAP.  Built with or without CUDA.
. "${TESTS_SRCDIR:-.}/mpi-common.sh"

stub=$builddir/stub/libcuda.so.1
if [ ! -r "$stub" ]; then
    echo "1..0 # SKIP $stub not built"
    exit 77
fi
echo "1..6"
# Cases 1-3 and 6 are about the real module meeting a machine without a
# usable GPU: they need it built (configure found CUDA).
nomodule=""
if [ ! -r "${TEST_GPU_MODULE:-}" ]; then
    if [ "${TEST_HAVE_CUDA:-}" = yes ]; then
        echo "Bail out! ${TEST_GPU_MODULE:-the GPU module} is not built, in a CUDA build"
        exit 1
    fi
    nomodule="this build has no GPU module (configured without CUDA)"
fi
if [ -z "$nomodule" ]; then
    run_case 1 1 "TRANSPORT=mpi" module_check "$stub" module
    run_case 2 2 "TRANSPORT=ucx" module_check "$stub" module
    run_case 3 2 "TRANSPORT=mpi SELECT=chunk" module_check "$stub" module
else
    for c in 1 2 3; do
        echo "ok $c - module_check module # SKIP $nomodule"
    done
fi

# The library alone in a directory of its own finds no module: device
# buffers are staged by the driver.
mkdir -p "$tmp/alone"
cp "$TEST_LIBCOMPCOLL" "$tmp/alone/libcompcoll.so"
lib_built=$lib
lib=$(echo "$lib" | sed "s|$TEST_LIBCOMPCOLL|$tmp/alone/libcompcoll.so|")
run_case 4 1 "TRANSPORT=mpi WARMUP=1" module_check "$stub" no-module
run_case 5 2 "TRANSPORT=ucx WARMUP=1" module_check "$stub" no-module
lib=$lib_built

# A passthrough call that a rank cannot stage ends the job, with a message
# that says why, instead of giving the others a result with a stand-in.
# Each rank writes its stderr to a file of its own: what a process writes
# just before MPI_Abort can be lost on its way through mpiexec.
if [ -n "$nomodule" ]; then
    echo "ok 6 - P=2: a passthrough call a rank cannot stage # SKIP $nomodule"
    exit 0
fi
start=$(date +%s)
# shellcheck disable=SC2016 # expanded by the ranks' shell
$guard "$mpiexec" -n 2 sh -c 'exec "$@" 2>"$0.$PMI_RANK"' "$tmp/err" \
    env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=64 \
    "$builddir/module_check" "$stub" abort >"$tmp/log" 2>&1 </dev/null
rc=$?
secs=$(($(date +%s) - start))
cat "$tmp"/err.* >>"$tmp/log" 2>/dev/null
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] &&
    grep -q "cannot stage it through host memory.*so the job ends" "$tmp/log" &&
    ! grep -q "FAILED" "$tmp/log"; then
    echo "ok 6 - P=2: a passthrough call a rank cannot stage ends the job (exit status $rc, ${secs}s)"
else
    echo "not ok 6 - P=2: a passthrough call a rank cannot stage: exit status $rc"
    head -n 14 "$tmp/log" | cut -c1-400 | sed 's/^/#   /'
fi
exit 0
