#!/bin/sh
# Training fidelity: the Fashion-MNIST trainer (examples/fmnist) trained
# dense and with each compression setting on the same seeds and data; the
# final test accuracy of each against dense, per seed and training length.
#   bench/fidelity.sh [--models "mlp cnn"] [--opts "sgd adam novograd"]
#       [--settings "dense scalecom100 ..."] [--ranks P] [--batch N]
#       [--epochs "N ..."] [--seeds "S ..."] [--subset N|all]
#       [--min-count N|default] [--tag NAME] [--reuse-dense]
#       [-- TRAINER-OPTION...]
# The protocol: every run uses the trainer's cosine learning rate (decaying
# to 0 at its last step, so each length is trained to its plateau); each
# length in --epochs is a run of its own (the gap against training length),
# each seed in --seeds too (the seed of the initial parameters and of the
# shuffling, the same for dense and compressed).  A compressed run's byte
# ratio is the whole run's: every call the library saw (warm-up, ramp and
# dense calls included), indices and headers included.  A dense run has
# nothing preloaded and the trainer is deterministic (the same seed gives
# the same bits): --reuse-dense takes the accuracy of a dense run kept in
# bench/results/fidelity/ under the same tag, model, optimizer, length and
# seed, when it reached its last epoch, instead of training it again (and
# adds no line for it); the trainer's description of its configuration
# (ranks, batch, training set, optimizer, schedule) must then be the same
# in the compressed runs, or the script stops.
# Settings (COMPCOLL_* of the compressed runs):
#   dense               MPICH's MPI_Allreduce, nothing preloaded
#   defaults            libcompcoll preloaded with nothing set
#   scalecomR           COMPCOLL_METHOD=scalecom COMPCOLL_RATIO=R, with any
#                       of these suffixes: -fp16, -bf16 (COMPCOLL_WIRE_TYPE),
#                       -betaB (COMPCOLL_BETA), -wuW (COMPCOLL_WARMUP),
#                       -rampN (COMPCOLL_RAMP), -momM (COMPCOLL_MOMENTUM;
#                       for --opts sgd, whose momentum is 0.9), -exact,
#                       -chunk, -sample
#                       (COMPCOLL_SELECT); e.g. scalecom100, scalecom400,
#                       scalecom100-fp16, scalecom100-beta0.1 (the default
#                       list), scalecom200-ramp400
#   topkR               COMPCOLL_METHOD=topk COMPCOLL_RATIO=R (same suffixes)
#   adacomp             COMPCOLL_METHOD=adacomp (its ratio is its own)
# Every compressed run but "defaults" also has COMPCOLL_MIN_COUNT=1024 (the
# CNN's second convolution and the last layers are compressed too;
# --min-count default leaves the library's default) and
# COMPCOLL_WARMUP=$FIDELITY_WARMUP (default 0) unless the setting says -wuW;
# other COMPCOLL_* in the environment apply as well.
# Appends one line per run to bench/results/fidelity.csv, keeps each run's
# per-epoch CSV and statistics in bench/results/fidelity/, and redraws
# bench/results/fidelity.md and .png (bench/fidelity_report.py: means over
# the seeds, paired gaps, the gap against training length).  Needs a build
# (LIBCOMPCOLL_BUILDDIR, default _build) with the trainer.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
models="mlp cnn" opts="sgd adam novograd"
settings="dense scalecom100 scalecom400 scalecom100-fp16 scalecom100-beta0.1"
ranks=4 batch=128 epochs=4 seeds=1 subset=all tag="" min_count=1024
reuse_dense=n
warmup=${FIDELITY_WARMUP:-0}

die() { echo "fidelity: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
number() {
    case "$2" in ''|*[!0-9]*|0) die "$1 '$2': expected a positive integer" ;; esac
}
while [ $# -gt 0 ]; do
    case "$1" in
        --models) need "$@"; models=$2; shift 2 ;;
        --opts) need "$@"; opts=$2; shift 2 ;;
        --settings) need "$@"; settings=$2; shift 2 ;;
        --reuse-dense) reuse_dense=y; shift ;;
        --ranks) need "$@"; number "$1" "$2"; ranks=$2; shift 2 ;;
        --batch) need "$@"; number "$1" "$2"; batch=$2; shift 2 ;;
        --epochs) need "$@"; for e in $2; do number "$1" "$e"; done
            epochs=$2; shift 2 ;;
        --seeds) need "$@"; for e in $2; do number "$1" "$e"; done
            seeds=$2; shift 2 ;;
        --subset) need "$@"; [ "$2" = all ] || number "$1" "$2"; subset=$2; shift 2 ;;
        --tag) need "$@"; tag=$2; shift 2 ;;
        --min-count) need "$@"; [ "$2" = default ] || number "$1" "$2"
            min_count=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option '$1' (--help lists the options)" ;;
    esac
