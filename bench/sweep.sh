#!/bin/bash
# Size sweep: the preloaded MPI_Allreduce against MPICH's own PMPI_Allreduce,
# timed in the same run by allreduce_bench, for every size x method x transport.
#
#   bench/sweep.sh [--quick] [--sizes "1K 4K 1M 100000000"] [--net shm|tcp]
#                  [--methods "mpich dense scalecom-exact ..."]
#                  [--transports "ucx mpi"] [--ranks P] [--ratio R]
#                  [--data heavy|uniform] [--repeats N] [--tag TAG]
#                  [--wait-load L] [--timeout S]
#
# Sizes are in bytes of MPI_FLOAT data; K and M are binary (1K = 1024 bytes =
# 256 floats), a plain number is bytes (100000000 = 25M floats = "100 MB").
# Default: 1K 4K 16K 64K 256K 1M 4M 16M 64M 100000000 (about 4 to 6 minutes
# on a 2-core VM); --quick: 4K 64K 1M 16M 100000000 with fewer repeats.
#
# Methods (each a separate mpiexec, so the library is configured at MPI_Init):
#   mpich           COMPCOLL_METHOD=none: MPI_Allreduce goes straight to MPICH,
#                   so its ratio is the noise floor of the comparison (ideal 1)
#   dense           libcompcoll's own dense all-reduce (fp32 on the wire)
#   scalecom-exact, scalecom-chunk, scalecom-sample
#                   ScaleCom, ratio R (default 100), COMPCOLL_SELECT=...
#   scalecom-fp16, scalecom-bf16
#                   ScaleCom, exact selection, values as fp16 / bf16 on the wire
# Transports: COMPCOLL_TRANSPORT=ucx (the library's own UCX context) and mpi
# (PMPI collectives).  mpich runs once, under the transport column "-".
#
# --net shm (default): MPICH and our UCX context pick their defaults on one
#   host (MPICH: its CH4 POSIX shared memory; ours: UCX posix/cma).
# --net tcp: every byte goes through the kernel's TCP on loopback: MPICH with
#   MPIR_CVAR_NOLOCAL=1 (no shared-memory path) and UCX_TLS=tcp, our context
#   with COMPCOLL_UCX_TLS=tcp.  Both sides then pay the same socket copies.
#
# COMPCOLL_MIN_COUNT=1 so that even 1 KB calls are compressed.  Every figure
# is the median over repeats of the slowest rank's time (allreduce_bench);
# ratio = libcompcoll time / PMPI_Allreduce time (below 1: we are faster).
# Per call, from the statistics JSON: bytes each rank sent and the mean
# seconds in selection, host passes and transport.
#
# The machine's 1-minute load average at the start of each run goes into the
# CSV (load1): on a shared 2-core machine other jobs distort the figures;
# --wait-load L waits (up to 5 minutes per run) until it is below L.
#
# Every run is limited to --timeout seconds (default 180).  MPICH 4.0.2 over
# UCX tcp hangs in about half of the runs in PMPI_Finalize after a reduce
# (a plain MPI program shows it without libcompcoll): a run
# whose figures and statistics are written is stopped 5 s later
# (bench/run_guard.sh), its figures kept, and the CSV's exit column says
# "hang" (0: clean exit; 124: timed out).
#
# Writes bench/results/sweep-<tag>.csv and sweep-<tag>.png (tag default:
# <net>-p<ranks>[-quick]).  The build directory is $LIBCOMPCOLL_BUILDDIR
# (default _build/ at the top of the tree).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/build_env.sh"

quick=0 sizes="" net=shm wait_load="" tmo=180 ranks=2 ratio=100 data=heavy repeats="" tag=""
methods="mpich dense scalecom-exact scalecom-chunk scalecom-sample scalecom-fp16 scalecom-bf16"
transports="ucx mpi"
usage() { sed -n '2,51p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --sizes) sizes=$2; shift ;;
    --net) net=$2; shift ;;
    --methods) methods=$2; shift ;;
    --transports) transports=$2; shift ;;
    --ranks) ranks=$2; shift ;;
    --ratio) ratio=$2; shift ;;
    --data) data=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --tag) tag=$2; shift ;;
    --wait-load) wait_load=$2; shift ;;
    --timeout) tmo=$2; shift ;;
    -h | --help) usage 0 ;;
    *) echo "sweep.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
case $net in shm | tcp) ;; *) echo "sweep.sh: --net shm|tcp" >&2; exit 2 ;; esac
for f in "$lib" "$bench"; do
    [ -e "$f" ] || { echo "sweep.sh: $f missing; build first (LIBCOMPCOLL_BUILDDIR=$build)" >&2; exit 1; }
done
if [ -z "$sizes" ]; then
    if [ $quick = 1 ]; then
        sizes="4K 64K 1M 16M 100000000"
    else
        sizes="1K 4K 16K 64K 256K 1M 4M 16M 64M 100000000"
    fi
fi
suffix=""
[ $quick = 1 ] && suffix=-quick
tag=${tag:-$net-p$ranks$suffix}
res="$top/bench/results"
csv="$res/sweep-$tag.csv"
png="$res/sweep-$tag.png"
mkdir -p "$res"
tmp=$(mktemp -d)
run_pid=""
. "$top/bench/run_guard.sh"
trap '[ -n "$run_pid" ] && kill -TERM "$run_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

