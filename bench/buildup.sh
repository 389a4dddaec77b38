#!/bin/sh
# Gradient build-up: bytes each rank sends per call, and time per call, for
# scalecom, adacomp and topk at several process counts on the same data,
# with MPICH's PMPI_Allreduce timed in the same runs.
#   bench/buildup.sh [ELEMENTS] [REPEATS] [RANKS...]
# Writes bench/results/buildup.csv and bench/results/buildup.png.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
n=${1:-1048576}
repeats=${2:-5}
shift 2 2>/dev/null || shift $#
ranks=${*:-2 4 8}
mpiexec=$(sed -n "s/^MPIEXEC = //p" "$build/Makefile")
lib="$build/interpose/.libs/libcompcoll.so"
res="$top/bench/results"
csv="$res/buildup.csv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$res"

echo "method,ranks,elements,ratio,bytes_per_rank_per_call,elements_per_rank_per_call,t_call_s,t_pmpi_s" > "$csv"
for p in $ranks; do
    for method in scalecom adacomp topk; do
        rm -f "$tmp/s.json" "$tmp/t.csv"
        COMPCOLL_METHOD=$method COMPCOLL_STATS="$tmp/s.json" \
            "$mpiexec" -n "$p" -genv LD_PRELOAD "$lib" \
            "$build/bench/allreduce_bench" -n "$n" -r "$repeats" -w 1 -d heavy -c "$tmp/t.csv" >/dev/null
        python3 - "$tmp/s.json" "$tmp/t.csv" "$method" >> "$csv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
n, p, tl, tm, _ = open(sys.argv[2]).read().split(",")
calls = s["calls_compressed"]
print("%s,%s,%s,%s,%.0f,%.1f,%s,%s" % (sys.argv[3], p, n, s["ratio"],
      s["bytes_sent"] / int(p) / calls, s["elements_sent"] / int(p) / calls, tl, tm))
PY
        tail -1 "$csv"
    done
done

if command -v gnuplot >/dev/null 2>&1; then
    gnuplot <<GP
set datafile separator ","
set terminal pngcairo size 1100,450 font ",10" noenhanced
set output "$res/buildup.png"
set multiplot layout 1,2 title "Gradient build-up: $n heavy-tailed floats per call, ratio 100, same data for every method"
set key top left
set xlabel "ranks"
set logscale x 2
set ylabel "KiB sent per rank per call"
set grid
plot for [m in "scalecom adacomp topk"] "< grep '^".m.",' $csv" using 2:(\$5/1024) with linespoints title m
set ylabel "time per call / PMPI_Allreduce time"
plot for [m in "scalecom adacomp topk"] "< grep '^".m.",' $csv" using 2:(\$7/\$8) with linespoints title m
unset multiplot
GP
    echo "plot: $res/buildup.png"
fi
