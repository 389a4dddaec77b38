#!/bin/sh
# bench/python/torch_example.sh: the PyTorch + mpi4py example
# (examples/python/torch_ddp_mpi4py.py) dense and with libcompcoll
# preloaded, per-parameter all-reduces and --bucket; prints a table and
# writes bench/results/torch_example.csv.  Not a test (not run by make
# check or CI): it needs PyTorch from PyPI (about 5 GB) and a few minutes.
#
#   bench/python/torch_example.sh [--epochs N] [--subset N|all] [--ranks P]
#       [--seed N] [--no-csv] [-- EXAMPLE-OPTION...]
#
# Defaults: 3 epochs, the first 30000 training images, 2 ranks, seed 1.
# The venv ($TORCH_VENV, default venv-torch beside the repository) is made
# on first use: pip install torch numpy, then MPICC=mpicc.mpich pip install
# mpi4py (built from source against MPICH).  The library is the build's
# ($LIBCOMPCOLL_BUILDDIR, default _build/), preloaded by compcoll-run with
# its default settings (COMPCOLL_* variables in the environment apply to
# the preloaded runs only) and COMPCOLL_STATS=<json>.  Columns:
#   accuracy   final test accuracy, percent (rank 0's print)
#   wire       bytes_dense / bytes_sent of the statistics JSON (what a ring
#              all-reduce of the compressed calls would carry / what was sent)
#   memories   error-feedback memories of rank 0 (the JSON's tensors array,
#              which lists rank 0's, plus tensors_unlisted), retired ones apart
#   rss_mib    the largest peak RSS of the ranks (getrusage, --report-rss)
set -e
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
venv=${TORCH_VENV:-$(dirname "$top")/venv-torch}
mpiexec=${MPIEXEC:-mpiexec.mpich}
epochs=3 subset=30000 ranks=2 seed=1 csv=$top/bench/results/torch_example.csv

die() { echo "torch_example: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --epochs) need "$@"; epochs=$2; shift 2 ;;
        --subset) need "$@"; subset=$2; shift 2 ;;
        --ranks) need "$@"; ranks=$2; shift 2 ;;
        --seed) need "$@"; seed=$2; shift 2 ;;
        --no-csv) csv=; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next }
                        NR > 1 { exit }' "$0"; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option '$1' (--help lists them)" ;;
    esac
done

lib=$build/interpose/.libs/libcompcoll.so
run=$build/tools/compcoll-run
example=$top/examples/python/torch_ddp_mpi4py.py
[ -r "$lib" ] || die "$lib is not built (scripts/build.sh)"
[ -x "$run" ] || die "$run is not built (scripts/build.sh)"
command -v "$mpiexec" >/dev/null 2>&1 || die "$mpiexec not found (apt-get install mpich)"

if ! "$venv/bin/python" -c 'import torch, numpy, mpi4py' >/dev/null 2>&1; then
    echo "torch_example: making $venv (PyTorch from PyPI: about 5 GB, several minutes)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install torch numpy
    MPICC=${MPICC:-mpicc.mpich} "$venv/bin/pip" install --no-binary mpi4py mpi4py
fi
py=$venv/bin/python

out=$(mktemp -d "${TMPDIR:-/tmp}/torch-example.XXXXXX")
trap 'rm -rf "$out"' EXIT

# job NAME dense|preload [EXAMPLE-OPTION...]: the run's output in $out/NAME.log
job() {
    name=$1 how=$2
    shift 2
    echo "torch_example: $name ..." >&2
    set -- "$py" "$example" --epochs "$epochs" --subset "$subset" \
        --seed "$seed" --report-rss "$@"
    if [ "$how" = dense ]; then
        env -u LD_PRELOAD OPENBLAS_NUM_THREADS=1 \
            "$mpiexec" -n "$ranks" "$@" >"$out/$name.log" 2>&1
    else
        rm -f "$out/$name.json"
        OPENBLAS_NUM_THREADS=1 COMPCOLL_STATS="$out/$name.json" \
            "$run" -l "$lib" "$mpiexec" -n "$ranks" "$@" >"$out/$name.log" 2>&1
    fi || { cat "$out/$name.log" >&2; die "$name failed"; }
}

job per-tensor-dense dense "$@"
job per-tensor-preloaded preload "$@"
job bucket-dense dense --bucket "$@"
job bucket-preloaded preload --bucket "$@"

# the library's source: commit, "+" when its folders have uncommitted changes
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git -C "$top" diff --quiet HEAD -- \
    libcompcoll interpose ucx_transport 2>/dev/null; then
    commit="$commit+"
fi

RUNLOG_DIR=$top/bench/python "$py" - "$out" "$ranks" "$epochs" "$subset" \
    "${csv:-}" "$commit" <<'EOF'
import csv, os, sys, time

sys.path.insert(0, os.environ["RUNLOG_DIR"])
from runlog import parse

out, ranks, epochs, subset, path, commit = sys.argv[1:7]


rows = []
print("\n%d ranks, %s epochs, subset %s; preloaded: libcompcoll %s with "
      "its default settings\n" % (int(ranks), epochs, subset, commit))
hdr = ("mode", "acc dense", "acc preloaded", "wire ratio", "compressed calls",
       "memories (rank 0)", "retired", "RSS MiB dense", "RSS MiB preloaded",
       "s dense", "s preloaded")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for mode in ("per-tensor", "bucket"):
    d, p = parse(out, mode + "-dense"), parse(out, mode + "-preloaded")
    wire = "%.1f" % p["wire"] if p.get("wire") else "-"
    print("| %s | %.2f %% | %.2f %% | %s | %s | %s | %s | %.0f | %.0f | %.1f | %.1f |"
          % (mode, d["accuracy"], p["accuracy"], wire, p.get("calls", "-"),
             p.get("memories", "-"), p.get("retired", "-"), d["rss_mib"],
             p["rss_mib"], d["seconds"], p["seconds"]))
    for run, r in (("dense", d), ("preloaded", p)):
        if not r["same"]:
            print("WARNING: %s %s: the ranks' parameters differ" % (mode, run))
    rows.append((mode, d, p))
print("\nper-epoch test accuracy (dense / preloaded):")
for mode, d, p in rows:
    print("  %-10s %s / %s" % (mode, d["per_epoch"], p["per_epoch"]))
print("compressed tensor sizes: " + "; ".join(
    "%s %s" % (mode, p.get("counts")) for mode, _, p in rows))
if path:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "commit", "ranks", "epochs", "subset",
                        "mode", "run",
                        "accuracy", "per_epoch_accuracy", "seconds",
                        "max_rss_mib", "calls_compressed",
                        "calls_passthrough", "wire_ratio",
                        "memories_rank0", "tensors_retired"])
        date = time.strftime("%Y-%m-%dT%H:%M:%S")
        for mode, d, p in rows:
            for run, r in (("dense", d), ("preloaded", p)):
                w.writerow([date, commit, ranks, epochs, subset, mode, run,
                            r["accuracy"], r["per_epoch"], r["seconds"],
                            r["rss_mib"], r.get("calls", ""),
                            r.get("passthrough", ""),
                            "%.2f" % r["wire"] if r.get("wire") else "",
                            r.get("memories", ""), r.get("retired", "")])
    print("appended to " + path)
EOF
