"""mpi4py programs for tests/python/run-python.sh, and its stats-JSON check.

    mpi4py_check.py {inplace,nonblocking,fresh,threads} [--steps N] [--seed S]
        an MPI program (run it under mpiexec with libcompcoll preloaded,
        COMPCOLL_SELECT=exact COMPCOLL_RATIO=100 COMPCOLL_BETA=1): float32
        MPI.SUM all-reduces through mpi4py, each result checked on every rank
        against the ScaleCom oracle below; rank 0 prints one "# calls:" line
        and one "FAILED ..." line per finding, and every rank exits 1 when
        any rank found one.
    mpi4py_check.py json FILE --compressed N [--passthrough-min N]
                         [--tensor COUNT:CALLS]...
        checks the JSON rank 0 wrote at MPI_Finalize (COMPCOLL_STATS=FILE);
        prints the findings and exits 1 when there are any.  Does not import
        mpi4py.

The oracle is libcompcoll(7)'s definition, recomputed in numpy from all
ranks' gradients (gathered with comm.allgather, which is not an all-reduce
and goes to MPI untouched), never the library's code: for the t-th handled
call on a communicator (t from 0, counted per communicator over the float32
MPI_SUM calls only), the leader is rank t mod p; a_r = m_r + g_r in float32;
the leader picks the k = ceil(n / 100) indices of largest |a_leader| (ties
to the lower index; the gradients are random normal, so none occur); the
output is sum_r a_r[i] on those indices and exactly 0 elsewhere; then
m_r <- a_r with the chosen indices set to 0 (beta = 1).  One memory per
logical tensor, whatever buffer the program hands in.
"""

import argparse
import json
import math
import os
import sys
import threading
import time

import numpy as np

RATIO = 100
RTOL = 1e-5
FRESH_LARGE = 300000     # 1.2 MB: above glibc's mmap threshold