done
for m in $models; do
    case "$m" in mlp|cnn) ;; *) die "--models: unknown model '$m'" ;; esac
done
for o in $opts; do
    case "$o" in sgd|adam|novograd) ;; *) die "--opts: unknown optimizer '$o'" ;; esac
done

# setting_env NAME: the COMPCOLL_* assignments of a setting ("" for dense);
# status 1 for a name that is not a setting
setting_env() {
    case "$1" in
        dense|defaults) echo ""; return 0 ;;
        adacomp) echo "COMPCOLL_METHOD=adacomp"; return 0 ;;
        scalecom[0-9]*) method=scalecom rest=${1#scalecom} ;;
        topk[0-9]*) method=topk rest=${1#topk} ;;
        *) return 1 ;;
    esac
    r=${rest%%-*}
    case "$r" in ''|*[!0-9]*) return 1 ;; esac
    assign="COMPCOLL_METHOD=$method COMPCOLL_RATIO=$r"
    rest=${rest#"$r"}
    while [ -n "$rest" ]; do
        rest=${rest#-}
        o=${rest%%-*}
        rest=${rest#"$o"}
        case "$o" in
            fp16|bf16) assign="$assign COMPCOLL_WIRE_TYPE=$o" ;;
            exact|chunk|sample) assign="$assign COMPCOLL_SELECT=$o" ;;
            beta[0-9]*)
                case "${o#beta}" in *[!0-9.]*) return 1 ;; esac
                assign="$assign COMPCOLL_BETA=${o#beta}" ;;
            wu[0-9]*)
                case "${o#wu}" in *[!0-9]*) return 1 ;; esac
                assign="$assign COMPCOLL_WARMUP=${o#wu}" ;;
            ramp[0-9]*)
                case "${o#ramp}" in *[!0-9]*) return 1 ;; esac
                assign="$assign COMPCOLL_RAMP=${o#ramp}" ;;
            mom[0-9]*)
                case "${o#mom}" in *[!0-9.]*) return 1 ;; esac
                assign="$assign COMPCOLL_MOMENTUM=${o#mom}" ;;
            *) return 1 ;;
        esac
    done
    echo "$assign"
}
# setting_warmup NAME: the warm-up calls of a compressed setting
setting_warmup() {
    case "$1" in
        *-wu[0-9]*) w=${1##*-wu}; echo "${w%%-*}" ;;
        *) echo "$warmup" ;;
    esac
}
for s in $settings; do
    setting_env "$s" >/dev/null || die "--settings: unknown setting '$s'"
done

[ -f "$build/Makefile" ] || die "no build in $build (scripts/build.sh makes one)"
mpiexec=$(sed -n "s/^MPIEXEC = //p" "$build/Makefile")
lib="$build/interpose/.libs/libcompcoll.so"
prog="$build/examples/fmnist/fmnist"
[ -x "$prog" ] || die "$prog is not built (configure found no OpenBLAS or zlib)"
[ -r "$lib" ] || die "$lib is not built"
res="$top/bench/results"
runs="$res/fidelity"
csv="$res/fidelity.csv"
mkdir -p "$runs"
[ -n "$tag" ] || tag="p$ranks-b$batch"
[ -s "$csv" ] || echo "tag,model,opt,ranks,batch,epochs,subset,seed,min_count,setting,warmup,test_acc,test_loss,train_loss,acc_vs_dense,bytes_dense,bytes_sent,byte_ratio,wall_s,date" >"$csv"

mc_env=""
[ "$min_count" = default ] || mc_env="COMPCOLL_MIN_COUNT=$min_count"

