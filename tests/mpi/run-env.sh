#!/bin/sh
#
# tests/mpi/run-env.sh: the COMPCOLL_* environment under mpiexec; TAP.
#
# For every variable, bad values make the job exit non-zero at MPI_Init
# with a message on stderr that names the variable and the value; an
# unknown COMPCOLL_* variable is a warning with the closest valid name and the job
# runs; every documented value is accepted (and, where scalecom_check or
# passthrough_check can tell, does what it says).
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT
# (see run-scalecom.sh).

mpi_name=env mpi_timeout=60
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

# ranks | VARIABLE=value (no COMPCOLL_ prefix; no spaces) | expectation | program
# VARIABLE=value@last sets it on the last rank only (MPMD launch).
#   bad        exit non-zero; stderr names COMPCOLL_VARIABLE and the value
#   differ     exit non-zero at MPI_Init with one message that names
#              COMPCOLL_VARIABLE, the last rank's value and rank 0's
#   warn:TEXT  exit 0; stderr contains TEXT
#   ok         exit 0; no error on stderr
# The programs run with COMPCOLL_MIN_COUNT=64 unless the case sets it.
cat >"$tmp/cases" <<'EOF'
1 | ENABLE=maybe | bad | passthrough_check
1 | ENABLE=2 | bad | passthrough_check
1 | ENABLE=yess | bad | passthrough_check
1 | METHOD=foo | bad | passthrough_check
1 | ADACOMP_BIN= | bad | passthrough_check
1 | ADACOMP_BIN=0 | bad | passthrough_check
1 | ADACOMP_BIN=-50 | bad | passthrough_check
1 | ADACOMP_BIN=autom | bad | passthrough_check
1 | ADACOMP_BIN=50x | bad | passthrough_check
1 | RATIO= | bad | passthrough_check
1 | RATIO=-1 | bad | passthrough_check
1 | RATIO=abc | bad | passthrough_check
1 | RATIO=0 | bad | passthrough_check
1 | RATIO=10abc | bad | passthrough_check
1 | RATIO=2147483648 | bad | passthrough_check
1 | RATIO=99999999999999999999 | bad | passthrough_check
1 | RATIO=1.5 | bad | passthrough_check
1 | MIN_COUNT= | bad | passthrough_check
1 | MIN_COUNT=-5 | bad | passthrough_check
1 | MIN_COUNT=abc | bad | passthrough_check
1 | MIN_COUNT=0 | bad | passthrough_check
1 | MIN_COUNT=12x | bad | passthrough_check
1 | MIN_COUNT=99999999999999999999 | bad | passthrough_check
1 | SELECT=foo | bad | passthrough_check
1 | SELECT=topk | bad | passthrough_check
1 | BETA= | bad | passthrough_check
1 | BETA=0 | bad | passthrough_check
1 | BETA=-0.5 | bad | passthrough_check
1 | BETA=1.5 | bad | passthrough_check
1 | BETA=1.0000001 | bad | passthrough_check
1 | BETA=abc | bad | passthrough_check
1 | BETA=0.5x | bad | passthrough_check
1 | BETA=nan | bad | passthrough_check
1 | BETA=inf | bad | passthrough_check
1 | MOMENTUM=1 | bad | passthrough_check
1 | MOMENTUM=-0.5 | bad | passthrough_check
1 | MOMENTUM=0.9x | bad | passthrough_check
1 | WARMUP= | bad | passthrough_check
1 | WARMUP=-1 | bad | passthrough_check
1 | WARMUP=abc | bad | passthrough_check
1 | WARMUP=3x | bad | passthrough_check
1 | WARMUP=1.5 | bad | passthrough_check
1 | WARMUP=99999999999999999999 | bad | passthrough_check
1 | WIRE_TYPE=fp64 | bad | passthrough_check
1 | WIRE_TYPE=int8 | bad | passthrough_check
1 | TRANSPORT=tcp | bad | passthrough_check
1 | TRANSPORT=foo | bad | passthrough_check
1 | KEY=name | bad | passthrough_check
1 | KEY=pointer | bad | passthrough_check
1 | MAX_MEMORY= | bad | passthrough_check
1 | MAX_MEMORY=abc | bad | passthrough_check
1 | MAX_MEMORY=-1 | bad | passthrough_check
1 | MAX_MEMORY=12q | bad | passthrough_check
1 | MAX_MEMORY=4gg | bad | passthrough_check
1 | HIERARCHICAL=y | ok | passthrough_check
1 | RANKS_PER_NODE=0 | bad | passthrough_check
1 | RANKS_PER_NODE=two | bad | passthrough_check
1 | HIERARCHICAL=maybe | bad | passthrough_check
1 | STATS=2 | bad | passthrough_check
1 | STATS=stats.txt | bad | passthrough_check
1 | LOG_LEVEL=loud | bad | passthrough_check
1 | LOG_LEVEL=verbose | bad | passthrough_check
2 | RATIO=abc | bad | passthrough_check
2 | HIERARCHICAL=yes | ok | passthrough_check
2 | RANKS_PER_NODE=1.5 | bad | passthrough_check
1 | RATOI=10 | warn:did you mean COMPCOLL_RATIO? | passthrough_check
1 | SELCT=chunk | warn:did you mean COMPCOLL_SELECT? | passthrough_check
1 | WIRETYPE=fp16 | warn:did you mean COMPCOLL_WIRE_TYPE? | passthrough_check
1 | METHOD=adacomp | ok | passthrough_check
1 | METHOD=topk | ok | passthrough_check
1 | ADACOMP_BIN=auto | ok | passthrough_check
1 | ADACOMP_BIN=64 | ok | passthrough_check
1 | ENABLE=y | ok | scalecom_check --steps 3
1 | ENABLE=yes | ok | scalecom_check --steps 3
1 | ENABLE=1 | ok | scalecom_check --steps 3
1 | ENABLE=on | ok | scalecom_check --steps 3
1 | ENABLE=true | ok | scalecom_check --steps 3
1 | ENABLE=n | ok | passthrough_check --all
1 | ENABLE=no | ok | passthrough_check --all
1 | ENABLE=0 | ok | passthrough_check --all
1 | ENABLE=off | ok | passthrough_check --all
1 | ENABLE=false | ok | passthrough_check --all
1 | METHOD=scalecom | ok | scalecom_check --steps 3
1 | METHOD=dense | ok | scalecom_check --steps 3
1 | METHOD=none | ok | passthrough_check --all
1 | RATIO=1 | ok | scalecom_check --steps 3
1 | RATIO=2147483647 | ok | scalecom_check --steps 3
1 | MIN_COUNT=1 | ok | scalecom_check --steps 3
1 | MIN_COUNT=2147483647 | ok | scalecom_check --steps 3
1 | SELECT=exact | ok | scalecom_check --steps 3
1 | SELECT=chunk | ok | scalecom_check --steps 3
1 | SELECT=sample | ok | scalecom_check --steps 3
1 | BETA=1 | ok | scalecom_check --steps 3
1 | BETA=0.25 | ok | scalecom_check --steps 3
1 | MOMENTUM=0 | ok | scalecom_check --steps 3
1 | MOMENTUM=0.9 | ok | scalecom_check --steps 3
1 | WARMUP=0 | ok | scalecom_check --steps 3
1 | WARMUP=2 | ok | scalecom_check --steps 3
1 | WIRE_TYPE=fp32 | ok | scalecom_check --steps 3
1 | WIRE_TYPE=fp16 | ok | scalecom_check --steps 3
1 | WIRE_TYPE=bf16 | ok | scalecom_check --steps 3
1 | TRANSPORT=ucx | ok | scalecom_check --steps 3
1 | TRANSPORT=mpi | ok | scalecom_check --steps 3
1 | KEY=address | ok | scalecom_check --steps 3
1 | KEY=sequence | ok | scalecom_check --steps 3 --fresh
1 | MAX_MEMORY=512m | ok | passthrough_check
1 | MAX_MEMORY=4g | ok | passthrough_check
1 | MAX_MEMORY=0 | ok | passthrough_check
1 | HIERARCHICAL=auto | ok | passthrough_check
1 | HIERARCHICAL=n | ok | passthrough_check
1 | STATS=0 | ok | passthrough_check
1 | LOG_LEVEL=error | ok | scalecom_check --steps 3
1 | LOG_LEVEL=warn | ok | scalecom_check --steps 3
1 | LOG_LEVEL=info | ok | scalecom_check --steps 3
1 | LOG_LEVEL=debug | ok | scalecom_check --steps 3
1 | LOG_LEVEL=trace | ok | scalecom_check --steps 3
2 | ENABLE=off | ok | passthrough_check --all
2 | ENABLE=n@last | differ | scalecom_check --steps 3
3 | ENABLE=n@last | differ | scalecom_check --steps 3
2 | METHOD=none@last | differ | scalecom_check --steps 3
3 | MIN_COUNT=16384@last | differ | scalecom_check --steps 3
2 | RATIO=50@last | differ | scalecom_check --steps 3
2 | KEY=address@last | differ | scalecom_check --steps 3
2 | WIRE_TYPE=bf16@last | differ | scalecom_check --steps 3
2 | TRANSPORT=mpi@last | differ | scalecom_check --steps 3
2 | BETA=0.5@last | differ | scalecom_check --steps 3
2 | MOMENTUM=0.9@last | differ | scalecom_check --steps 3
2 | LOG_LEVEL=error@last | ok | scalecom_check --steps 3
2 | MAX_MEMORY=1g@last | ok | scalecom_check --steps 3
2 | STATS=0@last | ok | scalecom_check --steps 3
EOF

