#!/bin/sh
# The test suite from a fresh Debian 12 machine: dependencies, build, then
# `make check` (TAP through automake's tap-driver), and a one-line total;
# then the same sources built with AddressSanitizer and
# UndefinedBehaviorSanitizer and the tests that fit under them
# (scripts/sanitize.sh), with a second, labelled total.  Exits non-zero when
# either failed.  LIBCOMPCOLL_SANITIZERS=0 leaves out the second half.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
. "$top/scripts/report.sh"

"$top/scripts/install-deps.sh"
"$top/scripts/build.sh"
cd "$build"
status=0
make -j1 check > check.out 2>&1 || status=$?
report check.out $status
totals check.out $status
if [ "${LIBCOMPCOLL_SANITIZERS:-1}" != 0 ]; then
    "$top/scripts/sanitize.sh" || status=1
else
    echo "sanitizers: left out (LIBCOMPCOLL_SANITIZERS=0)"
fi
exit $status
