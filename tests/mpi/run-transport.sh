#!/bin/sh
# The transports' collectives (bcast, ring all-reduce with each wire type,
# communicator set-up) against PMPI, at several process counts; also the
# fallback when UCX cannot start.  test_transport links the core directly.
. "${TESTS_SRCDIR:-.}/tap/tap.sh"
prog="$TESTS_BUILDDIR/mpi/test_transport"
[ -n "$MPIEXEC" ] || skip_all "no mpiexec"
[ -x "$prog" ] || skip_all "test_transport not built"

run() { # run DESCRIPTION NP [ENV...]
    desc=$1 np=$2
    shift 2
    out=$(env "$@" timeout 300 "$MPIEXEC" -n "$np" "$prog" 2>&1)
    st=$?
    # The program prints TAP on rank 0: pass means exit 0 and no "not ok".
    echo "$out" | grep -q '^not ok' && st=1
    ok $st "$desc ($(echo "$out" | grep -c '^ok') checks)"
    [ $st -eq 0 ] || echo "$out" | grep -v '^ok' | head -30 | sed 's/^/# /'
}

plan 11
for np in 1 2 3 4; do
    run "transports at p=$np" $np
done
run "transports at p=7" 7
run "ucx over tcp only at p=3" 3 COMPCOLL_UCX_TLS=tcp
run "ucx that cannot start falls back at p=2" 2 COMPCOLL_UCX_TLS=nonexistent

# The whole preloaded path when UCX cannot start: results still equal the
# oracle's, and the fallback is announced by exactly one library warning.
check="$TESTS_BUILDDIR/mpi/scalecom_check"
if [ -x "$check" ] && [ -r "$TEST_LIBCOMPCOLL" ]; then
    out=$(env COMPCOLL_UCX_TLS=nonexistent COMPCOLL_MIN_COUNT=64 COMPCOLL_RATIO=10 \
          timeout 300 "$MPIEXEC" -n 2 -genv LD_PRELOAD "${TEST_PRELOAD:+$TEST_PRELOAD }$TEST_LIBCOMPCOLL" \
          "$check" --steps 4 --interleave 2>&1)
    st=$?
    ok $st "preloaded run with UCX unable to start is still correct (p=2)"
    [ $st -eq 0 ] || echo "$out" | tail -20 | sed 's/^/# /'
    n=$(echo "$out" | grep -c 'COMPCOLL WARN .*using the mpi transport')
    [ "$n" -eq 1 ]
    ok $? "and the fallback is announced once ($n warning)"
else
    ok 0 "# SKIP scalecom_check or the library not built"
    ok 0 "# SKIP scalecom_check or the library not built"
fi

# A 16-bit wire keeps partial sums in fp32 on both transports, with one
# algorithm: the outputs of every call are the same bits (--checksum).
for case in "3 fp16" "2 bf16"; do
    set -- $case
    if [ -x "$check" ] && [ -r "$TEST_LIBCOMPCOLL" ]; then
        sums=
        for tr in ucx mpi; do
            sums="$sums $(env COMPCOLL_TRANSPORT=$tr COMPCOLL_WIRE_TYPE=$2 \
                COMPCOLL_MIN_COUNT=64 timeout 300 "$MPIEXEC" -n "$1" -genv LD_PRELOAD \
                "${TEST_PRELOAD:+$TEST_PRELOAD }$TEST_LIBCOMPCOLL" "$check" \
                --steps 4 --interleave --checksum 2>&1 |
                sed -n 's/^# checksum //p')"
        done
        set -- $1 $2 $sums
        [ $# -eq 4 ] && [ "$3" = "$4" ]
        ok $? "p=$1 WIRE_TYPE=$2: ucx and mpi give the same bits (${3-none} ${4-none})"
    else
        ok 0 "# SKIP scalecom_check or the library not built"
    fi
done
done_testing
