#!/usr/bin/env python3
"""bench/gpu/torch_cltk.py: one CLT-k (ScaleCom) step in plain PyTorch.

The comparison point for bench/gpu/gpu_bench.c: the same per-rank work of a
compressed call, less the communication, written the straightforward way
with PyTorch tensor operations on the same GPU:

  exact: a = m + g; idx = sort(topk(|a|, k).indices); vals = a[idx];
         m += beta g, then m[idx] = (1 - beta) (m - beta g)[idx];
         out = 0; out[idx] = vals  (the summed values, here the own ones)
  chunk: as exact, with idx = per-chunk argmax of |a| over k chunks
         (the tail padded with zeros so that n need not divide by k)

Prints a table and appends CSV rows (device name first) to
bench/results/gpu_torch.csv (or --csv).  Times: median of --repeats,
CUDA events around each step, after warm-up.
"""
import argparse
import csv
import os
import statistics
import sys


def apply_step(m, g, out, a, idx, beta):
    """The memory update and output of a CLT-k step at indices idx."""
    vals = a[idx]
    kept = m[idx] * (1.0 - beta)
    m.add_(g, alpha=beta)
    m[idx] = kept
    out.zero_()
    out[idx] = vals
    return idx


def step_exact(m, g, out, k, beta):
    import torch

    a = m + g
    idx = torch.topk(a.abs(), k, sorted=False).indices
    idx, _ = torch.sort(idx)
    return apply_step(m, g, out, a, idx, beta)


def step_chunk(m, g, out, k, beta):
    import torch

    n = m.numel()
    a = m + g
    width = (n + k - 1) // k
    pad = width * k - n
    aa = a.abs()
    if pad:
        aa = torch.nn.functional.pad(aa, (0, pad))
    arg = aa.view(k, width).argmax(dim=1)
    idx = arg + torch.arange(k, device=a.device) * width
    idx = idx[idx < n]
    return apply_step(m, g, out, a, idx, beta)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,4000000,16000000,"
                        "25000000,64000000,100000000")
    parser.add_argument("--ratio", type=int, default=100)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=20)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--csv", default=os.path.join(
        here, "..", "results", "gpu_torch.csv"))
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("torch_cltk: no CUDA device", file=sys.stderr)
        return 77
    dev = torch.device("cuda", 0)
    name = torch.cuda.get_device_name(dev)
    print(f"# {name}, torch {torch.__version__}, ratio {args.ratio}, "
          f"beta {args.beta}, median of {args.repeats}")
    print(f"{'n':>12} {'k':>10} {'op':<11} {'seconds':>12}")
    new = not os.path.exists(args.csv)
    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
    with open(args.csv, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["device", "n", "k", "ratio", "op", "seconds"])
        for n in (int(s) for s in args.sizes.split(",")):
            k = (n + args.ratio - 1) // args.ratio
            gen = torch.Generator(device=dev).manual_seed(1)
            g = torch.rand(n, device=dev, generator=gen) * 2 - 1
            m = (torch.rand(n, device=dev, generator=gen) * 2 - 1) * 0.25
            out = torch.empty_like(g)
            for op, fn in (("step_exact", step_exact),
                           ("step_chunk", step_chunk)):
                for _ in range(3):
                    fn(m, g, out, k, args.beta)
                torch.cuda.synchronize()
                times = []
                for _ in range(args.repeats):
                    t0 = torch.cuda.Event(enable_timing=True)
                    t1 = torch.cuda.Event(enable_timing=True)
                    t0.record()
                    fn(m, g, out, k, args.beta)
                    t1.record()
                    t1.synchronize()
                    times.append(t0.elapsed_time(t1) * 1e-3)
                sec = statistics.median(times)
                print(f"{n:>12} {k:>10} {op:<11} {sec:>12.6f}")
                w.writerow([name, n, k, args.ratio, op, f"{sec:.9f}"])
            del g, m, out
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
