#!/bin/sh
# libcompcoll.so exports only the MPI_* entry points it interposes.
. "${TESTS_SRCDIR:-.}/tap/tap.sh"
[ -r "$COMPCOLL_LIB" ] || skip_all "libcompcoll.so not built"
command -v "${NM:-nm}" >/dev/null || skip_all "no nm"

want="MPI_Allreduce MPI_Comm_free MPI_Finalize MPI_Init MPI_Init_thread"
got=$("${NM:-nm}" -D --defined-only "$COMPCOLL_LIB" |
      awk '$2 ~ /^[TDBRVWiu]$/ { print $3 }' | sort | tr '\n' ' ' | sed 's/ $//')
plan 3
[ "$got" = "$want" ]
ok $? "exported symbols are exactly: $want"
[ "$got" = "$want" ] || diag "got: $got"
"${NM:-nm}" -D --undefined-only "$COMPCOLL_LIB" | grep -q ' PMPI_Allreduce$'
ok $? "the library calls PMPI_Allreduce for passthrough"
"${NM:-nm}" -D --undefined-only "$COMPCOLL_LIB" | grep -q ' cuInit\| cudaMalloc'
[ $? -ne 0 ]
ok $? "the library does not link CUDA"
done_testing
