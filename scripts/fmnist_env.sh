# Sourced by bench/tta.sh (which scripts/demo.sh runs) and bench/fidelity.sh:
# the environment the Fashion-MNIST trainer runs in.
#
# fmnist_run_env RANKS: one BLAS thread per rank (the ranks fill the
# cores); with more ranks than cores, MPICH's recursive-doubling all-reduce
# for both the dense and the compressed runs, unless the caller chose an
# algorithm: oversubscribed MPICH ranks spin while they wait, and every
# round waits for a descheduled partner, so the fewest rounds win.  Sets
# `cores`, and fmnist_oversubscribed=1 when it chose the algorithm.
fmnist_run_env() {
    OPENBLAS_NUM_THREADS=1
    export OPENBLAS_NUM_THREADS
    fmnist_oversubscribed=0
    cores=$(nproc 2>/dev/null || echo 0)
    if [ "$cores" -gt 0 ] && [ "$1" -gt "$cores" ] &&
        [ -z "${MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM-}" ]; then
        MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM=recursive_doubling
        export MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM
        fmnist_oversubscribed=1
    fi
}
