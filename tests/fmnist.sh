#!/bin/sh
#
# tests/fmnist.sh: the Fashion-MNIST trainer (examples/fmnist) on its own,
# without libcompcoll; TAP.
#
# Its gradients agree with finite differences (--gradcheck, both models);
# bad options exit 2 naming the option; missing data is a clear error; a
# short data-parallel run at 2 ranks learns (the loss falls, the accuracy is
# far above chance); per-tensor and --fuse all-reduces give the same run
# bit for bit, and 1 and 2 ranks the same run up to float rounding.
#
# Environment: TEST_FMNIST (the trainer; default
# $TESTS_BUILDDIR/../examples/fmnist/fmnist), MPIEXEC, FMNIST_DATA (the
# data folder; default /usr/share/datasets/fashion-mnist),
# TEST_MPI_TIMEOUT (seconds per run, default 120).

. "${TESTS_SRCDIR:-.}/tap/tap.sh"

fmnist=${TEST_FMNIST:-${TESTS_BUILDDIR:-.}/../examples/fmnist/fmnist}
data=${FMNIST_DATA:-/usr/share/datasets/fashion-mnist}
mpiexec=${MPIEXEC-}
timeout_s=${TEST_MPI_TIMEOUT:-120}

[ -x "$fmnist" ] || skip_all "the trainer $fmnist is not built (configure needs OpenBLAS and zlib)"
[ -r "$data/train-images-idx3-ubyte.gz" ] && [ -r "$data/t10k-labels-idx1-ubyte.gz" ] ||
    skip_all "no Fashion-MNIST data in $data (apt-get install dataset-fashion-mnist)"
if [ -z "$mpiexec" ] || ! command -v "$mpiexec" >/dev/null 2>&1; then
    skip_all "MPIEXEC is not set or not executable"
fi

# Dense runs: nothing preloaded, no library settings.
unset LD_PRELOAD
for v in $(env | sed -n 's/^\(COMPCOLL_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done
OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fmnist-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

if command -v timeout >/dev/null 2>&1; then
    guard="timeout -k 10 $timeout_s"
else
    guard=
fi

# run NAME RANKS ARGS...: output in $tmp/NAME.out, $tmp/NAME.err
run() {
    name=$1
    ranks=$2
    shift 2
    $guard "$mpiexec" -n "$ranks" "$fmnist" --data "$data" --progress 0 "$@" \
        >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
}

show() { # the tail of a run's output as diagnostics
    cat "$tmp/$1.out" "$tmp/$1.err" 2>/dev/null | tail -n 12 | sed 's/^/#   /'
}

plan 13

# ---------------------------------------------------------------- gradients
for model in mlp cnn; do
    run "gc-$model" 1 --gradcheck --model "$model"
    rc=$?
    [ $rc -eq 0 ] && grep -q ' 0 mismatches' "$tmp/gc-$model.out"
    ok $? "--gradcheck --model $model: analytic gradients match finite differences (exit $rc)"
    [ $rc -eq 0 ] || show "gc-$model"
done

# ---------------------------------------------------------------- options
"$fmnist" --help >"$tmp/help.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q '^Usage: ' "$tmp/help.out" && grep -q -- '--gradcheck' "$tmp/help.out"
ok $? "--help prints the usage and exits 0 (exit $rc)"

# bad ARGS, then what the message must contain
bad_option() {
    want=$1
    shift
    run bad 2 "$@"
    rc=$?
    [ $rc -eq 2 ] && grep -q -- "$want" "$tmp/bad.err"
    ok $? "'$*' exits 2 naming the option ($(head -n 1 "$tmp/bad.err"))"
}
bad_option "unknown option '--bogus'" --bogus
bad_option "--lr 'abc': not a number" --lr abc
bad_option "--epochs 0: out of range" --epochs 0
bad_option "--model 'resnet'" --model resnet

run nodata 1 --data "$tmp/nowhere"
rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/nowhere/train-images-idx3-ubyte.gz" "$tmp/nodata.err" &&
    grep -q "dataset-fashion-mnist" "$tmp/nodata.err"
ok $? "missing data: exit 1 naming the file and the package to install (exit $rc)"

# ---------------------------------------------------------------- training
# column C of epoch E in a CSV written with --csv
col() {
    awk -F, -v e="$2" -v c="$3" 'NR > 1 && $1 == e { print $c }' "$1"
}

run learn 2 --train-subset 3200 --batch 64 --epochs 2 --csv "$tmp/learn.csv"
rc=$?
l1=$(col "$tmp/learn.csv" 1 2)
l2=$(col "$tmp/learn.csv" 2 2)
tl=$(col "$tmp/learn.csv" 2 3)
acc=$(col "$tmp/learn.csv" 2 4)
[ $rc -eq 0 ] && [ -n "$acc" ] &&
    awk -v a="$l1" -v b="$l2" -v t="$tl" -v c="$acc" \
        'BEGIN { exit !(b < a && t < 2.302585 && c > 50) }'
ok $? "2 ranks, 3200 examples, 2 epochs: train loss $l1 -> $l2, test loss $tl < ln 10, accuracy $acc% > 50% (chance 10%)"
[ $rc -eq 0 ] || show learn
grep -q 'the same on all 2 ranks' "$tmp/learn.out"
ok $? "the 2 ranks end with the same parameters"

# the same short run, per tensor and fused, at 2 ranks; and at 1 rank
args="--train-subset 1280 --batch 64 --epochs 2 --warmup 10"
# shellcheck disable=SC2086 # $args: several options
run tensor 2 $args --csv "$tmp/tensor.csv"
rc1=$?
# shellcheck disable=SC2086
run fused 2 $args --fuse --csv "$tmp/fused.csv"
rc2=$?
cut -d, -f1-4 "$tmp/tensor.csv" >"$tmp/tensor.cols"
cut -d, -f1-4 "$tmp/fused.csv" >"$tmp/fused.cols"
d1=$(sed -n 's/.*parameter digest \([0-9a-f]*\).*/\1/p' "$tmp/tensor.out")
d2=$(sed -n 's/.*parameter digest \([0-9a-f]*\).*/\1/p' "$tmp/fused.out")
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -n "$d1" ] && [ "$d1" = "$d2" ] &&
    cmp -s "$tmp/tensor.cols" "$tmp/fused.cols"
ok $? "2 ranks dense: per-tensor and --fuse give the same losses, accuracy and parameters bit for bit (digest $d1 / $d2)"

# shellcheck disable=SC2086
run one 1 $args --csv "$tmp/one.csv"
rc=$?
a=$(col "$tmp/one.csv" 2 3)
b=$(col "$tmp/tensor.csv" 2 3)
[ $rc -eq 0 ] && [ -n "$a" ] && [ -n "$b" ] &&
    awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d < 1e-4 * a) }'
ok $? "1 rank and 2 ranks train the same model up to float rounding (test loss $a / $b)"

grep -q '^fmnist: gradients: one MPI_Allreduce per tensor' "$tmp/tensor.out" &&
    grep -q '^fmnist: gradients: one fused MPI_Allreduce' "$tmp/fused.out"
ok $? "the trainer says which all-reduce scheme it uses"

done_testing
