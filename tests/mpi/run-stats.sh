#!/bin/sh
#
# tests/mpi/run-stats.sh: COMPCOLL_STATS under mpiexec; TAP.
#
# COMPCOLL_STATS=file.json: rank 0 writes a JSON object at MPI_Finalize
# with the documented keys; its call counts equal the calls scalecom_check
# made (the program prints them); the bytes on the wire are a fraction of
# a dense all-reduce's; and the bytes per rank do not grow from 2 to 4
# ranks (the index set is shared, so the values reduce with a ring: no
# gradient build-up); with COMPCOLL_HIERARCHICAL only the node leaders'
# exchange counts.  COMPCOLL_STATS=1 prints a summary on stderr.
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT
# (see run-scalecom.sh).

python=${PYTHON:-python3}
mpi_name=stats
. "${TESTS_SRCDIR:-.}/mpi/common.sh"
if ! command -v "$python" >/dev/null 2>&1; then
    echo "1..0 # SKIP $python not found (needed to read the JSON)"
    exit 0
fi

check=$(program scalecom_check)
if [ ! -x "$check" ]; then
    echo "Bail out! $check is not built"
    exit 1
fi

# Large enough that the k = n/100 values go by ring, not recursive doubling.
count=1000000
steps=3
small=10

# check.py FILE RANKS TRANSPORT COMPRESSED DENSE PASSTHROUGH COUNT STEPS
# Prints nothing and exits 0 when the JSON is right, else the reasons.
cat >"$tmp/check.py" <<'EOF'
import json, math, sys

path, ranks, transport = sys.argv[1], int(sys.argv[2]), sys.argv[3]
compressed, dense, passthrough = map(int, sys.argv[4:7])
count, steps = int(sys.argv[7]), int(sys.argv[8])
ratio = 100
errors = []
try:
    with open(path) as f:
        s = json.load(f)
except Exception as e:  # noqa: BLE001 - any failure to read is the finding
    print("cannot read %s as JSON: %s" % (path, e))
    sys.exit(1)
if not isinstance(s, dict):
    print("the JSON is not an object")
    sys.exit(1)
need = ["version", "method", "transport", "ranks", "calls_compressed",
        "calls_dense", "calls_passthrough", "bytes_dense", "bytes_sent",
        "compression_ratio", "time_select_s", "time_comm_s",
        "select_fallbacks", "tensors"]
missing = [k for k in need if k not in s]
if missing:
    print("missing keys: " + ", ".join(missing))
    sys.exit(1)

def num(k):
    v = s[k]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or \
            not math.isfinite(v) or v < 0:
        errors.append("%s=%r is not a non-negative number" % (k, v))
        return 0
    return v

if s["method"] != "scalecom":
    errors.append("method=%r, expected 'scalecom'" % s["method"])
if s["transport"] != transport:
    errors.append("transport=%r, expected %r" % (s["transport"], transport))
if s["ranks"] != ranks:
    errors.append("ranks=%r, expected %d" % (s["ranks"], ranks))
if s.get("ratio") != ratio:
    errors.append("ratio=%r, expected %d (the run's setting)" % (s.get("ratio"), ratio))
for k in ("warmup", "ramp"):
    if not isinstance(s.get(k), int) or isinstance(s.get(k), bool) or s[k] < 0:
        errors.append("%s=%r is not a non-negative integer" % (k, s.get(k)))
for k, want in (("calls_compressed", compressed), ("calls_dense", dense),
                ("calls_passthrough", passthrough)):
    if s[k] != want:
        errors.append("%s=%r, but the program made %d such calls%s" % (
            k, s[k], want,
            " (summed over ranks?)" if s[k] == want * ranks and want else ""))
sent, dense_b = num("bytes_sent"), num("bytes_dense")
# random gradients: the sample's threshold covers the top k with a margin
# of four standard deviations and a quarter; a fallback here would mean
# that it misjudges ordinary data
if num("select_fallbacks") != 0:
    errors.append("select_fallbacks=%r on random gradients, expected 0"
                  % s["select_fallbacks"])
