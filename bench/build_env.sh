# Sourced by the benchmark scripts (bash or sh) after `top` is set to the
# top of the source tree: where the build is and what it built.
#   build    $LIBCOMPCOLL_BUILDDIR, default $top/_build
#   lib      the uninstalled libcompcoll.so
#   bench    allreduce_bench
#   mpiexec  the launcher configure found (MPIEXEC in the build's Makefile),
#            else mpiexec.mpich
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
lib="$build/interpose/.libs/libcompcoll.so"
bench="$build/bench/allreduce_bench"
mpiexec=$(sed -n "s/^MPIEXEC = //p" "$build/Makefile" 2>/dev/null || true)
mpiexec=${mpiexec:-mpiexec.mpich}
