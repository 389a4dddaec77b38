#!/bin/sh
# The README's main job: real data-parallel training on Fashion-MNIST,
# dense against compressed.  The same plain MPI trainer (examples/fmnist)
# trains the same model twice: with MPICH's own dense MPI_Allreduce, then
# with libcompcoll preloaded by compcoll-run (ScaleCom).  Prints a
# side-by-side table and writes per-epoch CSV and a PNG plot into the
# build's demo/ folder.
#   scripts/demo.sh [--no-build] [--model mlp|cnn] [--opt sgd|adam|novograd]
#       [--epochs N] [--ranks P] [--ratio R] [--subset N|all] [-- TRAINER-OPTION...]
# Defaults: mlp, sgd, 3 epochs, 4 ranks, ratio 100, the first 30000 training
# images (a few minutes on 2 cores).  COMPCOLL_* variables apply to the
# compressed run; options after -- go to both runs (fmnist --help).
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
model=mlp opt=sgd epochs=3 ranks=4 ratio=100 subset=30000 do_build=1

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "demo: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
number() { # NAME VALUE: a positive integer
    case "$2" in
        ''|*[!0-9]*|0) die "$1 '$2': expected a positive integer" ;;
    esac
}
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) do_build=0; shift ;;
        --model) need "$@"; model=$2; shift 2 ;;
        --opt) need "$@"; opt=$2; shift 2 ;;
        --epochs) need "$@"; number "$1" "$2"; epochs=$2; shift 2 ;;
        --ranks) need "$@"; number "$1" "$2"; ranks=$2; shift 2 ;;
        --ratio) need "$@"; number "$1" "$2"; ratio=$2; shift 2 ;;
        --subset) need "$@"
            [ "$2" = all ] || number "$1" "$2"
            subset=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option '$1' (--help lists the options)" ;;
    esac
done
case "$model" in mlp|cnn) ;; *) die "--model '$model': expected mlp or cnn" ;; esac
case "$opt" in sgd|adam|novograd) ;; *) die "--opt '$opt': expected sgd, adam or novograd" ;; esac

if [ $do_build -eq 1 ]; then
    "$top/scripts/install-deps.sh"
    "$top/scripts/build.sh"
fi
[ -f "$build/Makefile" ] || die "no build in $build (run without --no-build, or set LIBCOMPCOLL_BUILDDIR)"
mpiexec=$(sed -n "s/^MPIEXEC = //p" "$build/Makefile")
lib="$build/interpose/.libs/libcompcoll.so"
prog="$build/examples/fmnist/fmnist"
out="$build/demo"
if [ ! -x "$prog" ]; then
    echo "demo: $prog is not built: configure found no OpenBLAS or zlib" >&2
    echo "demo: (apt-get install libopenblas-dev zlib1g-dev, then configure again)" >&2
    exit 1
fi
[ -n "$mpiexec" ] || { echo "demo: configure found no mpiexec" >&2; exit 1; }
[ -r "$lib" ] || { echo "demo: $lib is not built" >&2; exit 1; }
mkdir -p "$out"

. "$top/scripts/fmnist_env.sh"
fmnist_run_env "$ranks"
if [ "$fmnist_oversubscribed" = 1 ]; then
    echo "demo: $ranks ranks on $cores cores: MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM=recursive_doubling"
    echo "demo: (the fewest rounds: oversubscribed MPICH ranks spin while they wait)"
fi
set -- --model "$model" --opt "$opt" --epochs "$epochs" "$@"
[ "$subset" = all ] || set -- --train-subset "$subset" "$@"

now() { date +%s.%N; }

# train NAME TRAINER-OPTION...: one run (dense: nothing preloaded; else
# through compcoll-run), its output also in $out/fmnist-NAME.txt
train() {
    name=$1
    shift
    rm -f "$out/fmnist-$name.csv" "$out/fmnist-$name.rc"
    start=$(now)
    {
        if [ "$name" = dense ]; then
            env -u LD_PRELOAD "$mpiexec" -n "$ranks" "$prog" "$@" --csv "$out/fmnist-$name.csv"
        else
            sh "$build/tools/compcoll-run" "$mpiexec" -n "$ranks" "$prog" "$@" \
                --csv "$out/fmnist-$name.csv"
        fi
        echo $? >"$out/fmnist-$name.rc"
    } | tee "$out/fmnist-$name.txt"
    echo "$start $(now)" >"$out/fmnist-$name.time"
    rc=$(cat "$out/fmnist-$name.rc")
    if [ "$rc" -ne 0 ]; then
        echo "demo: the $name run failed (exit $rc); its output is in $out/fmnist-$name.txt" >&2
        exit 1
    fi
}

echo "== dense: MPICH's MPI_Allreduce, $ranks ranks"
echo "   $mpiexec -n $ranks $prog $*"
train dense "$@"
echo
echo "== compressed: libcompcoll preloaded (${COMPCOLL_METHOD:-scalecom}, COMPCOLL_RATIO=$ratio)"
echo "   compcoll-run $mpiexec -n $ranks $prog $*"
rm -f "$out/fmnist-stats.json"
COMPCOLL_RATIO=$ratio
COMPCOLL_STATS="$out/fmnist-stats.json"
COMPCOLL_LIBRARY="$lib"
export COMPCOLL_RATIO COMPCOLL_STATS COMPCOLL_LIBRARY
train scalecom "$@"
echo

