#!/bin/sh
# The sanitizer half of the test suite (scripts/test.sh runs it): the
# sources configured with --enable-sanitizers (AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer, every report fatal; -O1)
# in _build/asan/ (or $LIBCOMPCOLL_ASAN_BUILDDIR), built, then `make
# check-sanitizers` there: the unit tests, the fuzz harnesses, the MPI
# tests that fit the suite's time and the device path with the stand-in
# driver and module (tests/README.md).  Prints the tests that
# did not pass and one labelled total; exits non-zero when one failed.
# $LIBCOMPCOLL_CONFIGURE_FLAGS are passed on, as build.sh does.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
asan=${LIBCOMPCOLL_ASAN_BUILDDIR:-$build/asan}
. "$top/scripts/report.sh"
start=$(date +%s)

if [ ! -x "$top/configure" ]; then
    (cd "$top" && ./autogen.sh)
fi
mkdir -p "$asan"
cd "$asan"
if [ ! -f Makefile ]; then
    # shellcheck disable=SC2086 # the flags are words
    if ! "$top/configure" --prefix="$asan/install" --enable-sanitizers \
        --without-cuda CFLAGS="-g -O1" $LIBCOMPCOLL_CONFIGURE_FLAGS \
        >configure.out 2>&1; then
        tail -30 configure.out
        echo "sanitizers: configure failed ($asan/configure.out)"
        exit 1
    fi
fi
if ! make -j"$(nproc 2>/dev/null || echo 2)" >build.out 2>&1; then
    tail -40 build.out
    echo "sanitizers: build failed ($asan/build.out)"
    exit 1
fi
status=0
make -j1 check-sanitizers >check.out 2>&1 || status=$?
report check.out $status
echo "sanitizers (ASan+UBSan, ${asan#"$top"/}, $(($(date +%s) - start)) s): $(totals check.out $status)"
exit $status
