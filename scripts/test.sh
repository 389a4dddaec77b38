#!/bin/sh
# The test suite from a fresh Debian 12 machine: dependencies, build, then
# `make check` (TAP through automake's tap-driver), and a one-line total.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}

"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"
cd "$build"
status=0
make -j1 check > check.out 2>&1 || status=$?
grep -E '^(PASS|FAIL|XFAIL|XPASS|SKIP|ERROR):' check.out | sed 's/^/  /' | grep -v '^  PASS' || true
sed -n '/^# TOTAL/,/^# ERROR/p' check.out
if [ $status -ne 0 ]; then
    for log in $(find tests -name '*.log' ! -name test-suite.log); do
        if grep -q '^not ok\|^Bail out' "$log" 2>/dev/null || ! grep -q '^1\.\.' "$log"; then
            echo "=== $log"; tail -40 "$log"
        fi
    done
fi
# one summary per test directory: add them up
total() { awk -v k="$1" '$1 == "#" && $2 == k ":" { n += $3 } END { print n + 0 }' check.out; }
echo "$(total PASS) passed, $(( $(total FAIL) + $(total ERROR) + $(total XPASS) )) failed, $(total SKIP) skipped"
exit $status
