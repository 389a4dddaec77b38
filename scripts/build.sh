#!/bin/sh
# Configure and build libcompcoll in _build/ (or $LIBCOMPCOLL_BUILDDIR), once.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
if [ ! -x "$top/configure" ]; then
    (cd "$top" && ./autogen.sh)
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
    "$top/configure" --prefix="$build/install" $LIBCOMPCOLL_CONFIGURE_FLAGS
fi
make -j"$(nproc 2>/dev/null || echo 2)"
