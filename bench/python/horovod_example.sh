#!/bin/sh
# bench/python/horovod_example.sh: the Horovod example
# (examples/python/torch_horovod.py) dense and with libcompcoll preloaded,
# under four Horovod settings; prints a table and writes
# bench/results/horovod_example.csv.  Not a test (not run by make check or
# CI): it needs Horovod built against MPICH and PyTorch (about 5 GB), and a
# few minutes.
#
#   bench/python/horovod_example.sh [--epochs N] [--subset N|all] [--ranks P]
#       [--seed N] [--cycle-time MS] [--logs DIR] [--no-csv]
#       [-- EXAMPLE-OPTION...]
#
# Defaults: 3 epochs, the first 30000 training images, 2 ranks, seed 1,
# cycle time 100 ms.  Settings (each run dense, then preloaded):
#   fusion       Horovod's defaults: every 1 ms cycle fuses the gradients
#                that are ready (up to 128 MiB), so the calls' composition
#                varies from step to step
#   no-fusion    HOROVOD_FUSION_THRESHOLD=0: one call per gradient
#   whole-model  HOROVOD_FUSION_THRESHOLD=134217728 (the default 128 MiB,
#                more than the model) and HOROVOD_CYCLE_TIME=MS: a cycle
#                longer than a step's computation, so every gradient of a
#                step is ready in the same cycle and fused into one call
#                (every step then waits for a cycle)
#   groups       the example's --groups 1 (DistributedOptimizer(groups=1)),
#                Horovod's defaults otherwise: the whole model is one group,
#                all-reduced in one call once all its gradients are ready
# HOROVOD_FUSION_THRESHOLD, HOROVOD_CYCLE_TIME and HOROVOD_AUTOTUNE are
# removed from the environment of the runs, then set as above.  --logs DIR
# keeps every run's output (NAME.log) and statistics (NAME.json) in DIR.
# The venv ($HOROVOD_VENV, default venv-hvd beside the repository) is made
# on first use: pip install 'setuptools<70' wheel 'numpy<2' torch==2.1.2
# cmake, MPICC=mpicc.mpich pip install mpi4py (built from source), then
# Horovod 0.28.1 from its source distribution, with C++17 (PyTorch 2.1's
# headers need it), MPI and PyTorch only, built with mpicc.mpich and
# mpicxx.mpich.  The library is the build's ($LIBCOMPCOLL_BUILDDIR, default
# _build/), preloaded by compcoll-run with its default settings (COMPCOLL_*
# variables in the environment apply to the preloaded runs only) and
# COMPCOLL_STATS=<json>.  Columns:
#   accuracy   final test accuracy, percent (rank 0's print)
#   wire       bytes_dense / bytes_sent of the statistics JSON (what a ring
#              all-reduce of the compressed calls would carry / what was sent)
#   memories   error-feedback memories of rank 0 (the JSON's tensors array,
#              which lists rank 0's, plus tensors_unlisted), retired ones apart
#   retired    tensors_retired of the JSON (all ranks)
#   warnings   lines "COMPCOLL WARN" in the run's output (all ranks)
#   rss_mib    the largest peak RSS of the ranks (getrusage, --report-rss)
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
venv=${HOROVOD_VENV:-$(dirname "$top")/venv-hvd}
mpiexec=${MPIEXEC:-mpiexec.mpich}
epochs=3 subset=30000 ranks=2 seed=1 cycle=100 logs=
csv=$top/bench/results/horovod_example.csv

die() { echo "horovod_example: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --epochs) need "$@"; epochs=$2; shift 2 ;;
        --subset) need "$@"; subset=$2; shift 2 ;;
        --ranks) need "$@"; ranks=$2; shift 2 ;;
        --seed) need "$@"; seed=$2; shift 2 ;;
        --cycle-time) need "$@"; cycle=$2; shift 2 ;;
        --logs) need "$@"; logs=$2; shift 2 ;;
        --no-csv) csv=; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next }
                        NR > 1 { exit }' "$0"; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option '$1' (--help lists them)" ;;
    esac
done

