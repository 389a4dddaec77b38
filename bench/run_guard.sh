# Sourced by bench/sweep.sh and bench/cluster.sh (bash).
#
# run_guarded LIMIT_S DONE_FILE... -- COMMAND...
#   Runs COMMAND under timeout(1) with LIMIT_S, in the background, and waits.
#   When every DONE_FILE exists and is non-empty (the benchmark's CSV line and
#   the statistics JSON, which rank 0 writes inside MPI_Finalize before
#   PMPI_Finalize), the measurement is complete: the command then gets 5 s
#   to exit and is stopped (TERM) after that.
#   Why: MPICH 4.0.2 over UCX 1.13 tcp (UCX_TLS=tcp) hangs in about half of
#   the runs in PMPI_Finalize when the last MPI call before it was an
#   MPI_Reduce (a plain MPI program shows it without libcompcoll: rank 0
#   spins in ucp_worker_progress inside PMPI_Finalize, the other rank waits
#   in the PMI barrier; an MPI_Barrier before MPI_Finalize avoids it).
#   libcompcoll's statistics end with that barrier; the guard stays for
#   MPICH's own runs and for libraries built before it.
#   Sets run_status: 0 (clean exit), "hang" (complete, stopped at exit),
#   or the command's exit status (124: LIMIT_S ran out).  Sets run_pid while
#   the command runs, so a trap can stop it.
run_guarded() {
    local limit=$1 done_files=() f all t0 grace
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        done_files+=("$1")
        shift
    done
    shift
    timeout -k 5 "$limit" "$@" &
    run_pid=$!
    grace=""
    while kill -0 "$run_pid" 2>/dev/null; do
        all=1
        for f in "${done_files[@]}"; do
            [ -s "$f" ] || all=0
        done
        if [ $all = 1 ]; then
            t0=$(date +%s)
            [ -z "$grace" ] && grace=$t0
            if [ $((t0 - grace)) -ge 5 ]; then
                kill -TERM "$run_pid" 2>/dev/null || true
                wait "$run_pid" 2>/dev/null || true
                run_pid=""
                run_status=hang
                return 0
            fi
        fi
        sleep 0.1
    done
    run_status=0
    wait "$run_pid" || run_status=$?
    run_pid=""
    return 0
}
