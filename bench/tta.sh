#!/bin/bash
# Time to accuracy on the emulated cluster: the Fashion-MNIST trainer
# (examples/fmnist) on H emulated hosts (bench/netns.sh), dense (MPICH's own
# MPI_Allreduce) and preloaded with libcompcoll, at each link rate.  Reports
# how long each run took to reach dense's plateau accuracy.
#
#   bench/tta.sh [--rates "1gbit 10gbit"] [--hosts H] [--ranks-per-host R]
#                [--model mlp|cnn] [--opt sgd|adam|novograd] [--epochs E]
#                [--longer "F ..."] [--batch N] [--subset N|all] [--seed S]
#                [--settings "defaults ..."] [--tolerance T] [--timeout S]
#                [--tag NAME] [--out DIR] [--local] [-- TRAINER-OPTION...]
#
# The protocol, per rate:
#   1. dense trains E epochs (cosine learning rate to 0 at its last step);
#      its final test accuracy is the target: dense's plateau.
#   2. each setting trains E epochs with the same schedule and seed.  When
#      it ends below target - T, it trains again with F x E epochs for each
#      F of --longer in turn (default "1.5 2"), until one reaches it.  Its
#      time to accuracy is the training time (the trainer's own clock,
#      evaluations included) of that run up to the first epoch at or above
#      target - T (the trainer's seconds per epoch, summed); "not reached"
#      when none does.
#   speedup = dense's training time / the setting's time to accuracy.
# Settings: "defaults" (libcompcoll with nothing set), or COMPCOLL_*
# assignments joined by commas, e.g. "COMPCOLL_RATIO=200,COMPCOLL_RAMP=400";
# COMPCOLL_* in the environment apply to every preloaded run.
# Defaults: rates 1gbit and 10gbit, 2 hosts x 1 rank, mlp, sgd, 8 epochs,
# global batch 128, the whole training set, seed 1, tolerance 0, 900 s per
# run.  The links are shaped as in bench/cluster.sh (delays where the kernel
# has netem).
#
# --local: no emulated hosts; the H x R ranks run on this machine's shared
# memory (the rate column then says "shm"); no root needed.
#
# Appends one row per run to DIR/tta.csv, keeps each run's per-epoch CSV,
# output and statistics in DIR/tta/, and plots test accuracy against
# training time (dense and preloaded on one axis, one panel per rate) in
# DIR/tta.png (gnuplot); DIR is --out, default bench/results.  Needs root
# (unless --local) and a build (LIBCOMPCOLL_BUILDDIR, default _build) with
# the trainer.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/build_env.sh"
. "$top/bench/netns.sh"

rates="1gbit 10gbit" hosts=2 rph=1 model=mlp opt=sgd epochs=8 longer="1.5 2"
batch=128 subset=all seed=1 settings=defaults tol=0 tmo=900 tag="" local=0
res="$top/bench/results"
usage() { sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
die() { echo "tta.sh: $*" >&2; exit 1; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
number() { case "$2" in '' | *[!0-9]* | 0) die "$1 '$2': expected a positive integer" ;; esac; }
while [ $# -gt 0 ]; do
    case $1 in
    --rates) need "$@"; rates=$2 ;;
    --hosts) need "$@"; number "$1" "$2"; hosts=$2 ;;
    --ranks-per-host) need "$@"; number "$1" "$2"; rph=$2 ;;
    --model) need "$@"; model=$2 ;;
    --opt) need "$@"; opt=$2 ;;
    --epochs) need "$@"; number "$1" "$2"; epochs=$2 ;;
    --longer) [ $# -ge 2 ] || die "$1 needs a value"; longer=$2 ;;
    --batch) need "$@"; number "$1" "$2"; batch=$2 ;;
    --subset) need "$@"; [ "$2" = all ] || number "$1" "$2"; subset=$2 ;;
    --seed) need "$@"; number "$1" "$2"; seed=$2 ;;
    --settings) need "$@"; settings=$2 ;;
    --tolerance) need "$@"; tol=$2 ;;
    --timeout) need "$@"; number "$1" "$2"; tmo=$2 ;;
    --tag) need "$@"; tag=$2 ;;
    --out) need "$@"; res=$2 ;;
    --local) local=1; shift; continue ;;
    -h | --help) usage 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (--help lists the options)" ;;
    esac
    shift 2