class Oracle:
    """ScaleCom on one communicator of p ranks, beta = 1, exact selection."""

    def __init__(self, p):
        self.p = p
        self.calls = 0          # handled calls on this communicator
        self.mem = {}           # logical tensor -> [m_0, ..., m_{p-1}]
        self.memory_mattered = 0

    def call(self, tensor, grads):
        """grads: every rank's float32 gradient.  Returns (idx, ref, scale,
        leader): the chosen indices (ascending), their sums in float64, the
        sums of magnitudes (the rounding scale) and the leader."""
        p = self.p
        n = grads[0].size
        k = -(-n // RATIO)
        mem = self.mem.setdefault(
            tensor, [np.zeros(n, np.float32) for _ in range(p)])
        a = [(mem[r] + grads[r]).astype(np.float32) for r in range(p)]
        leader = self.calls % p
        self.calls += 1
        idx = top_k(a[leader], k)
        if not np.array_equal(idx, top_k(grads[leader], k)):
            self.memory_mattered += 1
        vals = np.array([ar[idx] for ar in a], dtype=np.float64)
        ref = vals.sum(axis=0)
        scale = np.abs(vals).sum(axis=0)
        for r in range(p):
            a[r][idx] = 0.0
            mem[r] = a[r]
        return idx, ref, scale, leader


def top_k(x, k):
    """The k indices of largest |x|, ties to the lower index, ascending."""
    order = np.argsort(-np.abs(x), kind="stable")
    return np.sort(order[:k])


def compare(out, idx, ref, scale, what):
    """Findings (strings) of one call's output against the oracle."""
    errs = []
    if out.dtype != np.float32:
        return ["%s: output dtype %s" % (what, out.dtype)]
    n = out.size
    sel = np.zeros(n, dtype=bool)
    sel[idx] = True
    nz = np.flatnonzero(out)
    want = idx[ref != 0.0]      # a sum of exactly 0 is not a nonzero
    if not np.array_equal(nz, want):
        extra = np.setdiff1d(nz, want)
        missing = np.setdiff1d(want, nz)
        errs.append("%s: index set differs: %d nonzeros, expected %d; "
                    "%d unexpected (first %s), %d missing (first %s)"
                    % (what, nz.size, want.size, extra.size,
                       extra[:5].tolist(), missing.size,
                       missing[:5].tolist()))
    off = np.count_nonzero(out[~sel])
    if off:
        errs.append("%s: %d of %d unselected elements are not exactly 0"
                    % (what, off, n - idx.size))
    got = out[idx].astype(np.float64)
    bad = np.abs(got - ref) > RTOL * scale
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        errs.append("%s: %d of %d selected sums off by more than %g "
                    "relative (index %d: got %r, expected %r)"
                    % (what, int(bad.sum()), idx.size, RTOL, int(idx[j]),
                       float(got[j]), float(ref[j])))
    return errs


def gradient(seed, rank, step, tensor, n):
    rng = np.random.default_rng([seed, rank, step, tensor])
    return rng.standard_normal(n).astype(np.float32)


class Program:
    """One job: the checks of one mode on its communicators."""

    def __init__(self, comm, seed):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.seed = seed
        self.errs = []
        self.calls = 0              # compressed calls this rank made
        self.passthrough = 0
        self.note = ""
        self.lock = threading.Lock()

    def grads(self, comm, step, tensor, n):
        """This rank's gradient and every rank's, gathered (not reduced)."""
        g = gradient(self.seed, comm.Get_rank(), step, tensor, n)
        return g, comm.allgather(g)

    def check(self, comm, out, expect, what):
        """out against the oracle's (idx, ref, scale, leader); also every
        rank received the same bits."""
        idx, ref, scale, leader = expect
        what = "%s (leader %d)" % (what, leader)
        errs = compare(out, idx, ref, scale, what)
        digests = comm.allgather(out.tobytes())
        if any(d != digests[0] for d in digests):
            errs.append("%s: ranks received different results" % what)
        with self.lock:
            self.errs.extend(errs)
            self.calls += 1

    def finish(self, mode, extra=""):
        from mpi4py import MPI
        everyone = self.comm.gather(self.errs, root=0)
        counts = self.comm.gather(self.calls, root=0)
        failed = self.comm.allreduce(len(self.errs), op=MPI.SUM)
        if self.rank == 0:
            for r, errs in enumerate(everyone):
                shown = 6 if r == 0 else 1
                for e in errs[:shown]:
                    print("FAILED rank %d: %s" % (r, e))
                if len(errs) > shown:
                    print("FAILED rank %d: ... %d findings in all"
                          % (r, len(errs)))
            print("# calls: compressed=%d passthrough=%d" % (
                max(counts), self.passthrough))
            print("# %s: %d findings%s" % (mode, failed, extra))
            sys.stdout.flush()
        return 1 if failed else 0


def mode_inplace(prog, steps):
    """Allreduce(IN_PLACE, x) and Allreduce(x, y), the same buffers every
    step, interleaved, with a float64 all-reduce (passthrough, not counted
    by the leader) in the middle."""
    from mpi4py import MPI
    comm = prog.comm
    oracle = Oracle(prog.size)
    na, nb = 20000, 30000
    x = np.empty(na, np.float32)
    xb = np.empty(nb, np.float32)
    yb = np.empty(nb, np.float32)
    for step in range(steps):
        g, G = prog.grads(comm, step, 0, na)
        x[:] = g
        comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM)
        prog.check(comm, x, oracle.call("a", G),
                   "step %d Allreduce(IN_PLACE) n=%d" % (step, na))
        if step == steps // 2:
            d = gradient(prog.seed, prog.rank, step, 9, na).astype(np.float64)
            D = comm.allgather(d)
            s = np.empty_like(d)
            comm.Allreduce(d, s, op=MPI.SUM)
            prog.passthrough += 1
            if not np.allclose(s, np.sum(D, axis=0), rtol=1e-12, atol=0):
                prog.errs.append("float64 Allreduce (passthrough) is not "
                                 "the sum")
        g, G = prog.grads(comm, step, 1, nb)
        xb[:] = g
        yb[:] = np.nan
        comm.Allreduce(xb, yb, op=MPI.SUM)
        prog.check(comm, yb, oracle.call("b", G),
                   "step %d Allreduce(x, y) n=%d" % (step, nb))
        if not np.array_equal(xb, g):
            prog.errs.append("step %d Allreduce(x, y) changed x" % step)
    return oracle