. "$top/scripts/fmnist_env.sh"
fmnist_run_env "$ranks"
set -- --batch "$batch" --progress 0 "$@"
[ "$subset" = all ] || set -- --train-subset "$subset" "$@"

for model in $models; do
for opt in $opts; do
for ep in $epochs; do
for seed in $seeds; do
    dense_acc="" kept=""
    for s in $settings; do
        base="$runs/$tag-$model-$opt-e$ep-s$seed-$s"
        if [ "$s" = dense ] && [ $reuse_dense = y ] && [ -s "$base.csv" ]; then
            # a kept run that reached its last epoch (a killed one did not)
            dense_acc=$(python3 -c 'import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if rows and int(rows[-1]["epoch"]) == int(sys.argv[2]):
    print("%.2f" % float(rows[-1]["test_acc"]))' "$base.csv" "$ep")
            if [ -n "$dense_acc" ]; then
                echo "== $tag $model $opt, $ep epochs, seed $seed: dense $dense_acc (kept run, $base.csv)"
                kept=$base
                continue
            fi
        fi
        rm -f "$base.csv" "$base.json"
        echo "== $tag $model $opt, $ep epochs, seed $seed: $s"
        t0=$(date +%s.%N)
        if [ "$s" = dense ]; then
            env -u LD_PRELOAD "$mpiexec" -n "$ranks" "$prog" \
                --model "$model" --opt "$opt" --epochs "$ep" --seed "$seed" \
                "$@" --csv "$base.csv" >"$base.txt" 2>&1 ||
                { tail "$base.txt" >&2; die "$tag $model $opt $ep $seed $s failed"; }
        else
            senv="$mc_env COMPCOLL_WARMUP=$warmup"
            [ "$s" = defaults ] && senv=""
            # shellcheck disable=SC2046,SC2086 # the setting's assignments
            env $senv $(setting_env "$s") COMPCOLL_STATS="$base.json" \
                COMPCOLL_LIBRARY="$lib" \
                sh "$build/tools/compcoll-run" "$mpiexec" -n "$ranks" "$prog" \
                --model "$model" --opt "$opt" --epochs "$ep" --seed "$seed" \
                "$@" --csv "$base.csv" >"$base.txt" 2>&1 ||
                { tail "$base.txt" >&2; die "$tag $model $opt $ep $seed $s failed"; }
        fi
        t1=$(date +%s.%N)
        # the trainer's first lines name its whole configuration: a kept
        # dense run must have been made with this one
        if [ -n "$kept" ] && [ "$s" != dense ] &&
            [ "$(grep '^fmnist:' "$kept.txt" | head -n 3)" != \
              "$(grep '^fmnist:' "$base.txt" | head -n 3)" ]; then
            die "the kept dense run $kept.txt was made with other settings than this run ($base.txt): run without --reuse-dense"
        fi
        line=$(python3 - "$base" "$s" "$t0" "$t1" "$dense_acc" <<'PY'
import csv, json, os, sys
base, setting, t0, t1, dense = sys.argv[1:6]
last = list(csv.DictReader(open(base + ".csv")))[-1]
acc = float(last["test_acc"])
bd = bs = ""
ratio = ""
if os.path.exists(base + ".json"):
    s = json.load(open(base + ".json"))
    bd, bs = s["bytes_dense"], s["bytes_sent"]
    ratio = "%.1f" % (bd / bs) if bs else ""
delta = "%.2f" % (acc - float(dense)) if dense else ""
print("%.2f,%s,%s,%s,%s,%s,%s,%.1f" % (acc, last["test_loss"], last["train_loss"],
      delta, bd, bs, ratio, float(t1) - float(t0)))
PY
)
        [ "$s" = dense ] && dense_acc=${line%%,*}
        w=$(setting_warmup "$s")
        mc=$min_count
        case "$s" in dense) w="" mc="" ;; defaults) w=0 mc=default ;; esac
        echo "$tag,$model,$opt,$ranks,$batch,$ep,$subset,$seed,$mc,$s,$w,$line,$(date +%F)" >>"$csv"
        echo "   test accuracy, loss, train loss, vs dense, bytes dense, bytes sent, ratio, s: $line"
    done
done
done
done
done

python3 "$top/bench/fidelity_report.py" "$csv" "$res"
