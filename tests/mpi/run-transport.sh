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

plan 7
for np in 1 2 3 4; do
    run "transports at p=$np" $np
done
run "transports at p=7" 7
run "ucx over tcp only at p=3" 3 COMPCOLL_UCX_TLS=tcp
run "ucx that cannot start falls back at p=2" 2 COMPCOLL_UCX_TLS=nonexistent
done_testing
