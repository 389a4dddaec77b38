# tests/gpu/mpi-common.sh: shared by the MPI scripts of tests/gpu (sourced).
#
# Environment (tests/gpu/Makefile.am sets it): MPIEXEC, TEST_LIBCOMPCOLL,
# TESTS_BUILDDIR (the programs), TEST_MPI_TIMEOUT (seconds per run, 120).
# run_case I RANKS "SETTINGS" PROGRAM ARGS... prints one TAP line, with the
# command and the tail of the job's output as diagnostics when it fails.

lib=${TEST_LIBCOMPCOLL-}
mpiexec=${MPIEXEC-}
builddir=${TESTS_BUILDDIR:-.}
timeout_s=${TEST_MPI_TIMEOUT:-120}

if [ -z "$mpiexec" ] || ! command -v "$mpiexec" >/dev/null 2>&1; then
    echo "1..0 # SKIP MPIEXEC is not set or not executable"
    exit 77
fi
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
    echo "1..0 # SKIP TEST_LIBCOMPCOLL is not set or not readable"
    exit 77
fi

# Only the COMPCOLL_* variables a case sets reach the jobs.
for v in $(env | sed -n 's/^\(COMPCOLL_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/compcoll-gpu.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if command -v timeout >/dev/null 2>&1; then
    guard="timeout -k 10 $timeout_s"
else
    guard=
fi

run_case() {
    i=$1
    ranks=$2
    settings=$3
    prog=$4
    shift 4
    path=$builddir/$prog
    if [ ! -x "$path" ]; then
        echo "not ok $i - P=$ranks $settings: $path not built"
        return
    fi
    envs="COMPCOLL_MIN_COUNT=64 COMPCOLL_RATIO=10"
    for s in $settings; do
        envs="$envs COMPCOLL_$s"
    done
    desc="P=$ranks $settings: $prog${*:+ $*}"
    start=$(date +%s)
    # shellcheck disable=SC2086 # settings and options are words
    $guard "$mpiexec" -n "$ranks" env LD_PRELOAD="$lib" $envs \
        "$path" "$@" >"$tmp/log" 2>&1 </dev/null
    rc=$?
    secs=$(($(date +%s) - start))
    if [ "$rc" -eq 0 ]; then
        echo "ok $i - $desc (${secs}s)"
    else
        case $rc in
        124 | 137) why="timed out after ${timeout_s}s" ;;
        *) why="exit status $rc" ;;
        esac
        echo "not ok $i - $desc: $why"
        echo "# $mpiexec -n $ranks env LD_PRELOAD=$lib $envs $path${*:+ $*}"
        grep -m 3 'FAILED' "$tmp/log" | cut -c1-600 | sed 's/^/#   /'
        grep -v 'FAILED' "$tmp/log" | head -n 14 | cut -c1-400 |
            sed 's/^/#   /'
    fi
}