to_bytes() {
    case $1 in
    *K) echo $((${1%K} * 1024)) ;;
    *M) echo $((${1%M} * 1048576)) ;;
    *) echo "$1" ;;
    esac
}
# repeats and warm-up calls by size: many for microsecond calls, few for 100 MB
plan() {
    local b=$1 r w
    if [ "$b" -le 65536 ]; then r=200 w=20
    elif [ "$b" -le 1048576 ]; then r=50 w=5
    elif [ "$b" -le 16777216 ]; then r=15 w=2
    else r=7 w=1
    fi
    [ $quick = 1 ] && r=$(((r + 1) / 2))
    [ -n "$repeats" ] && r=$repeats
    echo "$r $w"
}

netenv=()
if [ "$net" = tcp ]; then
    netenv=(UCX_TLS=tcp MPIR_CVAR_NOLOCAL=1 COMPCOLL_UCX_TLS=tcp)
fi

echo "tag,net,ranks,method,transport,select,wire,bytes,elements,repeats,t_lib_s,t_pmpi_s,ratio,bytes_per_rank_per_call,select_s_per_call,host_s_per_call,comm_s_per_call,load1,exit" > "$csv"
echo "== sweep $tag: net=$net ranks=$ranks sizes=[$sizes] -> $csv"
printf "%-16s %-4s %10s %12s %12s %8s\n" method tr bytes t_lib_s t_pmpi_s ratio
start=$(date +%s)
for s in $sizes; do
    bytes=$(to_bytes "$s")
    n=$((bytes / 4))
    read -r r w < <(plan "$bytes")
    for m in $methods; do
        sel=exact wire=fp32
        case $m in
        mpich) method=none ;;
        dense) method=dense ;;
        scalecom-exact | scalecom-chunk | scalecom-sample) method=scalecom sel=${m#scalecom-} ;;
        scalecom-fp16 | scalecom-bf16) method=scalecom wire=${m#scalecom-} ;;
        *) echo "sweep.sh: unknown method $m" >&2; exit 2 ;;
        esac
        trs=$transports
        [ $m = mpich ] && trs=-
        for tr in $trs; do
            rm -f "$tmp/t.csv" "$tmp/s.json"
            if [ -n "$wait_load" ]; then
                for ((i = 0; i < 60; i++)); do
                    awk -v l="$wait_load" '{exit !($1 < l)}' /proc/loadavg && break
                    sleep 5
                done
            fi
            load1=$(cut -d' ' -f1 /proc/loadavg)
            run_guarded "$tmo" "$tmp/t.csv" "$tmp/s.json" -- \
                env "${netenv[@]}" COMPCOLL_METHOD=$method COMPCOLL_SELECT=$sel \
                COMPCOLL_WIRE_TYPE=$wire COMPCOLL_TRANSPORT=${tr/-/ucx} \
                COMPCOLL_RATIO="$ratio" COMPCOLL_MIN_COUNT=1 \
                COMPCOLL_STATS="$tmp/s.json" \
                "$mpiexec" -n "$ranks" -genv LD_PRELOAD "$lib" \
                "$bench" -n "$n" -r "$r" -w "$w" -d "$data" -c "$tmp/t.csv" \
                > "$tmp/out" 2>&1
            rc=$run_status
            if [ ! -s "$tmp/t.csv" ]; then
                echo "sweep.sh: $m/$tr at $bytes bytes failed (exit $rc):" >&2
                cat "$tmp/out" >&2
                continue
            fi
            [ "$rc" = 0 ] || echo "sweep.sh: $m/$tr at $bytes bytes: measured; exit: $rc" >&2
            python3 - "$tmp/t.csv" "$tmp/s.json" >> "$csv" \
                "$tag,$net,$ranks,$m,$tr,$sel,$wire,$bytes" "$r" "$load1,$rc" <<'PY'
import json, os, sys
n, p, tl, tm, ratio = open(sys.argv[1]).read().strip().split(",")
extra = ["", "", "", ""]
if os.path.exists(sys.argv[2]):
    s = json.load(open(sys.argv[2]))
    calls = s["calls_compressed"] + s["calls_dense"]
    if calls:
        extra = ["%.0f" % (s["bytes_sent"] / int(p) / calls)] + \
                ["%.9f" % (s[k] / calls) for k in
                 ("time_select_s", "time_host_s", "time_comm_s")]
print(",".join([sys.argv[3], n, sys.argv[4], tl, tm, ratio] + extra + [sys.argv[5]]))
PY
            IFS=, read -r _ _ _ _ _ _ _ _ _ _ tl tm ra _ < <(tail -1 "$csv")
            printf "%-16s %-4s %10s %12s %12s %8s\n" "$m" "$tr" "$bytes" "$tl" "$tm" "$ra"
        done
    done
done
echo "== $(($(date +%s) - start)) s; $csv"

if command -v gnuplot >/dev/null 2>&1; then
    panels=""
    for tr in $transports; do panels="$panels $tr"; done
    np=$(echo $panels | wc -w)
    gnuplot <<GP
set datafile separator ","
set terminal pngcairo size $((560 * np + 40)),480 font ",10" noenhanced
set output "$png"
set multiplot layout 1,$np title "libcompcoll / MPICH PMPI_Allreduce, same run: $ranks ranks, net=$net, $data data, scalecom ratio $ratio (below 1: faster)"
set logscale xy
set xlabel "message size (bytes)"
set ylabel "time / PMPI_Allreduce time"
set format x "%.0s%cB"
set grid
set key top right font ",9"
methods = "$methods"
do for [tr in "$panels"] {
    set title "COMPCOLL_TRANSPORT=".tr
    plot for [m in methods] "< awk -F, -v m=".m." -v t=".tr." 'NR>1 && \$4==m && (\$5==t || \$5==\"-\")' $csv" \
         using 8:13 with linespoints title m, 1 with lines lc rgb "black" dt 2 notitle
}
unset multiplot
GP
    echo "plot: $png"
fi
