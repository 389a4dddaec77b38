#!/bin/sh
# compcoll-info and compcoll-run behave as their man pages say.
. "${TESTS_SRCDIR:-.}/tap/tap.sh"
[ -x "$TEST_COMPCOLL_INFO" ] || skip_all "compcoll-info not built"
plan 9
out=$("$TEST_COMPCOLL_INFO" -v)
echo "$out" | grep -q '^libcompcoll ' && echo "$out" | grep -q 'UCX:' &&
    echo "$out" | grep -q 'CUDA:' && echo "$out" | grep -q 'hwloc:'
ok $? "compcoll-info -v names the version and what the build has"
out=$(COMPCOLL_RATIO=37 "$TEST_COMPCOLL_INFO" -c)
n=$(echo "$out" | grep -c '^COMPCOLL_[A-Z_]*=')
# the README's table of variables, row for row
readme=$(grep -c '^| `COMPCOLL_' "${TESTS_SRCDIR:-.}/../README.md")
[ "$n" -eq "$readme" ] && [ "$n" -ge 16 ]
ok $? "compcoll-info -c lists the variables of the README's table ($n of $readme)"
echo "$out" | grep -q '^COMPCOLL_RATIO=37$' &&
    echo "$out" | grep -q '^COMPCOLL_BETA=1  (default)$'
ok $? "compcoll-info -c shows current values and defaults"
"$TEST_COMPCOLL_INFO" -x >/dev/null 2>&1
[ $? -eq 2 ]
ok $? "compcoll-info rejects an unknown option with status 2"
sh "$TEST_COMPCOLL_RUN" -h | grep -q 'Usage: compcoll-run'
ok $? "compcoll-run -h prints usage"
sh "$TEST_COMPCOLL_RUN" -l "$TEST_LIBCOMPCOLL" 2>/dev/null
[ $? -eq 2 ]
ok $? "compcoll-run without a command fails with status 2"
sh "$TEST_COMPCOLL_RUN" -l /nonexistent/libcompcoll.so true 2>&1 | grep -q "cannot read the library"
ok $? "compcoll-run names a missing library"
out=$(sh "$TEST_COMPCOLL_RUN" -l "$TEST_LIBCOMPCOLL" sh -c 'echo "$LD_PRELOAD"')
[ "$out" = "$TEST_LIBCOMPCOLL" ]
ok $? "compcoll-run preloads into a plain command"
out=$(sh "$TEST_COMPCOLL_RUN" -v -l "$TEST_LIBCOMPCOLL" /nonexistent/mpiexec -n 2 ./x 2>&1)
echo "$out" | grep -q -- "-genv LD_PRELOAD $TEST_LIBCOMPCOLL -n 2 ./x"
ok $? "compcoll-run passes the library to Hydra ranks with -genv"
done_testing
