#!/bin/sh
#
# tests/python/run-python.sh: libcompcoll under mpi4py + numpy; TAP.
#
# Makes (once; reused while it works) a virtual environment in the build
# tree with mpi4py (4.x, built from source against MPICH by mpicc.mpich)
# and numpy from the package index, then runs tests/python/mpi4py_check.py
# under mpiexec at 2 ranks with libcompcoll preloaded (COMPCOLL_SELECT=exact
# COMPCOLL_RATIO=100 COMPCOLL_BETA=1, the rest at their defaults): every
# float32 MPI.SUM all-reduce is checked on every rank against ScaleCom as
# libcompcoll(7) defines it, recomputed in numpy from all ranks' gradients
# (the program's own allgather, which MPI does untouched), and the
# statistics JSON against the calls the program made:
#   (a) comm.Allreduce(MPI.IN_PLACE, x) and comm.Allreduce(x, y), the same
#       buffers every step, and a float64 all-reduce that passes through;
#   (b) comm.Iallreduce + req.Wait(), and two outstanding ones completed by
#       MPI.Request.Waitall;
#   (c) fresh arrays every step (new numpy objects, alive for one step, as
#       PyTorch's gradients and torch.cat buckets are) keep one
#       error-feedback memory per tensor;
#   (d) two threads, each on its own comm.Dup(), at once (mpi4py asks for
#       MPI_THREAD_MULTIPLE).
# Skips (1..0 # SKIP, exit status $python_skip, default 0 as tap-driver
# wants) only when the environment is missing and pip cannot reach its
# package index; a venv or pip install that fails otherwise is a failure.
#
# Environment: MPIEXEC, TEST_LIBCOMPCOLL, TESTS_BUILDDIR, TESTS_SRCDIR,
# TEST_MPI_TIMEOUT (seconds per job, default 60), PYTHON (the python that
# makes the venv, default python3), MPICC (default mpicc.mpich),
# TEST_PYTHON_VENV (the venv, default $TESTS_BUILDDIR/python/venv),
# TEST_PIP_TIMEOUT (seconds for the pip install, default 900).

mpi_name=python
mpi_timeout=60
mpi_skip=${python_skip:-0}
. "${TESTS_SRCDIR:-.}/mpi/common.sh"

python=${PYTHON:-python3}
srcdir=${TESTS_SRCDIR:-.}
check=$srcdir/python/mpi4py_check.py
venv=${TEST_PYTHON_VENV:-$builddir/python/venv}
pip_timeout=${TEST_PIP_TIMEOUT:-900}
ranks=2
steps=4

skip() {
    echo "1..0 # SKIP $1"
    exit "$mpi_skip"
}

# The venv: ready when its python imports mpi4py 4.x and numpy and the
# marker file says its install finished (test 1 checks the MPI is MPICH).
venv_ok() {
    [ -f "$venv/.compcoll-ready" ] &&
        "$venv/bin/python" -c '
import sys, mpi4py, numpy
sys.exit(0 if int(mpi4py.__version__.split(".")[0]) >= 4 else 1)' \
            >/dev/null 2>&1
}

if ! venv_ok; then
    if ! command -v "$python" >/dev/null 2>&1; then
        echo "Bail out! $python not found (PYTHON names another)"
        exit 1
    fi
    log=$tmp/venv.log
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv" >"$log" 2>&1; then
        echo "Bail out! $python -m venv $venv failed (Debian: apt-get install python3-venv): $(tail -n 1 "$log")"
        exit 1
    fi
    # The one reason to skip: pip cannot reach its package index.
    if ! $guard "$venv/bin/pip" --disable-pip-version-check --retries 1 \
        --timeout 20 index versions mpi4py >"$log" 2>&1; then
        why=$(grep -v '^WARNING: pip index is currently an experimental' "$log" |
            tail -n 1 | cut -c1-200)
        rm -rf "$venv"
        skip "pip cannot reach its package index for mpi4py and numpy${why:+ ($why)}"
    fi
    echo "# making $venv: MPICC=${MPICC:-mpicc.mpich} pip install mpi4py numpy (mpi4py compiles, a minute or two)"
    if ! MPICC=${MPICC:-mpicc.mpich} timeout "$pip_timeout" \
        "$venv/bin/pip" --disable-pip-version-check install \
        --no-binary mpi4py 'mpi4py>=4' numpy >"$log" 2>&1; then
        tail -n 20 "$log" | cut -c1-300 | sed 's/^/#   /'
        echo "Bail out! pip install mpi4py numpy into $venv failed (Debian: python3-dev and libmpich-dev build mpi4py)"
        exit 1
    fi
    "$venv/bin/pip" --disable-pip-version-check freeze >"$venv/.compcoll-ready"
