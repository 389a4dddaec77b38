#!/bin/sh
# compcoll-info and compcoll-run behave as their man pages say.
. "${TESTS_SRCDIR:-.}/tap/tap.sh"
[ -x "$COMPCOLL_INFO" ] || skip_all "compcoll-info not built"
plan 9
out=$("$COMPCOLL_INFO" -v)
echo "$out" | grep -q '^libcompcoll ' && echo "$out" | grep -q 'UCX:' &&
    echo "$out" | grep -q 'CUDA:' && echo "$out" | grep -q 'hwloc:'
ok $? "compcoll-info -v names the version and what the build has"
out=$(COMPCOLL_RATIO=37 "$COMPCOLL_INFO" -c)
n=$(echo "$out" | grep -c '^COMPCOLL_[A-Z_]*=')
[ "$n" -eq 14 ]
ok $? "compcoll-info -c lists the 14 variables ($n)"
echo "$out" | grep -q '^COMPCOLL_RATIO=37$' &&
    echo "$out" | grep -q '^COMPCOLL_BETA=1  (default)$'
ok $? "compcoll-info -c shows current values and defaults"
"$COMPCOLL_INFO" -x >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "compcoll-info rejects an unknown option with status 2"
sh "$COMPCOLL_RUN" -h | grep -q 'Usage: compcoll-run'
ok $? "compcoll-run -h prints usage"
sh "$COMPCOLL_RUN" -l "$COMPCOLL_LIB" 2>/dev/null
[ $? -eq 2 ]
ok $? "compcoll-run without a command fails with status 2"
sh "$COMPCOLL_RUN" -l /nonexistent/libcompcoll.so true 2>&1 | grep -q "cannot read the library"
ok $? "compcoll-run names a missing library"
out=$(sh "$COMPCOLL_RUN" -l "$COMPCOLL_LIB" sh -c 'echo "$LD_PRELOAD"')
[ "$out" = "$COMPCOLL_LIB" ]
ok $? "compcoll-run preloads into a plain command"
out=$(sh "$COMPCOLL_RUN" -v -l "$COMPCOLL_LIB" /nonexistent/mpiexec -n 2 ./x 2>&1)
echo "$out" | grep -q -- "-genv LD_PRELOAD $COMPCOLL_LIB -n 2 ./x"
ok $? "compcoll-run passes the library to Hydra ranks with -genv"
done_testing
