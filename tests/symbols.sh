#!/bin/sh
# libcompcoll.so exports only the MPI_* entry points it interposes.
. "${TESTS_SRCDIR:-.}/tap/tap.sh"
[ -r "$TEST_LIBCOMPCOLL" ] || skip_all "libcompcoll.so not built"
# libtool's NM may carry flags ("/usr/bin/nm -B"): use its first word.
nm=${NM:-nm}
nm=${nm%% *}
command -v "$nm" >/dev/null || skip_all "no nm ($nm)"

want="MPI_Allreduce MPI_Allreduce_c MPI_Allreduce_init MPI_Allreduce_init_c MPI_Comm_disconnect MPI_Comm_free MPI_Finalize MPI_Iallreduce MPI_Iallreduce_c MPI_Init MPI_Init_thread MPI_Testall MPI_Waitall"
got=$("$nm" -D --defined-only "$TEST_LIBCOMPCOLL" |
      awk '$2 ~ /^[TDBRVWiu]$/ { print $3 }' | sort | tr '\n' ' ' | sed 's/ $//')
plan 3
[ "$got" = "$want" ]
ok $? "exported symbols are exactly: $want"
[ "$got" = "$want" ] || diag "got: $got"
"$nm" -D --undefined-only "$TEST_LIBCOMPCOLL" | grep -q ' PMPI_Allreduce$'
ok $? "the library calls PMPI_Allreduce for passthrough"
"$nm" -D --undefined-only "$TEST_LIBCOMPCOLL" | grep -q ' cuInit\| cudaMalloc'
[ $? -ne 0 ]
ok $? "the library does not link CUDA"
done_testing
