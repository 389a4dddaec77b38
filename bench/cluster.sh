#!/bin/bash
# The emulated cluster: H "hosts" as network namespaces on this machine, each
# with one link to a switch, every link rate-limited (and delayed, where the
# kernel has netem), R MPICH ranks per host, UCX over TCP on those links.
# Times the preloaded MPI_Allreduce against MPICH's own PMPI_Allreduce in
# the same run (allreduce_bench), at one size, and sets each figure beside
# its floor.
#
#   bench/cluster.sh [--hosts "2 4"] [--ranks-per-host R]
#                    [--rates "1gbit 10gbit"] [--delay D] [--elements N]
#                    [--repeats K] [--warmup W] [--ratio X]
#                    [--methods "scalecom-exact scalecom-sample dense"]
#                    [--data heavy|uniform] [--mtu BYTES] [--timeout S]
#                    [--csv PATH]
#
# Needs root (it makes namespaces, veths, a bridge and tc qdiscs) and refuses
# otherwise.  Defaults: hosts 2 and 4, 1 rank per host, 1gbit and 10gbit, 25M
# floats (100 MB) of heavy-tailed data, 3 repeats after 1 warm-up, methods
# scalecom-exact and scalecom-sample at ratio 100.  Methods:
# scalecom-<exact|chunk|sample>[-fp16|-bf16], scalecom-fp16, scalecom-bf16 (exact
# selection), adacomp, topk (exact selection; their exchange grows with the
# hosts), dense (libcompcoll's dense all-reduce over its UCX transport); a
# suffix "+hier" runs a method hierarchically (needs --ranks-per-host 2 or
# more: the ranks of a host sum on their node leader, the leaders run the
# method between the hosts), then a suffix ":mpi" runs it over
# COMPCOLL_TRANSPORT=mpi (PMPI collectives) instead of ucx, e.g.
# "scalecom-chunk scalecom-chunk+hier".  MPICH's dense all-reduce is timed in
# every run (PMPI_Allreduce), so it needs no run of its own.
#
# The network (everything is named after a run id, cc<pid>, and nothing
# outside the run's own namespaces is addressed):
#   cc<pid>sw        a namespace holding the switch: bridge "br0" with ports
#                    "p0".."p<H-1>"
#   cc<pid>h0..      the hosts (2 to 8); each has lo and "ccveth", the
#                    other end of its port's veth pair, address
#                    10.A.B.(i+1)/24 where A = 100 + pid % 100,
#                    B = pid / 100 % 250 (private, and only visible inside
#                    these namespaces anyway), and R ranks (1 to 8).  All
#                    H x R ranks share this machine's cores: with more ranks
#                    than cores they crawl, and their times say little
#                    (bytes and floors still hold).
#   tc               both directions of every link are shaped: HTB at RATE on
#                    the host's ccveth (upload) and on the switch's port
#                    (download), burst RATE x 100 us (at least 16 KB); under
#                    each HTB class a netem qdisc adds DELAY/2, so a packet
#                    from host to host waits DELAY one way (round trip
#                    2 x DELAY).  Default DELAY: 50 us at 1gbit, 20 us at
#                    10gbit (one-way, through one switch: typical of
#                    1 GbE / 10 GbE TCP in one rack).  Kernels without
#                    sch_netem (CONFIG_NET_SCH_NETEM) get the rate limit only;
#                    the script says so and the CSV's delay_us column is then
#                    "0(no netem)".  For 100 MB calls the delay is a small
#                    term either way: a 2-rank ring makes 2(p-1) steps.
#   MPI              mpiexec.mpich (Hydra) runs inside host 0's namespace
#                    with -iface ccveth (proxies connect back to host 0's
#                    address) and -launcher ssh -launcher-exec <wrapper>; the
#                    wrapper takes "-x ADDRESS COMMAND..." from Hydra, maps
#                    the address to this run's namespace (it refuses any
#                    other) and runs the command there with
#                    "ip netns exec cc<pid>hI sh -c COMMAND".  The hostfile
#                    gives each host's address R slots ("ADDRESS:R"), and
#                    mpiexec runs H x R ranks with -ppn R: one Hydra proxy per
#                    host, ranks placed in blocks (ranks 0..R-1 on host 0,
#                    R..2R-1 on host 1, ...), the ranks of a host sharing its
#                    namespace and address.
#   MPICH            UCX_TLS=tcp UCX_NET_DEVICES=ccveth between hosts, and
#                    shared memory between the ranks of one host, as on a
#                    real cluster: MPIR_CVAR_NOLOCAL=0.  MPICH's node map
#                    comes from Hydra, one node per proxy, so two ranks are
#                    local exactly when they share a host namespace, and
#                    MPICH's node-aware collectives see the hosts.  /dev/shm
#                    is shared by all namespaces, but a node's segments are
#                    named for that node's ranks alone.  (MPIR_CVAR_NOLOCAL=1
#                    would make every rank a node of its own: no shared
#                    memory even within a host, and one rank per node for
#                    MPI_Comm_split_type.)
#   libcompcoll      its own UCX context: COMPCOLL_UCX_TLS=tcp
#                    COMPCOLL_UCX_NET_DEVICES=ccveth, no shared-memory
#                    transport: UCX 1.13 finds a peer reachable over shared
#                    memory by boot id and IPC namespace, which every
#                    emulated host shares, so sysv/posix/cma would carry
#                    host-to-host traffic past the links.  With R > 1 a flat
#                    method's hops between ranks of one host therefore go by
#                    TCP to the host's own address, which the kernel keeps
#                    on the namespace's loopback (not shaped, not on the
#                    link): no link time, more CPU than shared memory on a
#                    real node.  A "+hier" method runs with
#                    COMPCOLL_HIERARCHICAL=y and COMPCOLL_RANKS_PER_NODE=auto:
#                    MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) groups the
#                    ranks of one host (MPICH's node map above), and the
#                    node's sum and broadcast go through MPICH's shared
#                    memory; the script checks the library's own count of
#                    nodes (its info line "... on H nodes") and drops a run
#                    where that differs from H.  Flat methods run with
#                    COMPCOLL_HIERARCHICAL=n, so "auto" does not decide for
#                    them.
# Everything is removed on exit, on failure, on Ctrl-C and on TERM (trap):
# processes left in the run's namespaces are killed, the namespaces deleted
# (which deletes their veths, bridge and qdiscs), the temporary folder
# removed.
#
# The floor of a figure (what no implementation of the compressed call on
# this machine can beat, per call):
#   t_mem   = one host memory pass over the gradient: the fastest of 20
#             memcpys of the N floats (4N bytes read, 4N written; a floor
#             takes the best case), measured by bench/memcpy_bench.c right
#             before the runs of each host count (compiled here with
#             ${CC:-cc} -O2; the median goes into the CSV too).  The
#             compressed call must at least read g and write out.
#   t_wire  = the bytes a host's link carries per call / link rate, taken
#             as the bytes one rank of the compressed exchange sent per call
#             (indices, values, headers): bytes_sent / q / calls from the
#             COMPCOLL_STATS JSON of the same run (the CSV's
#             bytes_per_rank_per_call), q the ranks in the exchange: all
#             H x R of them for a flat method, the H node leaders for
#             "+hier" (the JSON counts only the leaders' exchange).  Each
#             host has its own full-duplex link.  With R = 1 its one rank's
#             bytes are what it carries.  Under +hier the node leader is the
#             only rank of its host on the network (the node's sum and
#             broadcast stay in the host).  Flat with R > 1 a link carries
#             about one rank's bytes too, not R ranks': the transport's
#             rings go in rank order (r sends to r + 1) and ranks sit in
#             blocks, so of a host's R ranks only the last sends the ring's
#             values off the host (one rank's ring bytes per link, exactly)
#             and the other R - 1 hops stay in it.  The binomial broadcast of
#             the indices from the call's leader crosses a link 1 to 2.4
#             times per call on average (2 to 8 hosts, 2 to 8 ranks each),
#             where one rank's share is (p-1)/p < 1 copy: t_wire is then a
#             little low, still a floor.  R ranks' bytes would hold for ranks
#             placed round-robin, where every hop leaves its host.
#   floor   = max(t_mem, t_wire)
#   floor_speedup = t_pmpi / floor: the best speedup over the measured MPICH
#             time a compressed call could show here; speedup = t_pmpi / t_lib
#             is what it showed; of_floor = floor / t_lib (1 = at the floor).
# For reference, t_dense_wire = 2(H-1)/H x 4N bytes / rate is what a
# bandwidth-optimal dense all-reduce between the H hosts needs on a link
# (ranks of one host summing in shared memory first; MPICH's own floor).
# The per-call times select_s, host_s, comm_s are means over the ranks of
# the exchange (the leaders, under +hier), node_s over all ranks: the
# node's sum and broadcast (0 for flat runs).
#
# Each run is limited to --timeout seconds (default 300).  MPICH 4.0.2 over
# UCX tcp hangs in about half of the runs in PMPI_Finalize after a reduce
# (a plain MPI program shows it without libcompcoll): a run
# whose figures and statistics are written is stopped 5 s later
# (bench/run_guard.sh), its figures kept, and the CSV's exit column says
# "hang" (0: clean exit; 124: timed out).
#
# Writes (appends rows to) bench/results/cluster.csv, one row per
# hosts x rate x method (the column run names the run, ranks_per_host gives
# R), prints a table, and plots this run's speedups beside their floors in
# cluster.png (beside the CSV; gnuplot).  The build directory is
# $LIBCOMPCOLL_BUILDDIR (default _build/ at the top of the tree).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/build_env.sh"
. "$top/bench/netns.sh"

