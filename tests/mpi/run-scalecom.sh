#!/bin/sh
#
# tests/mpi/run-scalecom.sh: ScaleCom all-reduce under mpiexec, against the
# oracle of scalecom_check.c, over a covering set of configurations; TAP.
#
# Environment (set by tests/Makefile.am for the tap-driver):
#   MPIEXEC          mpiexec.mpich
#   COMPCOLL_LIB     absolute path of the built libcompcoll.so
#   TESTS_BUILDDIR   directory holding scalecom_check and passthrough_check
#   COMPCOLL_TEST_TIMEOUT  seconds per mpiexec run (default 120)
#
# The full cross product of ranks x transports x features is too slow on a
# small machine (3-4 ranks on 2 cores), so the matrix below is a covering
# set: every feature runs at P=2 and at P=3 or 4, on both transports, with
# beta 1 and 0.5.  One mpiexec run is one TAP line; a failing line is
# followed by the tail of the job's output as TAP diagnostics.

lib=${COMPCOLL_LIB-}
mpiexec=${MPIEXEC-}
builddir=${TESTS_BUILDDIR:-.}
timeout_s=${COMPCOLL_TEST_TIMEOUT:-120}

if [ -z "$mpiexec" ] || ! command -v "$mpiexec" >/dev/null 2>&1; then
    echo "1..0 # SKIP MPIEXEC is not set or not executable"
    exit 0
fi
if [ -z "$lib" ] || [ ! -r "$lib" ]; then
    echo "1..0 # SKIP COMPCOLL_LIB is not set or not readable (library not built)"
    exit 0
fi

# The jobs see only the COMPCOLL_* variables a case sets (COMPCOLL_LIB
# itself would draw an "unknown variable" warning from the library).
for v in $(env | sed -n 's/^\(COMPCOLL_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/compcoll-scalecom.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if command -v timeout >/dev/null 2>&1; then
    guard="timeout -k 10 $timeout_s"
else
    guard=
fi

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
2 | TRANSPORT=ucx WIRE_TYPE=bf16 SELECT=chunk | scalecom_check --dup
2 | TRANSPORT=mpi WIRE_TYPE=fp16 BETA=0.5 WARMUP=1 | scalecom_check --steps 8
2 | TRANSPORT=ucx KEY=sequence | scalecom_check --third --fresh --dup
2 | TRANSPORT=mpi KEY=sequence BETA=0.5 WARMUP=1 | scalecom_check --third --fresh --inplace
2 | TRANSPORT=mpi KEY=address WARMUP=1 | scalecom_check --fresh --interleave
2 | TRANSPORT=ucx METHOD=dense | scalecom_check --interleave --inplace
2 | TRANSPORT=mpi METHOD=dense | scalecom_check --dup --small 10
2 | TRANSPORT=ucx | scalecom_check --ties --interleave
2 | TRANSPORT=mpi SELECT=chunk BETA=0.5 | scalecom_check --ties --interleave
2 | TRANSPORT=ucx MIN_COUNT=1000 | scalecom_check --count 1000 --small 999 --split --interleave
2 | TRANSPORT=mpi RATIO=1 | scalecom_check --steps 6 --redup
3 | TRANSPORT=ucx | scalecom_check --steps 8 --interleave --inplace
3 | TRANSPORT=mpi BETA=0.5 SELECT=chunk | scalecom_check --steps 8 --dup --redup
3 | TRANSPORT=ucx SELECT=sample BETA=0.5 WARMUP=2 | scalecom_check --steps 8 --interleave
3 | TRANSPORT=mpi WIRE_TYPE=fp16 | scalecom_check --steps 8 --interleave
3 | TRANSPORT=ucx WIRE_TYPE=bf16 BETA=0.5 | scalecom_check --steps 8
3 | TRANSPORT=ucx KEY=sequence | scalecom_check --steps 8 --third --fresh
3 | TRANSPORT=mpi METHOD=dense | scalecom_check --steps 6 --interleave
3 | TRANSPORT=ucx | scalecom_check --steps 8 --split --interleave --small 10
3 | TRANSPORT=mpi RATIO=5000 SELECT=chunk | scalecom_check --steps 8 --ties --dup
4 | TRANSPORT=ucx | scalecom_check --steps 6 --interleave --dup
4 | TRANSPORT=mpi BETA=0.5 SELECT=chunk WARMUP=1 | scalecom_check --steps 6 --inplace --split
4 | TRANSPORT=ucx WIRE_TYPE=bf16 SELECT=sample | scalecom_check --steps 6 --ties
4 | TRANSPORT=mpi WIRE_TYPE=fp16 KEY=sequence | scalecom_check --steps 6 --third --fresh
4 | TRANSPORT=ucx METHOD=dense | scalecom_check --steps 4 --interleave
1 | TRANSPORT=ucx | passthrough_check
2 | TRANSPORT=mpi | passthrough_check
3 | TRANSPORT=ucx | passthrough_check
4 | TRANSPORT=mpi | passthrough_check
EOF

n=$(grep -c . "$tmp/cases")
echo "1..$n"

i=0
failed=0
while IFS='|' read -r ranks settings command; do
    i=$((i + 1))
    ranks=$(echo $ranks)
    settings=$(echo $settings)
    set -- $command
    prog=$1
    shift
    if [ ! -x "$builddir/$prog" ]; then
        echo "not ok $i - P=$ranks $settings $prog: $builddir/$prog not built"
        failed=$((failed + 1))
        continue
    fi
    envs="COMPCOLL_MIN_COUNT=64 COMPCOLL_RATIO=10"
    for s in $settings; do
        envs="$envs COMPCOLL_$s"
    done
    desc="P=$ranks $settings $prog $*"
    start=$(date +%s)
    # shellcheck disable=SC2086
    $guard "$mpiexec" -n "$ranks" env LD_PRELOAD="$lib" $envs \
        "$builddir/$prog" "$@" >"$tmp/log" 2>&1 </dev/null
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
        echo "# env LD_PRELOAD=$lib $envs $prog $*"
        tail -n 15 "$tmp/log" | cut -c1-400 | sed 's/^/#   /'
        failed=$((failed + 1))
    fi
done <"$tmp/cases"

exit 0
