# scripts/report.sh, sourced by test.sh and sanitize.sh: what a `make
# check` run in the current build directory came to, from its output.
#
# report CHECK_OUT STATUS: the tests that did not pass (one line each), the
# automake summaries and, when STATUS is not 0, the tail of each log with a
# failure or without a plan.
# totals CHECK_OUT [STATUS]: "N passed, M failed, K skipped" over every
# test directory, then ", X expected failures" when tests are marked TAP
# TODO for a known bug (tests/README.md); an unexpected pass counts as
# failed; a STATUS other than 0 with no test failed means make stopped
# before every test ran (a build error), and says so.
report() {
    grep -E '^(PASS|FAIL|XFAIL|XPASS|SKIP|ERROR):' "$1" | sed 's/^/  /' |
        grep -v '^  PASS' || true
    sed -n '/^# TOTAL/,/^# ERROR/p' "$1"
    if [ "$2" -ne 0 ]; then
        # what stopped make, when it was not a test
        grep -E '\*\*\*|error:|undefined reference' "$1" | head -20 |
            sed 's/^/  make: /'
        for log in $(find tests -name '*.log' ! -name test-suite.log); do
            if grep -v '# TODO' "$log" 2>/dev/null | grep -q '^not ok\|^Bail out' ||
                ! grep -q '^1\.\.' "$log"; then
                echo "=== $log"
                tail -40 "$log"
            fi
        done
    fi
}

# one summary per test directory: add them up
report_sum() {
    awk -v k="$2" '$1 == "#" && $2 == k ":" { n += $3 } END { print n + 0 }' "$1"
}

totals() {
    failed=$(($(report_sum "$1" FAIL) + $(report_sum "$1" ERROR) + $(report_sum "$1" XPASS)))
    xfail=$(report_sum "$1" XFAIL)
    printf '%s passed, %s failed, %s skipped' \
        "$(report_sum "$1" PASS)" "$failed" "$(report_sum "$1" SKIP)"
    [ "$xfail" -eq 0 ] || printf ', %s expected failures (known bugs)' "$xfail"
    if [ "${2:-0}" -ne 0 ] && [ "$failed" -eq 0 ]; then
        printf '; make check FAILED (exit %s) before every test ran' "$2"
    fi
    echo
}