num("time_select_s"), num("time_comm_s"), num("compression_ratio")
if compressed > 0:
    if sent <= 0:
        errors.append("bytes_sent=%r, expected > 0" % s["bytes_sent"])
    elif dense == 0 and dense_b / sent <= 10:  # warm-up calls are dense
        errors.append("bytes_dense/bytes_sent = %d/%d = %.2f, expected > 10 "
                      "at ratio %d" % (dense_b, sent, dense_b / sent, ratio))
    # a dense all-reduce of n floats on p ranks carries at least
    # 2 (p-1)/p * n * 4 bytes per rank
    low = 2.0 * (ranks - 1) * count * 4 * compressed
    if ranks > 1 and dense_b < 0.99 * low:
        errors.append("bytes_dense=%r is less than a ring all-reduce of the "
                      "same calls (%d)" % (dense_b, low))
t = s["tensors"]
if not isinstance(t, list):
    errors.append("tensors is not an array")
else:
    big = [e for e in t if isinstance(e, dict) and e.get("count") == count]
    if len(big) != 1:
        errors.append("tensors: %d entries with count %d, expected 1: %r"
                      % (len(big), count, t))
    else:
        e = big[0]
        for k in ("key", "count", "calls", "k"):
            if k not in e:
                errors.append("tensor entry lacks %r: %r" % (k, e))
        if e.get("calls") != steps:
            errors.append("tensor calls=%r, expected %d" % (e.get("calls"), steps))
        k = -(-count // ratio)
        if e.get("k") != k:
            errors.append("tensor k=%r, expected %d" % (e.get("k"), k))
        # rank 0's own values: n per dense call (the warm-up comes first),
        # then k per compressed call, more while COMPCOLL_RAMP lasts
        ramp = s.get("ramp", 0) if isinstance(s.get("ramp"), int) else 0
        start = min(4.0, ratio)
        def k_at(c):
            if c >= ramp:
                return k
            return max(1, min(count, math.ceil(
                count / (start * (ratio / start) ** (c / ramp)))))
        want = sum(k_at(c) for c in range(compressed)) + dense * count
        if e.get("elements_sent") != want:
            errors.append("tensor elements_sent=%r, expected %d" % (
                e.get("elements_sent"), want))
        b = e.get("bytes_sent")
        if not isinstance(b, int) or b < 0 or b > sent or \
                (ranks > 1 and (b == 0) != (compressed + dense == 0)):
            errors.append("tensor bytes_sent=%r: not rank 0's share of "
                          "bytes_sent=%r" % (b, s["bytes_sent"]))
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF

echo "1..17"

# run NAME RANKS SETTINGS...: the job, its stats file in $tmp/NAME.json
run() {
    name=$1
    ranks=$2
    shift 2
    rm -f "$tmp/$name.json"
    # shellcheck disable=SC2086
    $guard "$mpiexec" -n "$ranks" env LD_PRELOAD="$lib" \
        COMPCOLL_MIN_COUNT=64 COMPCOLL_RATIO=100 "$@" \
        "$check" --count $count --steps $steps \
        --small $small >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
}

# calls KIND NAME: the program's own count of KIND calls
calls() {
    sed -n "s/^# calls:.* $1=\([0-9]*\).*/\1/p" "$tmp/$2.out"
}

check_json() { # NAME RANKS TRANSPORT
    c=$(calls compressed "$1")
    d=$(calls dense "$1")
    p=$(calls passthrough "$1")
    if [ -z "$c" ]; then
        echo "no '# calls:' line from scalecom_check" >"$tmp/$1.why"
        return 1
    fi
    "$python" "$tmp/check.py" "$tmp/$1.json" "$2" "$3" "$c" "$d" "$p" \
        $count $steps >"$tmp/$1.why" 2>&1
}

for ranks in 2 4; do
    for tr in ucx mpi; do
        name=$tr-$ranks
        run "$name" "$ranks" COMPCOLL_TRANSPORT=$tr \
            COMPCOLL_STATS="$tmp/$name.json"
        rc=$?
        cat "$tmp/$name.out" "$tmp/$name.err" >"$tmp/$name.log"
        tap $rc "P=$ranks $tr: scalecom_check with COMPCOLL_STATS=file.json (exit $rc)" "$tmp/$name.log"
        check_json "$name" "$ranks" "$tr"
        tap $? "P=$ranks $tr: stats JSON has the keys, the program's call counts, bytes_dense/bytes_sent > 10" "$tmp/$name.why"
    done
done

# bytes per rank: P=4 against P=2
for tr in ucx mpi; do
    r=$("$python" -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print("%.3f" % ((b["bytes_sent"] / b["ranks"]) / (a["bytes_sent"] / a["ranks"])))
' "$tmp/$tr-2.json" "$tmp/$tr-4.json" 2>"$tmp/growth.err")
    if [ -n "$r" ] && "$python" -c "import sys; sys.exit(0 if $r < 1.6 else 1)"; then
        tap 0 "$tr: bytes_sent per rank at P=4 / at P=2 = $r (< 1.6: no build-up)"
    else
        echo "${r:+ratio $r}" >>"$tmp/growth.err"
        tap 1 "$tr: bytes_sent per rank at P=4 / at P=2 = ${r:-?} (expected < 1.6)" "$tmp/growth.err"
    fi
done

# warm-up calls are dense calls in the stats
run warm 2 COMPCOLL_TRANSPORT=mpi COMPCOLL_WARMUP=1 COMPCOLL_RAMP=3 COMPCOLL_STATS="$tmp/warm.json"
rc=$?
if [ $rc -eq 0 ] && check_json warm 2 mpi &&
    "$python" -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(not (s["warmup"] == 1 and s["ramp"] == 3))' "$tmp/warm.json" 2>"$tmp/warm.why"; then
    d=$(calls dense warm)
    tap 0 "P=2 mpi WARMUP=1 RAMP=3: stats count $d dense and $(calls compressed warm) compressed calls, and name both settings"
else
    cat "$tmp/warm.out" "$tmp/warm.err" "$tmp/warm.why" >"$tmp/warm.log" 2>/dev/null
    tap 1 "P=2 mpi WARMUP=1 RAMP=3: stats JSON (exit $rc)" "$tmp/warm.log"
fi

# hierarchical: 4 ranks on 2 nodes of 2; only the 2 node leaders exchange,
# so the bytes on the wire are exactly those of a flat 2-rank run (chunk
# selection: its indices always take one byte each at ratio 100, whatever
# the values, so the byte counts do not depend on the sums)
run flatchunk 2 COMPCOLL_TRANSPORT=mpi COMPCOLL_SELECT=chunk \
    COMPCOLL_STATS="$tmp/flatchunk.json"
run hier 4 COMPCOLL_TRANSPORT=mpi COMPCOLL_HIERARCHICAL=y \
    COMPCOLL_RANKS_PER_NODE=2 COMPCOLL_SELECT=chunk \
    COMPCOLL_STATS="$tmp/hier.json"
rc=$?
handled=$(($(calls compressed hier) + $(calls dense hier)))
why=$("$python" -c '
import json, sys
h, f, e = (json.load(open(p)) for p in sys.argv[1:4])
handled = int(sys.argv[4])
out = []
if h.get("calls_hierarchical") != handled:
    out.append("calls_hierarchical=%r, expected %d" % (h.get("calls_hierarchical"), handled))
if h.get("bytes_sent") != f.get("bytes_sent"):
    out.append("bytes_sent=%r, flat P=2: %r" % (h.get("bytes_sent"), f.get("bytes_sent")))
if not isinstance(h.get("time_node_s"), (int, float)) or h["time_node_s"] <= 0:
    out.append("time_node_s=%r, expected > 0" % h.get("time_node_s"))
if f.get("calls_hierarchical") != 0:
    out.append("flat run: calls_hierarchical=%r" % f.get("calls_hierarchical"))
# calls of a million elements are pipelined, every compressed one, with
# chunk selection (piece by piece) and with exact (after the selection)
for name, run in (("flat chunk", f), ("exact", e)):
    if not run.get("calls_pipelined") or \
            run["calls_pipelined"] != run.get("calls_compressed"):
        out.append("%s run: calls_pipelined=%r, calls_compressed=%r"
                   % (name, run.get("calls_pipelined"),
                      run.get("calls_compressed")))
print("; ".join(out))
' "$tmp/hier.json" "$tmp/flatchunk.json" "$tmp/mpi-2.json" "$handled" 2>&1)
if [ $rc -eq 0 ] && [ -z "$why" ]; then
    tap 0 "P=4 on 2 nodes (HIERARCHICAL=y RANKS_PER_NODE=2): $handled calls hierarchical, bytes_sent equal to the flat P=2 run's; chunk and exact calls pipelined"
else
    echo "$why" >"$tmp/hier.why"
    cat "$tmp/hier.out" "$tmp/hier.err" "$tmp/hier.why" >"$tmp/hier.log" 2>/dev/null
    tap 1 "P=4 on 2 nodes: hierarchical statistics (exit $rc)" "$tmp/hier.log"
fi

# COMPCOLL_DIAG_EVERY=1: every compressed call measured.  The same
# gradients on every rank make the leader's top-k the global one (the sum
# is p times each a, exactly at p = 2): all of its energy; different
# gradients capture part of it, more than nothing.
for mode in same differ; do
    rm -f "$tmp/diag-$mode.json"
    # shellcheck disable=SC2046
    $guard "$mpiexec" -n 2 env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=64 \
        COMPCOLL_DIAG_EVERY=1 COMPCOLL_STATS="$tmp/diag-$mode.json" "$check" \
        --count 20000 --steps 4 --interleave $([ $mode = same ] && echo --same) \
        >"$tmp/diag-$mode.out" 2>&1 </dev/null
    rc=$?
    why=$("$python" - "$tmp/diag-$mode.json" "$mode" "$(calls compressed diag-$mode)" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
mode, calls = sys.argv[2], int(sys.argv[3])
t = d.get("topk_energy_captured")
if t is None:
    sys.exit("no topk_energy_captured")
if t["calls"] != calls:
    sys.exit("%d calls measured, the program made %d compressed" % (t["calls"], calls))
if mode == "same" and not (abs(t["mean"] - 1) < 1e-6 and abs(t["min"] - 1) < 1e-6):
    sys.exit("same gradients: mean %g min %g, expected 1" % (t["mean"], t["min"]))
if mode == "differ" and not (0.05 < t["min"] <= t["mean"] < 0.999):
    sys.exit("different gradients: mean %g min %g, expected within (0.05, 1)" % (t["mean"], t["min"]))
print("mean %.4f, least %.4f over %d calls" % (t["mean"], t["min"], t["calls"]))
PY
)
    ok=$?
    [ $rc -eq 0 ] && [ $ok -eq 0 ]
    tap $? "P=2 DIAG_EVERY=1, $mode gradients: top-k energy captured ($why)" "$tmp/diag-$mode.out"
done

# --ties: the gradients are multiples of 1/8, so an eighth of the elements
# share the largest |a|, far more than the sample's candidate bound: the
# leader's sample selection falls back to exact (and the sums are still
# the oracle's), and the statistics count it: in the JSON, and in the
# summary of COMPCOLL_STATS=1
rm -f "$tmp/ties.json"
$guard "$mpiexec" -n 2 env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=64 \
    COMPCOLL_SELECT=sample COMPCOLL_STATS="$tmp/ties.json" "$check" \
    --count 200000 --steps 2 --ties >"$tmp/ties.out" 2>&1 </dev/null
rc=$?
fb=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["select_fallbacks"])' "$tmp/ties.json" 2>>"$tmp/ties.out")
[ $rc -eq 0 ] && [ -n "$fb" ] && [ "$fb" -ge 1 ]
tap $? "P=2 --ties, sample selection: the oracle's sums, select_fallbacks = ${fb:-?} (>= 1)" "$tmp/ties.out"
$guard "$mpiexec" -n 2 env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=64 \
    COMPCOLL_SELECT=sample COMPCOLL_STATS=1 "$check" \
    --count 200000 --steps 2 --ties >"$tmp/ties1.out" 2>&1 </dev/null
rc=$?
[ $rc -eq 0 ] && grep -q "selection fallbacks *[1-9]" "$tmp/ties1.out"
tap $? "P=2 --ties, COMPCOLL_STATS=1: the summary has a \"selection fallbacks\" line" "$tmp/ties1.out"

# COMPCOLL_STATS=1: a summary on stderr
run summary 2 COMPCOLL_TRANSPORT=mpi COMPCOLL_STATS=1
rc=$?
if [ $rc -eq 0 ] && grep -q "calls compressed" "$tmp/summary.err"; then
    tap 0 "P=2 COMPCOLL_STATS=1: summary with \"calls compressed\" on stderr"
else
    cat "$tmp/summary.out" "$tmp/summary.err" >"$tmp/summary.log"
    tap 1 "P=2 COMPCOLL_STATS=1: summary with \"calls compressed\" on stderr (exit $rc)" "$tmp/summary.log"
fi

exit 0