def mode_nonblocking(prog, steps):
    """Iallreduce + Wait (in place and out of place), then pairs of
    outstanding Iallreduce completed by MPI.Request.Waitall."""
    from mpi4py import MPI
    comm = prog.comm
    oracle = Oracle(prog.size)
    na, nb = 20000, 30000
    x = np.empty(na, np.float32)
    xb = np.empty(nb, np.float32)
    yb = np.empty(nb, np.float32)
    for step in range(2 * steps):
        ga, GA = prog.grads(comm, step, 0, na)
        gb, GB = prog.grads(comm, step, 1, nb)
        x[:] = ga
        xb[:] = gb
        yb[:] = np.nan
        if step < steps:
            req = comm.Iallreduce(MPI.IN_PLACE, x, op=MPI.SUM)
            if not isinstance(req, MPI.Request) or req == MPI.REQUEST_NULL:
                prog.errs.append("Iallreduce returned %r" % (req,))
            req.Wait()
            prog.check(comm, x, oracle.call("a", GA),
                       "step %d Iallreduce(IN_PLACE)+Wait n=%d" % (step, na))
            req = comm.Iallreduce(xb, yb, op=MPI.SUM)
            req.Wait()
            prog.check(comm, yb, oracle.call("b", GB),
                       "step %d Iallreduce(x, y)+Wait n=%d" % (step, nb))
        else:
            # numbered in the order they were started
            ea, eb = oracle.call("a", GA), oracle.call("b", GB)
            reqs = [comm.Iallreduce(MPI.IN_PLACE, x, op=MPI.SUM),
                    comm.Iallreduce(xb, yb, op=MPI.SUM)]
            MPI.Request.Waitall(reqs)
            prog.check(comm, x, ea, "step %d Iallreduce(IN_PLACE) of 2 "
                       "outstanding, Waitall n=%d" % (step, na))
            prog.check(comm, yb, eb, "step %d Iallreduce(x, y) of 2 "
                       "outstanding, Waitall n=%d" % (step, nb))
    return oracle


def mode_fresh(prog, steps):
    """A fresh array every step, as a training step makes them: new numpy
    objects, alive until the next step replaces them (PyTorch's zero_grad
    and torch.cat buckets do the same): one in place, one out of place into
    a fresh result array, and one large enough that malloc maps it anew
    every step and unmaps it when it is dropped."""
    from mpi4py import MPI
    comm = prog.comm
    oracle = Oracle(prog.size)
    sizes = {"a": 20000, "b": 30000, "c": FRESH_LARGE}
    addresses = {name: set() for name in sizes}
    for step in range(steps):
        live = []               # this step's buffers; the next step drops them
        for t, name in enumerate(("a", "b", "c")):
            n = sizes[name]
            g, G = prog.grads(comm, step, t, n)
            x = g.copy()        # a new object, new memory
            addresses[name].add(x.ctypes.data)
            if name == "b":
                y = np.zeros(n, np.float32)
                comm.Allreduce(x, y, op=MPI.SUM)
                live += [x, y]
                out, how = y, "Allreduce(x, y)"
            else:
                comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM)
                live.append(x)
                out, how = x, "Allreduce(IN_PLACE)"
            prog.check(comm, out, oracle.call(name, G),
                       "step %d fresh %s n=%d" % (step, how, n))
        del live, x, g, G
    prog.note = "; distinct buffer addresses over %d steps: %s" % (
        steps, ", ".join("n=%d %d" % (sizes[k], len(v))
                         for k, v in sorted(addresses.items())))
    return oracle


def mode_threads(prog, steps):
    """Two threads, each on its own comm.Dup(), all-reducing at once."""
    from mpi4py import MPI
    if MPI.Query_thread() != MPI.THREAD_MULTIPLE:
        prog.errs.append("MPI.Query_thread() = %d, not MPI_THREAD_MULTIPLE"
                         % MPI.Query_thread())
    comms = [prog.comm.Dup(), prog.comm.Dup()]
    counts = [20000, 24000]
    oracles = [Oracle(prog.size), Oracle(prog.size)]
    start = threading.Barrier(2)

    def body(t):
        comm, n = comms[t], counts[t]
        x = np.empty(n, np.float32)
        try:
            start.wait()
            for step in range(steps):
                g, G = prog.grads(comm, step, t, n)
                x[:] = g
                comm.Allreduce(MPI.IN_PLACE, x, op=MPI.SUM)
                prog.check(comm, x, oracles[t].call("t%d" % t, G),
                           "thread %d step %d Allreduce(IN_PLACE) n=%d on "
                           "its Dup" % (t, step, n))
        except Exception as e:  # noqa: BLE001 - reported as a finding
            with prog.lock:
                prog.errs.append("thread %d: %r" % (t, e))

    threads = [threading.Thread(target=body, args=(t,)) for t in (0, 1)]
    for th in threads:
        th.start()
    limit = float(os.environ.get("MPI4PY_CHECK_THREAD_TIMEOUT", "30"))
    end = time.monotonic() + limit
    for th in threads:
        th.join(max(0.0, end - time.monotonic()))
    alive = [i for i, th in enumerate(threads) if th.is_alive()]
    if alive:
        print("FAILED rank %d: thread(s) %s still in MPI after %g s "
              "(deadlock?)" % (prog.rank, alive, limit), flush=True)
        os._exit(3)
    for c in comms:
        c.Free()
    return oracles


