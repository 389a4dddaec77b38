#!/bin/bash
# Where the time of a compressed call goes, per selection mode, against one
# memcpy of the gradient (the target: a compressed call on 25M floats costs
# no more than 1.7x a memcpy of the gradient).
#
#   bench/hostpass.sh [ELEMENTS] [REPEATS] [RANKS]
#
# Runs allreduce_bench (default 25M heavy-tailed floats, 20 repeats after 2
# warm-up calls, 2 ranks on this host) with COMPCOLL_METHOD=scalecom and each
# COMPCOLL_SELECT, reads the statistics JSON and bench/memcpy_bench.c's copy
# time of the same N floats, and writes bench/results/hostpass.csv:
#   select_leader_s  the leader's selection per call: time_select_s is a mean
#                    over ranks and only the leader selects, so
#                    time_select_s x p / calls
#   host_s           a rank's memory/output passes per call (compress:
#                    a = m + g at I, m update, out = 0; scatter of the sums)
#   comm_s           a rank's time in the transport per call; a rank that
#                    is not the leader waits there for the header, so this
#                    includes the leader's selection
#   t_call_s         the median call (slowest rank), t_pmpi_s MPICH's
#   host_pass_over_memcpy = (select_leader_s + host_s) / memcpy: the leader's
#                    host work against one copy of the gradient
# The per-call means include the warm-up calls (the first call faults in the
# error-feedback memory), so use enough repeats.  The build directory is
# $LIBCOMPCOLL_BUILDDIR (default _build/ at the top of the tree).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/build_env.sh"
n=${1:-25000000} repeats=${2:-20} ranks=${3:-2}
res="$top/bench/results"
csv="$res/hostpass.csv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$res"
${CC:-cc} -O2 -o "$tmp/memcpy_bench" "$top/bench/memcpy_bench.c"

echo "select,transport,ranks,elements,calls,memcpy_s,select_leader_s,host_s,comm_s,t_call_s,t_pmpi_s,host_pass_over_memcpy,load1" > "$csv"
printf "%-7s %-4s %10s %14s %10s %10s %10s %10s %8s\n" select tr memcpy_s select_lead_s host_s comm_s t_call_s t_pmpi_s host/mem
for tr in ucx mpi; do
    for sel in exact chunk sample; do
        read -r _ tmem < <("$tmp/memcpy_bench" -n "$n" -r 20 | awk '{print $4, $7}')
        load1=$(cut -d' ' -f1 /proc/loadavg)
        rm -f "$tmp/s.json" "$tmp/t.csv"
        COMPCOLL_METHOD=scalecom COMPCOLL_SELECT=$sel COMPCOLL_TRANSPORT=$tr \
            COMPCOLL_STATS="$tmp/s.json" \
            "$mpiexec" -n "$ranks" -genv LD_PRELOAD "$lib" \
            "$bench" -n "$n" -r "$repeats" -w 2 -d heavy -c "$tmp/t.csv" > /dev/null
        python3 - "$tmp/s.json" "$tmp/t.csv" "$sel" "$tr" "$tmem" "$load1" >> "$csv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n, p, tl, tm, _ = open(sys.argv[2]).read().strip().split(",")
p, calls, tmem = int(p), s["calls_compressed"] + s["calls_dense"], float(sys.argv[5])
sel = s["time_select_s"] * p / calls
host = s["time_host_s"] / calls
comm = s["time_comm_s"] / calls
print("%s,%s,%d,%s,%d,%.6f,%.6f,%.6f,%.6f,%s,%s,%.2f,%s" % (
    sys.argv[3], sys.argv[4], p, n, calls, tmem, sel, host, comm, tl, tm,
    (sel + host) / tmem, sys.argv[6]))
PY
        IFS=, read -r _ _ _ _ _ tmem sl ho co tl tm hm _ < <(tail -1 "$csv")
        printf "%-7s %-4s %10s %14s %10s %10s %10.6f %10.6f %8s\n" "$sel" "$tr" "$tmem" "$sl" "$ho" "$co" "$tl" "$tm" "$hm"
    done
done
echo "== $csv"