done
case $model in mlp | cnn) ;; *) die "--model '$model': expected mlp or cnn" ;; esac
case $opt in sgd | adam | novograd) ;; *) die "--opt '$opt': expected sgd, adam or novograd" ;; esac
case $hosts in [2-8]) ;; *) die "--hosts: 2 to 8 hosts, got $hosts" ;; esac
case $rph in [1-8]) ;; *) die "--ranks-per-host: 1 to 8 ranks, got $rph" ;; esac
for f in $longer; do
    awk -v f="$f" 'BEGIN { exit !(f + 0 > 1) }' || die "--longer '$f': expected factors above 1"
done
awk -v t="$tol" 'BEGIN { exit !(t + 0 >= 0 && t ~ /^[0-9.]+$/) }' || die "--tolerance '$tol': expected a number >= 0"
for s in $settings; do
    [ "$s" = defaults ] && continue
    for a in ${s//,/ }; do
        case $a in COMPCOLL_[A-Z_]*=*) ;; *) die "--settings: '$a' in '$s' is not a COMPCOLL_*=VALUE assignment" ;; esac
    done
done
if [ $local = 1 ]; then
    rates=shm
else
    for r in $rates; do rate_bps "$r" >/dev/null || exit 1; done
fi
prog="$build/examples/fmnist/fmnist"
[ -x "$prog" ] || die "$prog is not built (configure found no OpenBLAS or zlib)"
[ -r "$lib" ] || die "$lib is not built"
[ $local = 1 ] || netns_usable || die "cannot make the emulated cluster here (--local runs on shared memory)"

csv="$res/tta.csv"
mkdir -p "$res/tta"
[ -n "$tag" ] || tag="$model-$opt-h$hosts"
tmp=$(mktemp -d /tmp/tta$$.XXXXXX)
run_pid=""
netns_traps
if [ $local = 1 ]; then
    netns_id=local$$ netns_netem=0
else
    netns_up "$hosts" 1500 "$tmp" || die "cannot make the emulated cluster"
fi

. "$top/scripts/fmnist_env.sh"
fmnist_run_env $((hosts * rph))
trainer=(--model "$model" --opt "$opt" --batch "$batch" --seed "$seed" --progress 0 "$@")
[ "$subset" = all ] || trainer+=(--train-subset "$subset")

[ -s "$csv" ] || echo "date,run,tag,rate,hosts,ranks_per_host,model,opt,batch,subset,seed,setting,epochs,target_acc,final_acc,gap,epoch_s,train_s,time_to_target_s,epoch_reached,speedup,bytes_dense,bytes_sent,byte_ratio,file" >"$csv"

# train NAME EPOCHS SETTING: one run on the cluster; its files are
# $res/tta/NAME.{csv,txt,json}
train() {
    local name=$1 ep=$2 s=$3 base="$res/tta/$1" envs=() preload=()
    rm -f "$base.csv" "$base.json"
    if [ "$s" != dense ]; then
        [ "$s" = defaults ] || read -ra envs <<<"${s//,/ }"
        envs+=(COMPCOLL_STATS="$base.json")
    fi
    if [ $local = 1 ]; then
        netns_argv=("$mpiexec" -n $((hosts * rph)))
    else
        netns_mpiexec_argv "$hosts" "$rph"
    fi
    [ "$s" = dense ] || preload=(-genv LD_PRELOAD "$lib")
    timeout -k 5 "$tmo" env -u LD_PRELOAD "${envs[@]}" "${netns_argv[@]}" \
        "${preload[@]}" "$prog" "${trainer[@]}" --epochs "$ep" \
        --csv "$base.csv" >"$base.txt" 2>&1 &
    run_pid=$!
    local rc=0
    wait "$run_pid" || rc=$?
    run_pid=""
    if [ $rc != 0 ] || [ ! -s "$base.csv" ]; then
        tail -15 "$base.txt" >&2
        die "$name failed (exit $rc)"
    fi
}