hosts_list="2 4" rph=1 rates="1gbit 10gbit" delay="" n=25000000 repeats=3
warmup=1 ratio=100 data=heavy mtu=1500 tmo=300 csv="$top/bench/results/cluster.csv"
methods="scalecom-exact scalecom-sample"
usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
    case $1 in
    --hosts) hosts_list=$2; shift ;;
    --ranks-per-host) rph=$2; shift ;;
    --rates) rates=$2; shift ;;
    --delay) delay=$2; shift ;;
    --elements) n=$2; shift ;;
    --repeats) repeats=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --ratio) ratio=$2; shift ;;
    --methods) methods=$2; shift ;;
    --data) data=$2; shift ;;
    --mtu) mtu=$2; shift ;;
    --timeout) tmo=$2; shift ;;
    --csv) csv=$2; shift ;;
    -h | --help) usage 0 ;;
    *) echo "cluster.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done

die() { echo "cluster.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, veth, bridge, tc); run it as root, e.g. sudo $0"
for c in ip tc "$mpiexec" python3 timeout; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (apt-get install -y iproute2 mpich python3)"
done
for f in "$lib" "$bench"; do
    [ -e "$f" ] || die "$f missing; build first (LIBCOMPCOLL_BUILDDIR=$build)"
done
maxh=0
for h in $hosts_list; do
    case $h in 2 | 3 | 4 | 5 | 6 | 7 | 8) ;; *) die "--hosts: 2 to 8 hosts, got $h" ;; esac
    [ "$h" -gt $maxh ] && maxh=$h