fi
py=$venv/bin/python

echo "1..9"
# diagnostics: the head of the findings
tap_diag="head -n 20"

# 1: the venv's mpi4py is MPICH's
"$py" - >"$tmp/versions" 2>&1 <<'EOF'
import mpi4py, numpy
mpi4py.rc.initialize = False
from mpi4py import MPI
lib = MPI.Get_library_version()
print("mpi4py %s, numpy %s, %s" % (mpi4py.__version__, numpy.__version__,
                                   lib.split("\n")[0].strip()[:60]))
raise SystemExit(0 if "MPICH" in lib else 1)
EOF
tap $? "venv $venv: $(head -n 1 "$tmp/versions")" "$tmp/versions"

# job NAME MODE: the program under mpiexec, rank 0's stats in $tmp/NAME.json;
# sets rc and secs, leaves the output in $tmp/NAME.log
job() {
    rm -f "$tmp/$1.json"
    start=$(date +%s)
    $guard "$mpiexec" -n $ranks env LD_PRELOAD="$lib" \
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
        COMPCOLL_SELECT=exact COMPCOLL_RATIO=100 COMPCOLL_BETA=1 \
        COMPCOLL_STATS="$tmp/$1.json" \
        "$py" "$check" "$2" --steps $steps >"$tmp/$1.log" 2>&1 </dev/null
    rc=$?
    secs=$(($(date +%s) - start))
}

# results NAME DESCRIPTION: one TAP line for the job's exit and findings
results() {
    case $rc in
    0) tap 0 "$2 (${secs}s; $(sed -n 's/^# [a-z]*: 0 findings; //p' "$tmp/$1.log"))" ;;
    124 | 137) tap 1 "$2: timed out after ${timeout_s}s" "$tmp/$1.log" ;;
    *)
        { grep 'FAILED' "$tmp/$1.log"; grep -v 'FAILED' "$tmp/$1.log"; } >"$tmp/$1.why"
        tap 1 "$2: exit status $rc" "$tmp/$1.why"
        ;;
    esac
}

# stats NAME DESCRIPTION [check.py json options]: one TAP line for the JSON
stats() {
    name=$1
    desc=$2
    shift 2
    c=$(sed -n 's/^# calls: compressed=\([0-9]*\).*/\1/p' "$tmp/$name.log")
    if [ -z "$c" ]; then
        echo "no '# calls:' line from the program (exit $rc)" >"$tmp/$name.jwhy"
        tap 1 "$desc" "$tmp/$name.jwhy"
        return
    fi
    "$py" "$check" json "$tmp/$name.json" --compressed "$c" "$@" \
        >"$tmp/$name.jwhy" 2>&1
    tap $? "$desc (calls_compressed=$c)" "$tmp/$name.jwhy"
}

job a inplace
results a "(a) comm.Allreduce(MPI.IN_PLACE, x) and Allreduce(x, y), float32 n=20000 and 30000, $steps steps: every result is ScaleCom's on every rank; float64 passes through"
stats a "(a) stats JSON: calls_compressed = the program's float32 calls, float64 passthrough counted, one memory per tensor with $steps calls, bytes ratio > 10" \
    --passthrough-min 1 --tensor 20000:$steps --tensor 30000:$steps

job b nonblocking
results b "(b) comm.Iallreduce + req.Wait(), and two outstanding completed by MPI.Request.Waitall: every result is ScaleCom's"
stats b "(b) stats JSON: the Iallreduce calls are compressed, one memory per tensor" \
    --tensor 20000:$((2 * steps)) --tensor 30000:$((2 * steps))

job c fresh
results c "(c) fresh arrays every step (new numpy objects, dropped the next step), in place, out of place and 1.2 MB: results follow ONE error-feedback memory per tensor"
stats c "(c) stats JSON: exactly one tensors entry per count, each with $steps calls" \
    --tensor 20000:$steps --tensor 30000:$steps --tensor 300000:$steps

job d threads
results d "(d) two threads, each on its own comm.Dup(), Allreduce at once (MPI_THREAD_MULTIPLE): complete within ${timeout_s}s with ScaleCom's results"
stats d "(d) stats JSON: both threads' calls compressed, one memory per communicator's tensor" \
    --tensor 20000:$steps --tensor 24000:$steps

exit 0