lib=$build/interpose/.libs/libcompcoll.so
run=$build/tools/compcoll-run
example=$top/examples/python/torch_horovod.py
[ -r "$lib" ] || die "$lib is not built (scripts/build.sh)"
[ -x "$run" ] || die "$run is not built (scripts/build.sh)"
command -v "$mpiexec" >/dev/null 2>&1 || die "$mpiexec not found (apt-get install mpich)"

if ! "$venv/bin/python" -c 'import torch, numpy, horovod.torch' \
    >/dev/null 2>&1; then
    echo "horovod_example: making $venv (PyTorch from PyPI: about 5 GB;" \
        "Horovod is compiled: tens of minutes)" >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install 'setuptools<70' wheel 'numpy<2' torch==2.1.2 cmake
    MPICC=${MPICC:-mpicc.mpich} "$venv/bin/pip" install --no-binary mpi4py mpi4py
    src=$(mktemp -d "${TMPDIR:-/tmp}/horovod-src.XXXXXX")
    (cd "$src" &&
        "$venv/bin/pip" download --no-binary :all: --no-deps horovod==0.28.1 &&
        tar xzf horovod-0.28.1.tar.gz) ||
        { rm -rf "$src"; die "downloading Horovod 0.28.1 failed"; }
    sed -i 's/CMAKE_CXX_STANDARD 14/CMAKE_CXX_STANDARD 17/' \
        "$src/horovod-0.28.1/CMakeLists.txt" \
        "$src/horovod-0.28.1/horovod/torch/CMakeLists.txt"
    (cd "$src/horovod-0.28.1" &&
        PATH=$venv/bin:$PATH MAKEFLAGS=-j"$(nproc 2>/dev/null || echo 2)" \
        MPICC=mpicc.mpich CXX=mpicxx.mpich CC=mpicc.mpich \
        HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_MPI=1 HOROVOD_CPU_OPERATIONS=MPI \
        HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 \
        HOROVOD_WITHOUT_GLOO=1 \
        "$venv/bin/pip" install --no-build-isolation .) ||
        { rm -rf "$src"; die "building Horovod failed"; }
    rm -rf "$src"
    "$venv/bin/python" -c 'import horovod.torch as h; assert h.mpi_built()' ||
        die "Horovod in $venv is not built with MPI"
fi
py=$venv/bin/python

if [ -n "$logs" ]; then
    mkdir -p "$logs"
    out=$(cd "$logs" && pwd)
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/horovod-example.XXXXXX")
    trap 'rm -rf "$out"' EXIT
fi

# job NAME dense|preload 'VAR=VALUE...' [EXAMPLE-OPTION...]: the run's
# output in $out/NAME.log
job() {
    name=$1 how=$2 hvdenv=$3
    shift 3
    echo "horovod_example: $name ${hvdenv:-(Horovod defaults)} ..." >&2
    set -- "$py" "$example" --epochs "$epochs" --subset "$subset" \
        --seed "$seed" --report-rss "$@"
    # shellcheck disable=SC2086 # $hvdenv: VAR=VALUE words
    if [ "$how" = dense ]; then
        env -u LD_PRELOAD -u HOROVOD_FUSION_THRESHOLD -u HOROVOD_CYCLE_TIME \
            -u HOROVOD_AUTOTUNE $hvdenv OPENBLAS_NUM_THREADS=1 \
            "$mpiexec" -n "$ranks" "$@" >"$out/$name.log" 2>&1
    else
        rm -f "$out/$name.json"
        env -u HOROVOD_FUSION_THRESHOLD -u HOROVOD_CYCLE_TIME \
            -u HOROVOD_AUTOTUNE $hvdenv OPENBLAS_NUM_THREADS=1 \
            COMPCOLL_STATS="$out/$name.json" \
            "$run" -l "$lib" "$mpiexec" -n "$ranks" "$@" >"$out/$name.log" 2>&1
    fi || { cat "$out/$name.log" >&2; die "$name failed"; }
}

env_fusion=
env_nofusion="HOROVOD_FUSION_THRESHOLD=0"
env_whole="HOROVOD_FUSION_THRESHOLD=134217728 HOROVOD_CYCLE_TIME=$cycle"
job fusion-dense dense "$env_fusion" "$@"
job fusion-preloaded preload "$env_fusion" "$@"
job no-fusion-dense dense "$env_nofusion" "$@"
job no-fusion-preloaded preload "$env_nofusion" "$@"
job whole-model-dense dense "$env_whole" "$@"
job whole-model-preloaded preload "$env_whole" "$@"
job groups-dense dense "" --groups 1 "$@"
job groups-preloaded preload "" --groups 1 "$@"

