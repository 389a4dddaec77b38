#!/bin/sh
# The preloaded MPI_Allreduce against MPICH's PMPI_Allreduce, same run:
#   bench/allreduce_ratio.sh [RANKS] [ELEMENTS] [REPEATS] [uniform|heavy]
# Runs each transport (ucx, mpi) on uniform (default) or heavy-tailed data
# (allreduce_bench -d) and appends to bench/results/allreduce_ratio.csv; the
# select column is COMPCOLL_SELECT, or the library's default (sample).
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
build=${LIBCOMPCOLL_BUILDDIR:-$top/_build}
ranks=${1:-2} n=${2:-25000000} repeats=${3:-10} data=${4:-uniform}
case $data in uniform|heavy) ;; *) echo "allreduce_ratio.sh: data '$data': expected uniform or heavy" >&2; exit 2 ;; esac
mpiexec=$(sed -n "s/^MPIEXEC = //p" "$build/Makefile")
csv="$top/bench/results/allreduce_ratio.csv"
mkdir -p "$top/bench/results"
[ -f "$csv" ] || echo "date,host,transport,select,ratio,data,elements,ranks,t_compressed_s,t_pmpi_s,t_ratio" > "$csv"
for transport in ucx mpi; do
    echo "== COMPCOLL_TRANSPORT=$transport COMPCOLL_SELECT=${COMPCOLL_SELECT:-sample} COMPCOLL_RATIO=${COMPCOLL_RATIO:-100}, $data data"
    tmp=$(mktemp)
    COMPCOLL_TRANSPORT=$transport "$mpiexec" -n "$ranks" \
        -genv LD_PRELOAD "$build/interpose/.libs/libcompcoll.so" \
        "$build/bench/allreduce_bench" -n "$n" -r "$repeats" -d "$data" -c "$tmp"
    sed "s/^/$(date +%F),$(hostname),$transport,${COMPCOLL_SELECT:-sample},${COMPCOLL_RATIO:-100},$data,/" "$tmp" >> "$csv"
    rm -f "$tmp"
done