def run_job(mode, steps, seed):
    from mpi4py import MPI
    prog = Program(MPI.COMM_WORLD, seed)
    if prog.size < 2:
        print("FAILED: run me on 2 ranks or more")
        return 1
    modes = {"inplace": mode_inplace, "nonblocking": mode_nonblocking,
             "fresh": mode_fresh, "threads": mode_threads}
    oracles = modes[mode](prog, steps)
    if not isinstance(oracles, list):
        oracles = [oracles]
    mattered = sum(o.memory_mattered for o in oracles)
    made = sum(o.calls for o in oracles)
    # the test's own power: without the memory the oracle would have chosen
    # other indices in some calls, so a library that ignored it would fail
    if mattered == 0:
        prog.errs.append("test design: the memory never changed the index "
                         "set; use more steps")
    return prog.finish(mode, "; the memory changed the leader's index set "
                       "in %d of %d calls%s" % (mattered, made, prog.note))


def check_json(path, compressed, passthrough_min, tensors):
    errs = []
    try:
        with open(path) as f:
            s = json.load(f)
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        return ["cannot read %s as JSON: %s" % (path, e)]
    if not isinstance(s, dict):
        return ["the JSON is not an object"]
    if s.get("calls_compressed") != compressed:
        errs.append("calls_compressed=%r, but the program made %d compressed "
                    "calls" % (s.get("calls_compressed"), compressed))
    cp = s.get("calls_passthrough")
    if not isinstance(cp, int) or cp < passthrough_min:
        errs.append("calls_passthrough=%r, expected >= %d"
                    % (cp, passthrough_min))
    if compressed:
        dense, sent = s.get("bytes_dense"), s.get("bytes_sent")
        if not isinstance(dense, (int, float)) or \
                not isinstance(sent, (int, float)) or sent <= 0 or \
                dense / sent <= 10:
            errs.append("bytes_dense/bytes_sent = %r/%r, expected > 10 at "
                        "ratio %d" % (dense, sent, RATIO))
    t = s.get("tensors")
    if not isinstance(t, list):
        errs.append("tensors=%r is not an array" % (t,))
        return errs
    ranks = s.get("ranks", 1)
    for count, calls in tensors:
        mine = [e for e in t if isinstance(e, dict) and e.get("count") == count]
        if not mine:
            errs.append("tensors: no entry with count %d (%d entries: %s)"
                        % (count, len(t), summary(t)))
            continue
        # entries are rank 0's (libcompcoll(7)), or each carries its "rank"
        if any("rank" in e for e in mine):
            want_ranks = list(range(ranks))
        else:
            want_ranks = [0]
        by_rank = {}
        for e in mine:
            by_rank.setdefault(e.get("rank", 0), []).append(e)
        for r in want_ranks:
            es = by_rank.get(r, [])
            if len(es) != 1:
                errs.append("tensors: rank %d has %d error-feedback memories "
                            "of count %d, expected 1: %s"
                            % (r, len(es), count, summary(es)))
                continue
            e = es[0]
            if e.get("calls") != calls:
                errs.append("tensors: count %d has calls=%r, expected %d"
                            % (count, e.get("calls"), calls))
            if e.get("k") != -(-count // RATIO):
                errs.append("tensors: count %d has k=%r, expected %d"
                            % (count, e.get("k"), -(-count // RATIO)))
    return errs


def summary(entries):
    out = ", ".join("{%s}" % " ".join("%s=%s" % (k, e.get(k))
                                      for k in ("key", "count", "calls"))
                    for e in entries[:6] if isinstance(e, dict))
    return out + (" ..." if len(entries) > 6 else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["inplace", "nonblocking", "fresh",
                                     "threads", "json"])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--compressed", type=int)
    ap.add_argument("--passthrough-min", type=int, default=0)
    ap.add_argument("--tensor", action="append", default=[],
                    help="COUNT:CALLS, one error-feedback memory expected")
    a = ap.parse_args()
    if a.mode == "json":
        if a.file is None or a.compressed is None:
            ap.error("json needs FILE and --compressed")
        tensors = [tuple(int(v) for v in s.split(":")) for s in a.tensor]
        errs = check_json(a.file, a.compressed, a.passthrough_min, tensors)
        for e in errs:
            print(e)
        return 1 if errs else 0
    return run_job(a.mode, a.steps, a.seed)


if __name__ == "__main__":
    sys.exit(main())
