#!/bin/sh
#
# tests/tta.sh: bench/tta.sh, the time-to-accuracy benchmark the demo runs,
# on this machine's shared memory (--local: no root, no namespaces); TAP.
#
# A short run (2 ranks, 2000 images, 1 epoch, then 2 when the compressed
# run ends below dense) writes a row for dense and for each compressed run;
# its target is dense's final accuracy and its time to accuracy is what the
# per-epoch CSVs give (recomputed here with awk, independently of the
# script's Python); bad options exit non-zero naming the option.
#
# Environment: TESTS_SRCDIR, TESTS_BUILDDIR (LIBCOMPCOLL_BUILDDIR is the
# build above it), MPIEXEC, FMNIST_DATA (default
# /usr/share/datasets/fashion-mnist).

. "${TESTS_SRCDIR:-.}/tap/tap.sh"

top=$(cd "${TESTS_SRCDIR:-.}/.." && pwd)
build=$(cd "${TESTS_BUILDDIR:-.}/.." && pwd)
data=${FMNIST_DATA:-/usr/share/datasets/fashion-mnist}
[ -x "$build/examples/fmnist/fmnist" ] || skip_all "the trainer is not built (configure needs OpenBLAS and zlib)"
[ -r "$data/train-images-idx3-ubyte.gz" ] || skip_all "no Fashion-MNIST data in $data"
command -v bash >/dev/null 2>&1 || skip_all "no bash"
command -v python3 >/dev/null 2>&1 || skip_all "no python3"

for v in $(env | sed -n 's/^\(COMPCOLL_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done
unset LD_PRELOAD
LIBCOMPCOLL_BUILDDIR=$build
export LIBCOMPCOLL_BUILDDIR
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tta-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

plan 6

timeout 300 bash "$top/bench/tta.sh" --local --hosts 2 --epochs 1 --longer 2 \
    --subset 2000 --out "$tmp" --timeout 120 -- --data "$data" >"$tmp/out" 2>&1
rc=$?
ok $([ $rc = 0 ]; echo $?) "tta.sh --local runs (exit $rc)"
[ $rc = 0 ] || sed 's/^/#   /' "$tmp/out" | tail -15

csv="$tmp/tta.csv"
rows=$(awk -F, 'NR > 1' "$csv" 2>/dev/null | wc -l)
dense=$(awk -F, 'NR > 1 && $12 == "dense"' "$csv" 2>/dev/null | wc -l)
ok $([ "$dense" = 1 ] && [ "$rows" -ge 2 ] && [ "$rows" -le 3 ]; echo $?) \
    "one dense row and 1-2 compressed rows ($rows rows, $dense dense)"

# column numbers in the header, then each row checked against its run's
# per-epoch CSV: target = dense's last accuracy, time = epoch seconds summed
# up to the first epoch at or above it
bad=$(awk -F, -v dir="$tmp/tta" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
        f = dir "/" $col["file"] ".csv"; n = 0; t = 0; hit = ""; last = ""
        while ((getline line < f) > 0) {
            if (n++ == 0) continue
            split(line, e, ",")
            t += e[5]; last = e[4]
            if (hit == "" && e[4] + 0 >= $col["target_acc"] - 0.0001) hit = t
        }
        close(f)
        if ($col["setting"] == "dense" && sprintf("%.2f", last) != $col["target_acc"])
            print "dense target " $col["target_acc"] " is not its last accuracy " last
        if (sprintf("%.2f", last) != $col["final_acc"])
            print $col["file"] ": final " $col["final_acc"] " != " last
        want = hit == "" ? "" : sprintf("%.1f", hit)
        if (want != $col["time_to_target_s"])
            print $col["file"] ": time to target " $col["time_to_target_s"] " != " want
    }' "$csv" 2>&1)
ok $([ -z "$bad" ] && [ "$rows" -ge 2 ]; echo $?) "targets, final accuracies and times to target match the per-epoch CSVs"
[ -z "$bad" ] || diag "$bad"

comp=$(awk -F, 'NR > 1 && $12 != "dense" { print $NF }' "$csv" | head -1)
ok $([ -n "$comp" ] && [ -s "$tmp/tta/$comp.json" ]; echo $?) "the compressed run wrote its statistics ($comp.json)"

out=$(bash "$top/bench/tta.sh" --local --tolerance x 2>&1)
rc=$?
ok $([ $rc != 0 ] && echo "$out" | grep -q -- "--tolerance 'x'"; echo $?) "a bad --tolerance is refused, naming it (exit $rc)"
out=$(bash "$top/bench/tta.sh" --local --settings "COMPCOLL_RATIO=10,RAMP=3" 2>&1)
rc=$?
ok $([ $rc != 0 ] && echo "$out" | grep -q "'RAMP=3'"; echo $?) "a setting that is not COMPCOLL_*=VALUE is refused, naming it (exit $rc)"
done_testing
