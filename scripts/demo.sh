#!/bin/bash
# The README's main job: real data-parallel training on Fashion-MNIST,
# dense against compressed, on two emulated hosts joined by a 1 Gbit/s link.
# The same plain MPI trainer (examples/fmnist) trains the same model twice:
# with MPICH's own dense MPI_Allreduce, then with libcompcoll preloaded
# (its default settings: ScaleCom), and, with SGD, a third time with the
# settings libcompcoll(7) recommends for a short SGD run at 50x (bf16
# values at ratio 32 and the momentum correction, COMPCOLL_WIRE_TYPE=bf16
# COMPCOLL_RATIO=32 COMPCOLL_MOMENTUM=0.9).  The table leads with each run's
# training time to dense's final accuracy; the plot is test accuracy against
# training time.
#   scripts/demo.sh [--no-build] [--model mlp|cnn] [--opt sgd|adam|novograd]
#       [--epochs N] [--rate R] [--ranks P] [--subset N|all] [--local]
#       [-- TRAINER-OPTION...]
# Defaults: mlp, sgd, 3 epochs, the first 30000 training images, 2 emulated
# hosts (network namespaces, bench/netns.sh) with one rank each and a
# 1gbit link (--rate).  Where namespaces cannot be made (not root, no
# iproute2, a container without the right) or with --local, P ranks
# (--ranks, default 4) train on this machine's shared memory instead, and
# the demo says so.  When the compressed run ends below dense's accuracy it
# trains again for 2x the epochs (bench/tta.sh --longer 2).  A few minutes
# on 2 cores.  COMPCOLL_* variables apply to the compressed runs; options
# after -- go to every run (fmnist --help).  Writes the per-epoch CSVs, the
# statistics, the table and the plot into the build's demo/ folder.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
model=mlp opt=sgd epochs=3 ranks=4 rate=1gbit subset=30000 do_build=1 local=0

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }
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
        --local) local=1; shift ;;
        --model) need "$@"; model=$2; shift 2 ;;
        --opt) need "$@"; opt=$2; shift 2 ;;
        --epochs) need "$@"; number "$1" "$2"; epochs=$2; shift 2 ;;
        --ranks) need "$@"; number "$1" "$2"; ranks=$2; shift 2 ;;
        --rate) need "$@"; rate=$2; shift 2 ;;
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
case "$ranks" in [2-8]) ;; *) die "--ranks '$ranks': 2 to 8 ranks" ;; esac

if [ $do_build -eq 1 ]; then
    "$top/scripts/install-deps.sh"
    "$top/scripts/build.sh"
fi
[ -f "$build/Makefile" ] || die "no build in $build (run without --no-build, or set LIBCOMPCOLL_BUILDDIR)"
prog="$build/examples/fmnist/fmnist"
if [ ! -x "$prog" ]; then
    echo "demo: $prog is not built: configure found no OpenBLAS or zlib" >&2
    echo "demo: (apt-get install libopenblas-dev zlib1g-dev, then configure again)" >&2
    exit 1
fi
. "$top/bench/netns.sh"
out="$build/demo"
rm -rf "$out"
mkdir -p "$out"

settings=defaults
recommended=COMPCOLL_WIRE_TYPE=bf16,COMPCOLL_RATIO=32,COMPCOLL_MOMENTUM=0.9
[ "$opt" = sgd ] && settings="defaults $recommended"
args=(--model "$model" --opt "$opt" --epochs "$epochs" --subset "$subset"
      --longer 2 --out "$out" --tag demo --settings "$settings")
if [ $local = 0 ] && why=$(netns_usable 2>&1); then
    echo "== 2 emulated hosts (network namespaces), one rank each, a $rate link each (bench/netns.sh)"
    args+=(--hosts 2 --rates "$rate")
else
    [ $local = 1 ] || echo "demo: cannot make emulated hosts here: $why"
    echo "== $ranks ranks on this machine's shared memory (no emulated network)"
    args+=(--local --hosts "$ranks")
fi
echo "   dense: MPICH's MPI_Allreduce; compressed: libcompcoll preloaded, default settings"
[ "$opt" = sgd ] &&
    echo "   then the settings recommended for a short SGD run: ${recommended//,/ }"
"$top/bench/tta.sh" "${args[@]}" -- "$@" | tee "$out/demo.txt"

python3 - "$out" <<'PY' | tee -a "$out/demo.txt"
import csv, json, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "tta.csv"))))
comp = [r for r in rows if r["setting"] != "dense"][-1]
s = json.load(open(os.path.join(d, "tta", comp["file"] + ".json")))
def size(b):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return "%.2f %s" % (b / scale, unit)
    return "%d B" % b
print()
print("libcompcoll's last run: %s %s, %s, ratio %s; %d of its %d calls "
      "compressed;" % (s["method"], s.get("select", ""), s["transport"],
                      s.get("ratio", "?"), s["calls_compressed"],
                      s["calls_compressed"] + s["calls_dense"] +
                      s.get("calls_passthrough", 0)))
print("%s on the wire where a ring all-reduce carries %s (all ranks)." %
      (size(s["bytes_sent"]), size(s["bytes_dense"])))
print("Times: the trainer's own clock (training and evaluation), summed over "
      "epochs.")
print("Per run: %s/tta/*.csv (per epoch), *.json (statistics); plot: "
      "%s/tta.png" % (d, d))
PY