# the library's source: commit, "+" when its folders have uncommitted changes
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git -C "$top" diff --quiet HEAD -- \
    libcompcoll interpose ucx_transport 2>/dev/null; then
    commit="$commit+"
fi
hvdver=$("$py" -c 'import horovod; print(horovod.__version__)')

RUNLOG_DIR=$top/bench/python "$py" - "$out" "$ranks" "$epochs" "$subset" \
    "${csv:-}" "$commit" "$hvdver" \
    "fusion=$env_fusion" "no-fusion=$env_nofusion" \
    "whole-model=$env_whole" "groups=--groups 1" <<'EOF'
import csv, os, sys, time

sys.path.insert(0, os.environ["RUNLOG_DIR"])
from runlog import parse

out, ranks, epochs, subset, path, commit, hvdver = sys.argv[1:8]
settings = [a.split("=", 1) for a in sys.argv[8:]]


rows = []
print("\n%d ranks, %s epochs, subset %s, horovod %s; preloaded: libcompcoll "
      "%s with its default settings\n" % (int(ranks), epochs, subset, hvdver,
                                          commit))
hdr = ("setting", "acc dense", "acc preloaded", "wire ratio",
       "compressed calls", "memories (rank 0)", "retired", "warnings",
       "RSS MiB dense", "RSS MiB preloaded", "s dense", "s preloaded")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for mode, hvdenv in settings:
    d, p = parse(out, mode + "-dense"), parse(out, mode + "-preloaded")
    wire = "%.1f" % p["wire"] if p.get("wire") else "-"
    print("| %s | %.2f %% | %.2f %% | %s | %s | %s | %s | %d | %.0f | %.0f "
          "| %.1f | %.1f |"
          % (mode, d["accuracy"], p["accuracy"], wire, p.get("calls", "-"),
             p.get("memories", "-"), p.get("retired", "-"), p["warnings"],
             d["rss_mib"], p["rss_mib"], d["seconds"], p["seconds"]))
    for run, r in (("dense", d), ("preloaded", p)):
        if not r["same"]:
            print("WARNING: %s %s: the ranks' parameters differ" % (mode, run))
    rows.append((mode, hvdenv, d, p))
print("\nsettings:")
for mode, hvdenv, d, p in rows:
    print("  %-12s %s" % (mode, hvdenv or "Horovod's defaults"))
print("per-epoch test accuracy (dense / preloaded):")
for mode, hvdenv, d, p in rows:
    print("  %-12s %s / %s" % (mode, d["per_epoch"], p["per_epoch"]))
print("compressed tensor sizes (rank 0's memories):")
for mode, hvdenv, d, p in rows:
    print("  %-12s %s" % (mode, " ".join(str(c) for c in p.get("counts", []))))
for mode, hvdenv, d, p in rows:
    for w in p["warning_kinds"]:
        print("warning (%s): %s" % (mode, w))
if path:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "commit", "horovod", "ranks", "epochs",
                        "subset", "setting", "horovod_setting", "run",
                        "accuracy", "per_epoch_accuracy", "seconds",
                        "max_rss_mib", "calls_compressed",
                        "calls_passthrough", "wire_ratio",
                        "memories_rank0", "tensors_retired", "warnings",
                        "tensor_counts"])
        date = time.strftime("%Y-%m-%dT%H:%M:%S")
        for mode, hvdenv, d, p in rows:
            for run, r in (("dense", d), ("preloaded", p)):
                w.writerow([date, commit, hvdver, ranks, epochs, subset, mode,
                            hvdenv, run, r["accuracy"], r["per_epoch"],
                            r["seconds"], r["rss_mib"], r.get("calls", ""),
                            r.get("passthrough", ""),
                            "%.2f" % r["wire"] if r.get("wire") else "",
                            r.get("memories", ""), r.get("retired", ""),
                            r["warnings"] if run == "preloaded" else "",
                            " ".join(str(c) for c in r.get("counts", []))])
    print("appended to " + path)
EOF