# row NAME RATE SETTING EPOCHS TARGET DENSE_TRAIN_S: appends the CSV row,
# prints "reached|short" and the row
row() {
    python3 - "$res/tta/$1" "$2" "$3" "$4" "$5" "$6" "$tol" \
        "$(date +%F),$netns_id,$tag,$2,$hosts,$rph,$model,$opt,$batch,$subset,$seed" <<'PY'
import csv, itertools, json, os, sys
base, rate, setting, ep, target, dense_s, tol, head = sys.argv[1:9]
rows = list(csv.DictReader(open(base + ".csv")))
acc = [float(r["test_acc"]) for r in rows]
sec = list(itertools.accumulate(float(r["seconds"]) for r in rows))
final = acc[-1]
tgt = float(target) if target else final
goal = tgt - float(tol)
hit = next((i for i, a in enumerate(acc) if a >= goal), None)
tt = "%.1f" % sec[hit] if hit is not None else ""
reached = "%d" % (hit + 1) if hit is not None else ""
speed = "%.2f" % (float(dense_s) / sec[hit]) if hit is not None and dense_s else ""
bd = bs = ratio = ""
if os.path.exists(base + ".json"):
    s = json.load(open(base + ".json"))
    bd, bs = s["bytes_dense"], s["bytes_sent"]
    ratio = "%.1f" % (bd / bs) if bs else ""
print("reached" if hit is not None else "short")
print("%s,%s,%s,%.2f,%.2f,%+.2f,%.2f,%.1f,%s,%s,%s,%s,%s,%s,%s" % (
    head, setting.replace(",", " "), ep, tgt, final, final - tgt,
    sec[-1] / len(sec), sec[-1], tt, reached, speed, bd, bs, ratio,
    os.path.basename(base)))
PY
}

if [ $local = 1 ]; then
    where="$((hosts * rph)) ranks on this machine (shared memory)"
else
    where="$hosts emulated hosts x $rph ranks, rates [$rates], netem=$netns_netem"
fi
echo "== run $netns_id: $where; $model $opt, $epochs epochs, batch $batch, seed $seed, settings [$settings]"
printf "%-7s %-34s %6s %8s %8s %7s %9s %9s %8s %7s\n" rate setting epochs target final gap epoch_s to_target speedup ratio
for rate in $rates; do
    [ $local = 1 ] || netns_shape "$rate" "$(default_delay_us "$rate")"
    name="$tag-$rate-dense-e$epochs"
    train "$name" "$epochs" dense
    { read -r _; read -r line; } < <(row "$name" "$rate" dense "$epochs" "" "")
    echo "$line" >>"$csv"
    IFS=, read -r _ _ _ _ _ _ _ _ _ _ _ _ _ target _ _ _ dense_s _ <<<"$line"
    printf "%-7s %-34s %6s %8s\n" "$rate" dense "$epochs" "$target"
    for s in $settings; do
        for f in 1 $longer; do
            ep=$(awk -v e="$epochs" -v f="$f" 'BEGIN { printf "%d", e * f + 0.5 }')
            name="$tag-$rate-$(echo "$s" | tr ',=' '-_')-e$ep"
            train "$name" "$ep" "$s"
            { read -r verdict; read -r line; } < <(row "$name" "$rate" "$s" "$ep" "$target" "$dense_s")
            echo "$line" >>"$csv"
            IFS=, read -r _ _ _ _ _ _ _ _ _ _ _ _ _ _ fin gap eps _ tt _ sp _ _ ratio _ <<<"$line"
            printf "%-7s %-34s %6s %8s %8s %7s %9s %9s %8s %7s\n" "$rate" "$s" "$ep" "$target" \
                "$fin" "$gap" "$eps" "${tt:-no}" "${sp:--}" "$ratio"
            [ "$verdict" = reached ] && break
        done
    done
done
echo "== $csv"
python3 "$top/bench/tta_report.py" "$csv" "$netns_id" "$res/tta" "$res/tta.png" || true
