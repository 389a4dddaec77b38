# Minimal TAP producer for the shell tests: source it, then
#   plan N; check "description" command...; expect_fail ...; done_testing
tap_n=0
tap_failed=0

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# ok COND-STATUS DESCRIPTION: COND-STATUS 0 passes.
ok() {
    tap_n=$((tap_n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $tap_n - $2"
    else
        echo "not ok $tap_n - $2"
        tap_failed=$((tap_failed + 1))
    fi
}

done_testing() { [ "$tap_failed" -eq 0 ]; exit $?; }