done
case $rph in [1-8]) ;; *) die "--ranks-per-host: 1 to 8 ranks, got $rph" ;; esac

# a method name -> base (scalecom-chunk...), hier (y|n), tr (ucx|mpi),
# method, sel, wire: the settings of its run
parse_method() {
    local m=$1
    sel=exact wire=fp32 tr=ucx hier=n base=$m
    case $base in *:mpi | *:ucx) tr=${base##*:} base=${base%:*} ;; esac
    case $base in *+hier) hier=y base=${base%+hier} ;; esac
    case $base in
    dense | adacomp | topk) method=$base ;;
    scalecom-exact | scalecom-chunk | scalecom-sample) method=scalecom sel=${base#scalecom-} ;;
    scalecom-fp16 | scalecom-bf16) method=scalecom wire=${base#scalecom-} ;;
    scalecom-exact-fp16 | scalecom-chunk-fp16 | scalecom-sample-fp16 | \
        scalecom-exact-bf16 | scalecom-chunk-bf16 | scalecom-sample-bf16)
        method=scalecom sel=${base#scalecom-} wire=${sel#*-} sel=${sel%-*} ;;
    *) die "unknown method $m" ;;
    esac
    [ $hier = n ] || [ "$rph" -gt 1 ] ||
        die "method $m: +hier needs --ranks-per-host 2 or more (one rank per host has no node to sum on)"
}
for m in $methods; do parse_method "$m"; done

