#!/bin/sh
#
# bench/gpu/run.sh [SIZES] [RATIO] [REPEATS]: the GPU benchmark and its
# PyTorch counterpart on the same GPU, then the comparison table.
#
# Needs a build configured with CUDA (gpu_bench and the module built) and,
# for the comparison, python3 with PyTorch.  Run from the source tree with
# LIBCOMPCOLL_BUILDDIR naming the build directory (default: _build).
# Writes (appends) bench/results/gpu_kernels.csv, gpu_torch.csv, and writes
# bench/results/gpu_compare.csv: per size, our fused pass's fraction of the
# copy bandwidth and PyTorch's step time over ours.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$src/_build}
sizes=${1:-1000000,4000000,16000000,25000000,64000000,100000000}
ratio=${2:-100}
repeats=${3:-20}
results=$src/bench/results
mkdir -p "$results"

bench=$build/bench/gpu/gpu_bench
if [ ! -x "$bench" ]; then
    echo "run.sh: $bench not built (configure with CUDA, then make)" >&2
    exit 1
fi
stamp=$(date +%Y%m%dT%H%M%S)
ours=$results/gpu_kernels.csv
theirs=$results/gpu_torch.csv
"$bench" --module "$build/gpu_kernels/libcompcoll_cuda.so" --sizes "$sizes" \
    --ratio "$ratio" --repeats "$repeats" --csv "$ours" |
    tee "$results/gpu_kernels-$stamp.txt"
if python3 -c 'import torch' 2>/dev/null; then
    python3 "$here/torch_cltk.py" --sizes "$sizes" --ratio "$ratio" \
        --repeats "$repeats" --csv "$theirs" |
        tee "$results/gpu_torch-$stamp.txt"
else
    echo "run.sh: no PyTorch: no comparison" >&2
    exit 0
fi

# The last run of each (device, n, op) in both files: ours against torch.
awk -F, -v OFS=, '
    FNR == 1 { next }
    FILENAME ~ /gpu_kernels/ { key = $1 "," $2 "," $5; ours[key] = $6;
                               if ($5 == "fused") frac[$1 "," $2] = $9;
                               dev[$1 "," $2] = 1 }
    FILENAME ~ /gpu_torch/   { theirs[$1 "," $2 "," $5] = $6 }
    END {
        print "device,n,fused_of_copy,op,ours_s,torch_s,speedup"
        for (d in dev) {
            split(d, p, ",")
            for (i = 0; i < 2; i++) {
                op = i ? "step_exact" : "step_chunk"
                k = d "," op
                if ((k in ours) && (k in theirs))
                    print p[1], p[2], frac[d], op, ours[k], theirs[k],
                          sprintf("%.1f", theirs[k] / ours[k])
            }
        }
    }' "$ours" "$theirs" | sort -t, -k1,1 -k2,2n -k4,4 >"$results/gpu_compare.csv"
column -s, -t "$results/gpu_compare.csv"
