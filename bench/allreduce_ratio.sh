#!/bin/sh
# The preloaded MPI_Allreduce against MPICH's PMPI_Allreduce, same run:
#   bench/allreduce_ratio.sh [RANKS] [ELEMENTS] [REPEATS]
# Runs each transport (ucx, mpi) and appends to bench/results/allreduce_ratio.csv.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
ranks=${1:-2} n=${2:-25000000} repeats=${3:-10}
mpiexec=$(sed -n "s/^MPIEXEC = //p" "$build/Makefile")
csv="$top/bench/results/allreduce_ratio.csv"
mkdir -p "$top/bench/results"
[ -f "$csv" ] || echo "date,host,transport,select,ratio,elements,ranks,t_compressed_s,t_pmpi_s,t_ratio" > "$csv"
for transport in ucx mpi; do
    echo "== COMPCOLL_TRANSPORT=$transport COMPCOLL_SELECT=${COMPCOLL_SELECT:-exact} COMPCOLL_RATIO=${COMPCOLL_RATIO:-100}"
    tmp=$(mktemp)
    COMPCOLL_TRANSPORT=$transport "$mpiexec" -n "$ranks" \
        -genv LD_PRELOAD "$build/interpose/.libs/libcompcoll.so" \
        "$build/bench/allreduce_bench" -n "$n" -r "$repeats" -c "$tmp"
    sed "s/^/$(date +%F),$(hostname),$transport,${COMPCOLL_SELECT:-exact},${COMPCOLL_RATIO:-100},/" "$tmp" >> "$csv"
    rm -f "$tmp"
done