for r in $rates; do rate_bps "$r" >/dev/null; done

tmp=$(mktemp -d /tmp/cc$$.XXXXXX)
run_pid=""
. "$top/bench/run_guard.sh"

netns_traps

netns_up "$maxh" "$mtu" "$tmp" || die "cannot make the emulated cluster"
id=$netns_id net=$netns_net netem=$netns_netem

${CC:-cc} -O2 -o "$tmp/memcpy_bench" "$top/bench/memcpy_bench.c" || die "cannot build memcpy_bench"

mkdir -p "$(dirname "$csv")"
[ -f "$csv" ] || echo "date,hosts,ranks_per_host,rate,delay_us,mtu,method,select,wire,elements,repeats,t_lib_s,t_pmpi_s,ratio,speedup,bytes_per_rank_per_call,t_mem_s,t_mem_median_s,t_wire_s,floor_s,floor_speedup,of_floor,t_dense_wire_s,select_s,host_s,comm_s,node_s,load1,run,exit" > "$csv"

echo "== run $id: hosts [$hosts_list] x $rph rank(s), rates [$rates], $n floats ($data), methods [$methods], net $net.0/24, netem=$netem"
printf "%-5s %-3s %-7s %-24s %10s %10s %8s %9s %9s %9s %9s\n" hosts R rate method t_lib_s t_pmpi_s speedup B/rank floor_s floor_spd of_floor
for h in $hosts_list; do
    p=$((h * rph))
    read -r tmem_med tmem < <("$tmp/memcpy_bench" -n "$n" -r 20 | awk '{print $4, $7}')
    for rate in $rates; do
        d=${delay:-$(default_delay_us "$rate")}
        netns_shape "$rate" "$d"
        dcol=$d
        [ $netem = 0 ] && dcol="0(no netem)"
        for m in $methods; do
            parse_method "$m"
            name=$base
            if [ $hier = y ]; then
                name=$base+hier
                henv=(COMPCOLL_HIERARCHICAL=y COMPCOLL_RANKS_PER_NODE=auto
                      COMPCOLL_LOG_LEVEL=info)
            else
                henv=(COMPCOLL_HIERARCHICAL=n)
            fi
            rm -f "$tmp/t.csv" "$tmp/s.json"
            load1=$(cut -d' ' -f1 /proc/loadavg)
            netns_mpiexec_argv "$h" "$rph"
            run_guarded "$tmo" "$tmp/t.csv" "$tmp/s.json" -- \
                env "${henv[@]}" \
                COMPCOLL_TRANSPORT=$tr COMPCOLL_METHOD=$method \
                COMPCOLL_SELECT=$sel COMPCOLL_WIRE_TYPE=$wire \
                COMPCOLL_RATIO="$ratio" COMPCOLL_STATS="$tmp/s.json" \
                "${netns_argv[@]}" \
                -genv LD_PRELOAD "$lib" \
                "$bench" -n "$n" -r "$repeats" -w "$warmup" -d "$data" \
                -c "$tmp/t.csv" > "$tmp/out" 2>&1
            rc=$run_status
            if [ ! -s "$tmp/t.csv" ]; then
                echo "cluster.sh: $h hosts x $rph ranks, $rate, $m failed (exit $rc):" >&2
                tail -30 "$tmp/out" >&2
                continue
            fi
            if [ $hier = y ]; then
                # the library's own count: "hierarchical, P ranks on Q nodes"
                q=$(sed -n "s/.*hierarchical, $p ranks on \([0-9]*\) nodes.*/\1/p" "$tmp/out" | head -1)
                if [ "$q" != "$h" ]; then
                    echo "cluster.sh: $h hosts x $rph ranks, $rate, $m: ${q:+the library found $q nodes, not $h}${q:-no hierarchical communicator (calls passed through?)}; row dropped" >&2
                    continue
                fi
            fi
            [ "$rc" = 0 ] || echo "cluster.sh: $h hosts x $rph ranks, $rate, $m: measured; exit: $rc" >&2
            python3 - "$tmp/t.csv" "$tmp/s.json" "$(rate_bps "$rate")" "$tmem" "$tmem_med" \
                "$(date +%F),$h,$rph,$rate,$dcol,$mtu,$name:$tr,$sel,$wire" "$repeats" "$load1,$id,$rc" \
                "$h" >> "$csv" <<'PY'