n=$(grep -c . "$tmp/cases")
echo "1..$n"

i=0
while IFS='|' read -r ranks assign expect command; do
    i=$((i + 1))
    ranks=$(trim "$ranks")
    assign=$(trim "$assign")
    expect=$(trim "$expect")
    # shellcheck disable=SC2086 # the options are words
    set -- $command
    prog=$1
    shift
    last=
    case $assign in *@last) assign=${assign%@last} last=" on the last rank" ;; esac
    var=COMPCOLL_${assign%%=*}
    value=${assign#*=}
    desc="P=$ranks $var='$value'$last ($expect): $prog${*:+ $*}"
    path=$(program "$prog")
    if [ ! -x "$path" ]; then
        echo "not ok $i - $desc: $path not built"
        continue
    fi
    if [ -n "$last" ]; then
        # shellcheck disable=SC2086
        $guard "$mpiexec" -n $((ranks - 1)) env LD_PRELOAD="$lib" \
            COMPCOLL_MIN_COUNT=64 "$path" "$@" : \
            -n 1 env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=64 "$var=$value" \
            "$path" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    else
        # shellcheck disable=SC2086
        $guard "$mpiexec" -n "$ranks" env LD_PRELOAD="$lib" \
            COMPCOLL_MIN_COUNT=64 "$var=$value" \
            "$path" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    fi
    rc=$?
    why=
    case $expect in
    bad)
        if [ "$rc" -eq 0 ]; then
            why="exit status 0, expected non-zero"
        elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            why="timed out after ${timeout_s}s"
        elif ! grep -q -F -- "$var" "$tmp/err"; then
            why="stderr does not name $var"
        elif [ -n "$value" ] && ! grep -q -F -- "$value" "$tmp/err"; then
            why="stderr does not show the value '$value'"
        elif grep -q '^# ok' "$tmp/out"; then
            why="the program ran (expected exit at MPI_Init)"
        fi
        ;;
    differ)
        if [ "$rc" -eq 0 ]; then
            why="exit status 0, expected non-zero"
        elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
            why="timed out after ${timeout_s}s"
        elif ! grep -q -F -- "$var differs between the ranks: " "$tmp/err"; then
            why="stderr lacks \"$var differs between the ranks\""
        elif ! grep -q -F -- "'$value' on rank $((ranks - 1))" "$tmp/err"; then
            why="stderr does not show '$value' on rank $((ranks - 1))"
        elif ! grep -q -E -- "' on ranks? 0[,;.]" "$tmp/err"; then
            why="stderr does not show the other ranks' value"
        elif [ "$(grep -c 'COMPCOLL ERROR' "$tmp/err")" -ne 1 ]; then
            why="not exactly one error message"
        elif grep -q '^# ok' "$tmp/out"; then
            why="the program ran (expected exit at MPI_Init)"
        fi
        ;;
    warn:*)
        text=${expect#warn:}
        if [ "$rc" -ne 0 ]; then
            why="exit status $rc, expected 0"
        elif ! grep -q -F -- "$text" "$tmp/err"; then
            why="stderr lacks \"$text\""
        elif ! grep -q -F -- "unknown variable $var" "$tmp/err"; then
            why="stderr lacks \"unknown variable $var\""
        fi
        ;;
    ok)
        if [ "$rc" -ne 0 ]; then
            why="exit status $rc, expected 0"
        elif grep -q -i -E 'invalid|COMPCOLL ERROR' "$tmp/err"; then
            why="an error on stderr"
        fi
        ;;
    esac
    if [ -z "$why" ]; then
        echo "ok $i - $desc"
        if [ "$expect" != ok ]; then
            # what the user sees, for the log
            grep -m 1 -F -- "${var}" "$tmp/err" | cut -c1-300 | sed 's/^/#   /'
        fi
    else
        echo "not ok $i - $desc: $why"
        echo "# $mpiexec -n $ranks env LD_PRELOAD=$lib COMPCOLL_MIN_COUNT=64 $var='$value' $prog${*:+ $*}"
        tail -n 8 "$tmp/err" | cut -c1-400 | sed 's/^/#   stderr: /'
        tail -n 4 "$tmp/out" | cut -c1-400 | sed 's/^/#   stdout: /'
    fi
done <"$tmp/cases"

exit 0
