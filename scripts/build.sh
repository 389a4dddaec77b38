#!/bin/sh
# Configure and build libcompcoll in _build/ (or $COMPCOLL_BUILDDIR), once.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${COMPCOLL_BUILDDIR:-$top/_build}
if [ ! -x "$top/configure" ]; then
    (cd "$top" && ./autogen.sh)
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
    "$top/configure" --prefix="$build/install" $COMPCOLL_CONFIGURE_FLAGS
fi
make -j"$(nproc 2>/dev/null || echo 2)"