import json, os, sys
n, p, tl, tm, ratio = open(sys.argv[1]).read().strip().split(",")
n, p, tl, tm = int(n), int(p), float(tl), float(tm)
bps, tmem, hosts = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[9])
s = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else None
calls = (s["calls_compressed"] + s["calls_dense"]) if s else 0
hcalls = s.get("calls_hierarchical", 0) if s else 0
q = hosts if hcalls else p  # the ranks of the compressed exchange
nan = float("nan")
if calls:
    b = s["bytes_sent"] / q / calls
    # the JSON's times are means over all p ranks; only the q take part
    sel, host, comm = (s[k] * p / q / calls for k in
                       ("time_select_s", "time_host_s", "time_comm_s"))
    node = s.get("time_node_s", 0.0) / hcalls if hcalls else 0.0
else:
    b, sel, host, comm, node = nan, nan, nan, nan, nan
twire = b * 8 / bps  # one host link: see the header
floor = max(tmem, twire)
tdense = 2 * (hosts - 1) / hosts * 4 * n * 8 / bps
print("%s,%d,%s,%.9f,%.9f,%s,%.3f,%.0f,%.6f,%s,%.6f,%.6f,%.2f,%.3f,%.6f,%.6f,%.6f,%.6f,%.6f,%s" % (
    sys.argv[6], n, sys.argv[7], tl, tm, ratio, tm / tl, b, tmem, sys.argv[5],
    twire, floor, tm / floor, floor / tl, tdense, sel, host, comm, node,
    sys.argv[8]))
PY
            IFS=, read -r _ _ _ _ _ _ _ _ _ _ _ tl tm _ sp b _ _ _ fl fs of _ < <(tail -1 "$csv")
            printf "%-5s %-3s %-7s %-24s %10.4f %10.4f %8s %9s %9.4f %9s %9s\n" \
                "$h" "$rph" "$rate" "$m" "$tl" "$tm" "$sp" "$b" "$fl" "$fs" "$of"
        done
    done
done
echo "== $csv"

png="${csv%.csv}.png"
if command -v gnuplot >/dev/null 2>&1 && grep -q ",$id,[^,]*\$" "$csv"; then
    python3 - "$csv" "$id" > "$tmp/plot.dat" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["run"] == sys.argv[2]]
methods = list(dict.fromkeys(r["method"] for r in rows))
def group(r):
    return (r["hosts"], r["ranks_per_host"], r["rate"])
groups = list(dict.fromkeys(group(r) for r in rows))
print("group " + " ".join(methods) + " floor")
for g in groups:
    sp = {r["method"]: r["speedup"] for r in rows if group(r) == g}
    fl = [float(r["floor_speedup"]) for r in rows
          if group(r) == g and r["method"].startswith("scalecom")]
    h, rph, rate = g
    label = "%s hosts %s" % (h, rate) if rph == "1" else \
            "%s hosts x %s ranks %s" % (h, rph, rate)
    print('"%s" ' % label + " ".join(sp.get(m, "NaN") for m in methods)
          + " %s" % (max(fl) if fl else "NaN"))
PY
    ncol=$(head -1 "$tmp/plot.dat" | wc -w)
    gnuplot <<GP
set terminal pngcairo size 900,480 font ",10" noenhanced
set output "$png"
set title "Emulated cluster, $n floats: MPICH PMPI_Allreduce time / libcompcoll time (higher is better); floor = best possible (run $id)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.5:*]
set ylabel "speedup over MPICH (same run)"
set grid ytics
set key top left
plot for [c=2:$ncol] "$tmp/plot.dat" using c:xtic(1) title columnheader(c), 1 with lines lc rgb "black" dt 2 notitle
GP
    echo "plot: $png"
fi
