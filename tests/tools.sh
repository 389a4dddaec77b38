#!/bin/sh
# compcoll-info and compcoll-run behave as their man pages say.
. "${TESTS_SRCDIR:-.}/tap/tap.sh"
[ -x "$TEST_COMPCOLL_INFO" ] || skip_all "compcoll-info not built"
plan 10
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
# -t: the NUMA nodes as Linux lists them, and a placement in words
out=$("$TEST_COMPCOLL_INFO" -t)
nodes=$(ls -d /sys/devices/system/node/node[0-9]* 2>/dev/null | wc -l)
if echo "$out" | grep -q 'built without hwloc'; then
    echo "$out" | grep -q '^memory: *first touch: built without hwloc$'
else
    { [ "$nodes" -eq 0 ] || echo "$out" | grep -q "[^0-9]$nodes NUMA nodes"; } &&
        echo "$out" | grep -Eq '^memory: *(first touch: |bound to NUMA nodes )'
fi
ok $? "compcoll-info -t shows the topology ($nodes NUMA nodes in /sys) and the memory placement"
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