python3 - "$out" "$ranks" "$cores" <<'PY' | tee "$out/fmnist-summary.txt"
import csv, json, os, re, sys

d, ranks, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def run(name):
    rows = list(csv.DictReader(open("%s/fmnist-%s.csv" % (d, name))))
    text = open("%s/fmnist-%s.txt" % (d, name)).read()
    t0, t1 = map(float, open("%s/fmnist-%s.time" % (d, name)).read().split())
    m = re.search(r"([0-9.]+) s of it in (\d+) gradient all-reduces", text)
    p = re.search(r"fmnist: \w+, (\d+) parameters in (\d+) tensors", text)
    return dict(last=rows[-1], wall=t1 - t0, comm=float(m.group(1)),
                calls=int(m.group(2)), params=int(p.group(1)),
                tensors=int(p.group(2)))

dense, comp = run("dense"), run("scalecom")
s = json.load(open(d + "/fmnist-stats.json"))

def size(b):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return "%.2f %s" % (b / scale, unit)
    return "%d B" % b

big = sum(t["count"] for t in s["tensors"])
ratio = s["bytes_dense"] / s["bytes_sent"] if s["bytes_sent"] else float("inf")
label = "%s (libcompcoll, %s, ratio %s)" % (s["method"], s["transport"], s.get("ratio", "?"))
rows = [
    ("final test accuracy", "%.2f%%" % float(dense["last"]["test_acc"]),
     "%.2f%%" % float(comp["last"]["test_acc"])),
    ("final test loss", "%.4f" % float(dense["last"]["test_loss"]),
     "%.4f" % float(comp["last"]["test_loss"])),
    ("final train loss", "%.4f" % float(dense["last"]["train_loss"]),
     "%.4f" % float(comp["last"]["train_loss"])),
    ("gradient bytes on the wire (1)", size(s["bytes_dense"]), size(s["bytes_sent"])),
    ("compression ratio", "1x", "%.1fx" % ratio),
    ("gradient all-reduces compressed", "0 of %d" % dense["calls"],
     "%d of %d" % (s["calls_compressed"], comp["calls"])),
    ("time in gradient all-reduces (2)", "%.1f s" % dense["comm"], "%.1f s" % comp["comm"]),
    ("wall time (2)", "%.1f s" % dense["wall"], "%.1f s" % comp["wall"]),
]
print("%-34s %-16s %s" % ("", "dense (MPICH)", label))
for r in rows:
    print("%-34s %-16s %s" % r)
print()
print("(1) all ranks together, for the %d tensors of at least COMPCOLL_MIN_COUNT"
      % len(s["tensors"]))
print("    elements: %d of the model's %d parameters (%.1f%%)."
      % (big, dense["params"], 100.0 * big / dense["params"]))
print("    Dense: what a ring all-reduce of them carries (bytes_dense);")
print("    compressed: what libcompcoll sent (bytes_sent).  The small tensors")
print("    (biases) go to MPI unchanged in both runs.")
print("(2) rank 0's time inside the gradient MPI_Allreduce calls; wall time of")
print("    the whole mpiexec run, start-up and data loading included.")
if cores and ranks > cores:
    print("    %d ranks on %d cores: the times are mostly waiting for descheduled"
          % (ranks, cores))
    print("    ranks (MPICH spins; libcompcoll's transport yields), not bandwidth.")
alg = os.environ.get("MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM")
if alg:
    print("    MPICH's all-reduce algorithm in both runs: %s." % alg)
PY

if command -v gnuplot >/dev/null 2>&1; then
    if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
        term="pngcairo size 1000,420 font ',10'"
    else
        term="png size 1000,420"
    fi
    gnuplot <<EOF
set terminal $term
set output '$out/fmnist.png'
set datafile separator ','
set key autotitle columnhead
set multiplot layout 1,2 title "Fashion-MNIST $model, $opt, $ranks ranks: dense vs libcompcoll (ratio $ratio)"
set xlabel 'epoch'
set ylabel 'test accuracy (%)'
set key bottom right
set grid
set xtics 1
plot '$out/fmnist-dense.csv' using 1:4 with linespoints lw 2 pt 7 title 'dense (MPICH)', \
     '$out/fmnist-scalecom.csv' using 1:4 with linespoints lw 2 pt 5 title 'libcompcoll'
set ylabel 'loss'
set key top right
plot '$out/fmnist-dense.csv' using 1:3 with linespoints lw 2 pt 7 lc 1 title 'dense, test', \
     '$out/fmnist-dense.csv' using 1:2 with linespoints lw 1 pt 6 lc 1 dt 2 title 'dense, train', \
     '$out/fmnist-scalecom.csv' using 1:3 with linespoints lw 2 pt 5 lc 2 title 'libcompcoll, test', \
     '$out/fmnist-scalecom.csv' using 1:2 with linespoints lw 1 pt 4 lc 2 dt 2 title 'libcompcoll, train'
unset multiplot
EOF
    plot="$out/fmnist.png"
else
    plot="(no plot: gnuplot not installed)"
fi
echo
echo "Per-epoch metrics: $out/fmnist-dense.csv, $out/fmnist-scalecom.csv"
echo "Plot: $plot"
echo "Statistics: $out/fmnist-stats.json; table: $out/fmnist-summary.txt"
