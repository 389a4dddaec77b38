#!/bin/sh
#
# tests/mpi/run-entry.sh: every entry point a framework sums gradients
# with, against the oracle of scalecom_check.c (MPI_Allreduce_c,
# MPI_Iallreduce(_c), MPI_REAL and MPI_REAL4, one-rank communicators), the
# tensor identity of COMPCOLL_KEY=auto when buffers are freed and taken
# anew every step (same bits as a program that keeps its buffers), and a
# Fortran program built with mpif90; TAP.
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TEST_MPI_TIMEOUT,
# MPIFC (mpif90.mpich; its absence skips the Fortran line).

mpi_name=entry
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

# ranks | COMPCOLL_* settings (MIN_COUNT=64, RATIO=10 unless given) | program and options
cat >"$tmp/cases" <<'CASES'
2 | TRANSPORT=ucx | scalecom_check --steps 6 --api large --interleave
3 | TRANSPORT=mpi | scalecom_check --steps 4 --api large --inplace --dup
2 | TRANSPORT=ucx | scalecom_check --steps 6 --api nb --interleave --dup
2 | TRANSPORT=mpi BETA=0.5 | scalecom_check --steps 6 --api nb_c --inplace
3 | TRANSPORT=ucx SELECT=chunk | scalecom_check --steps 4 --api nb --third
2 | TRANSPORT=ucx | scalecom_check --steps 6 --dtype real --interleave
2 | TRANSPORT=mpi | scalecom_check --steps 6 --dtype real4 --api nb --inplace
2 | TRANSPORT=ucx | scalecom_check --steps 6 --split --interleave
1 | TRANSPORT=ucx | scalecom_check --steps 4 --api nb --interleave
2 | TRANSPORT=ucx | scalecom_check --steps 8 --third --realloc
3 | TRANSPORT=mpi BETA=0.5 | scalecom_check --steps 6 --third --realloc --inplace
2 | TRANSPORT=ucx KEY=address | scalecom_check --steps 6 --third --realloc
CASES
run_cases "$tmp/cases" 2
n_cases=$n_case

# COMPCOLL_KEY=auto: the same tensors, their buffers kept or freed and taken
# anew (the allocator handing each the other's): the same bits out.
check=$(program scalecom_check)
sums=""
for how in "" "--realloc"; do
    # shellcheck disable=SC2086
    $guard "$mpiexec" -n 2 env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=64 \
        COMPCOLL_RATIO=10 "$check" --steps 8 --third --checksum --quiet $how \
        >"$tmp/sum.log" 2>&1 </dev/null
    sums="$sums $(sed -n 's/^# checksum //p' "$tmp/sum.log")"
done
set -- $sums
if [ $# -eq 2 ] && [ "$1" = "$2" ]; then
    echo "ok $((n_cases + 1)) - KEY=auto: buffers kept and buffers re-taken every step give the same outputs ($1)"
else
    echo "not ok $((n_cases + 1)) - KEY=auto: buffers kept and buffers re-taken every step differ:$sums"
fi

# Fortran: MPICH's binding calls MPI_Allreduce with MPI_REAL
fc=${MPIFC:-mpif90.mpich}
n=$((n_cases + 2))
if ! command -v "$fc" >/dev/null 2>&1; then
    echo "ok $n # SKIP no Fortran compiler ($fc)"
elif ! "$fc" -O1 -o "$tmp/fortran_check" "${TESTS_SRCDIR:-.}/mpi/fortran_check.f90" >"$tmp/fc.log" 2>&1; then
    echo "not ok $n - Fortran: $fc could not build fortran_check.f90"
    head -n 10 "$tmp/fc.log" | sed 's/^/#   /'
else
    $guard "$mpiexec" -n 2 env LD_PRELOAD="$lib" COMPCOLL_MIN_COUNT=1000 \
        COMPCOLL_RATIO=100 COMPCOLL_STATS="$tmp/f.json" "$tmp/fortran_check" \
        >"$tmp/f.log" 2>&1 </dev/null
    rc=$?
    compressed=$(sed -n 's/.*"calls_compressed": \([0-9]*\).*/\1/p' "$tmp/f.json" 2>/dev/null)
    if [ $rc -eq 0 ] && [ "$compressed" = 4 ]; then
        echo "ok $n - Fortran MPI_ALLREDUCE of MPI_REAL in place: compressed (4 calls) and equal to the method"
    else
        echo "not ok $n - Fortran MPI_ALLREDUCE of MPI_REAL: exit $rc, calls_compressed=${compressed:-none}"
        head -n 10 "$tmp/f.log" | sed 's/^/#   /'
    fi
fi
