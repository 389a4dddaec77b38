# tests/mpi/common.sh: the preamble of the MPI test scripts of tests/mpi
# and tests/gpu (sourced).
#
# Environment (tests/Makefile.am and tests/gpu/Makefile.am set it):
#   MPIEXEC           mpiexec.mpich
#   TEST_LIBCOMPCOLL  absolute path of the built libcompcoll.so
#   TESTS_BUILDDIR    directory holding the test programs (or holding them
#                     in its mpi/ subdirectory)
#   TEST_MPI_TIMEOUT  seconds per mpiexec run (default mpi_timeout, 120)
#   TEST_PRELOAD      preloaded before the library (the sanitizer build sets
#                     it to the ASan runtime, which must come first)
# Set by the script before it sources this file:
#   mpi_name          names the temporary folder
#   mpi_skip          exit status when the environment lacks MPI or the
#                     library (default 0: the "1..0 # SKIP" plan says it)
#   mpi_timeout       the default of TEST_MPI_TIMEOUT
# Leaves: lib (what LD_PRELOAD gets: $TEST_PRELOAD, then the library),
# mpiexec, builddir, timeout_s, tmp (removed on exit), guard (a timeout(1)
# prefix, or empty), and the helpers program, trim, tap, run_case,
# run_cases and job_ends.

lib=${TEST_LIBCOMPCOLL-}
mpiexec=${MPIEXEC-}
builddir=${TESTS_BUILDDIR:-.}
timeout_s=${TEST_MPI_TIMEOUT:-${mpi_timeout:-120}}

if [ -z "$mpiexec" ] || ! command -v "$mpiexec" >/dev/null 2>&1; then
    echo "1..0 # SKIP MPIEXEC is not set or not executable"
    exit "${mpi_skip:-0}"
fi
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
    echo "1..0 # SKIP TEST_LIBCOMPCOLL is not set or not readable (library not built)"
    exit "${mpi_skip:-0}"
fi
lib="${TEST_PRELOAD:+$TEST_PRELOAD }$lib"

# The jobs see only the COMPCOLL_* variables a case sets (TEST_LIBCOMPCOLL
# itself would draw an "unknown variable" warning from the library).
for v in $(env | sed -n 's/^\(COMPCOLL_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/compcoll-${mpi_name:-mpi}.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# A program: in $TESTS_BUILDDIR itself, or in its mpi/ (tests/Makefile.am
# builds them as mpi/scalecom_check with TESTS_BUILDDIR=tests/).
program() {
    if [ -x "$builddir/$1" ]; then
        echo "$builddir/$1"
    else
        echo "$builddir/mpi/$1"
    fi
}

trim() {
    printf '%s\n' "$1" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'
}

if command -v timeout >/dev/null 2>&1; then
    guard="timeout -k 10 $timeout_s"
else
    guard=
fi

# tap VERDICT DESCRIPTION [FILE]: the next numbered TAP line (VERDICT 0
# passes); a failure shows FILE (when not empty) as diagnostics, cut by
# $tap_diag (default: its last 15 lines).
tap_i=0
tap() {
    tap_i=$((tap_i + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_i - $2"
    else
        echo "not ok $tap_i - $2"
        # shellcheck disable=SC2086 # tap_diag is a command and its options
        [ -n "${3-}" ] && [ -s "$3" ] && ${tap_diag:-tail -n 15} "$3" |
            cut -c1-400 | sed 's/^/#   /'
    fi
}

# run_case I RANKS "SETTINGS" PROGRAM ARGS...: one job under mpiexec with
# the library preloaded, COMPCOLL_MIN_COUNT=64 COMPCOLL_RATIO=10 and
# COMPCOLL_<word> for each word of SETTINGS (no spaces inside a word), plus
# $case_env when set; prints one TAP line, with the command, the program's
# FAILED lines (rank 0's verdict) and the head of the job's output as
# diagnostics when it fails.
run_case() {
    i=$1
    ranks=$2
    settings=$3
    prog=$4
    shift 4
    path=$(program "$prog")
    desc="P=$ranks $settings: $prog${*:+ $*}"
    if [ ! -x "$path" ]; then
        echo "not ok $i - $desc: $path not built"
        return
    fi
    envs="COMPCOLL_MIN_COUNT=64 COMPCOLL_RATIO=10"
    for s in $settings; do
        envs="$envs COMPCOLL_$s"
    done
    envs="$envs${case_env:+ $case_env}"
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
        echo "# $mpiexec -n $ranks env LD_PRELOAD=$lib $envs $prog${*:+ $*}"
        grep -m 6 'FAILED' "$tmp/log" | cut -c1-600 | sed 's/^/#   /'
        grep -v 'FAILED' "$tmp/log" | head -n 14 | cut -c1-400 |
            sed 's/^/#   /'
    fi
}

# run_cases FILE [MORE]: the TAP plan (FILE's lines plus MORE lines the
# script prints after them, numbered from n_case + 1), then run_case for
# each line of FILE, "RANKS | SETTINGS | PROGRAM ARGS...".  With
# case_stride=S set by the script, only lines 1, S + 1, 2S + 1, ... of FILE
# run (a cover in 1/S of the time, for the slower sanitizer build).
run_cases() {
    awk -v s="${case_stride:-1}" 'NF && (NR - 1) % s == 0' "$1" >"$tmp/picked"
    echo "1..$(($(grep -c . "$tmp/picked") + ${2:-0}))"
    n_case=0
    while IFS='|' read -r ranks settings command; do
        n_case=$((n_case + 1))
        # shellcheck disable=SC2086 # the program and its options are words
        run_case "$n_case" "$(trim "$ranks")" "$(trim "$settings")" $command
    done <"$tmp/picked"
}

# job_ends RANKS "ENV" PROGRAM ARGS...: one job that must fail, made as
# run_case makes it (COMPCOLL_MIN_COUNT=64 COMPCOLL_RATIO=10, then the
# assignments in ENV), its output in $tmp/log.  Sets rc, secs, and why: empty
# when the job ended with a non-zero status within the timeout, the reason
# otherwise.  The caller checks the output's messages and prints the TAP line.
# (Its own variables start with je_: sh has no locals.)
job_ends() {
    je_np=$1 je_env=$2 je_path=$(program "$3")
    shift 3
    je_start=$(date +%s)
    # shellcheck disable=SC2086 # je_env holds assignments
    $guard "$mpiexec" -n "$je_np" env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=64 \
        COMPCOLL_RATIO=10 $je_env "$je_path" "$@" >"$tmp/log" 2>&1 </dev/null
    rc=$?
    secs=$(($(date +%s) - je_start))
    case $rc in
    0) why="exit status 0: the failure went unnoticed" ;;
    124 | 137) why="timed out after ${timeout_s}s" ;;
    *) why= ;;
    esac
}
