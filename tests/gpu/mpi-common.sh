# tests/gpu/mpi-common.sh: shared by the MPI scripts of tests/gpu (sourced),
# after the preamble of tests/mpi/common.sh.
#
# Environment (tests/gpu/Makefile.am sets it): MPIEXEC, TEST_LIBCOMPCOLL,
# TESTS_BUILDDIR (the programs), TEST_MPI_TIMEOUT (seconds per run, 120).
# run_case I RANKS "SETTINGS" PROGRAM ARGS... prints one TAP line, with the
# command and the tail of the job's output as diagnostics when it fails.

mpi_name=gpu mpi_skip=77
. "${TESTS_SRCDIR:-.}/../mpi/common.sh"

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
