#!/bin/sh
# Two builds of the library, same run, same machine: allreduce_bench's time
# of the preloaded MPI_Allreduce and of PMPI_Allreduce for each build, size
# and transport, interleaved so that both builds see the same load.
#   bench/compare_builds.sh OLD_BUILDDIR NEW_BUILDDIR [RANKS] [ROUNDS]
# Sizes (elements:repeats): $SIZES, default "65536:400 1048576:60
# 25000000:8".  Writes bench/results/compare_builds.csv (a header, then
# round,build,transport,elements,ranks,t_compressed_s,t_pmpi_s,t_ratio) and
# prints it.  Build a commit apart with, e.g.:
#   git worktree add ../old COMMIT &&
#   LIBCOMPCOLL_BUILDDIR=$PWD/../old/_build ../old/scripts/build.sh
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { sed -n '2,12s/^# \{0,1\}//p' "$0"; exit 2; }
old=$1 new=$2 ranks=${3:-2} rounds=${4:-2}
sizes=${SIZES:-"65536:400 1048576:60 25000000:8"}
bench=$new/bench/allreduce_bench
mpiexec=${MPIEXEC:-mpiexec.mpich}
csv=$top/bench/results/compare_builds.csv
for b in "$old" "$new"; do
    [ -r "$b/interpose/.libs/libcompcoll.so" ] || { echo "$b: not built" >&2; exit 2; }
done
[ -x "$bench" ] || { echo "$bench: not built" >&2; exit 2; }
tmp=$(mktemp) && trap 'rm -f "$tmp"' EXIT
echo "round,build,transport,elements,ranks,t_compressed_s,t_pmpi_s,t_ratio" >"$csv"
round=1
while [ "$round" -le "$rounds" ]; do
    for spec in $sizes; do
        for build in old new; do
            [ "$build" = old ] && dir=$old || dir=$new
            for tr in ucx mpi; do
                COMPCOLL_TRANSPORT=$tr "$mpiexec" -n "$ranks" -genv LD_PRELOAD \
                    "$dir/interpose/.libs/libcompcoll.so" "$bench" \
                    -n "${spec%:*}" -r "${spec#*:}" -c "$tmp" >/dev/null
                echo "$round,$build,$tr,$(tail -1 "$tmp")" >>"$csv"
            done
        done
    done
    round=$((round + 1))
done
cat "$csv"
