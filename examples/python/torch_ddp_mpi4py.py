#!/usr/bin/env python3
"""Data-parallel training of a small MLP on Fashion-MNIST with PyTorch and
mpi4py: every rank holds the whole model, takes its share of each global
batch, and the ranks sum their gradients with MPI Allreduce (float32,
MPI.SUM), then divide by the number of ranks.  A plain MPI program: it knows
nothing of any library that may be preloaded under it.

    mpiexec -n 2 python3 torch_ddp_mpi4py.py [--epochs N] [--subset N|all]
        [--seed N] [--bucket] [--batch N] [--lr X] [--momentum X]
        [--threads N] [--data DIR] [--report-rss]

By default each parameter's gradient is all-reduced on its own, in place:
comm.Allreduce(MPI.IN_PLACE, p.grad.numpy(), op=MPI.SUM).  optimizer.
zero_grad() sets the gradients to None, so autograd allocates them afresh
every step.  With --bucket all gradients are concatenated with torch.cat into
one new tensor every step, all-reduced once, and copied back.

Data: the four *-ubyte.gz files of Fashion-MNIST (Debian's
dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist).
"""

import argparse
import gzip
import os
import resource
import sys
import time

import numpy as np
import torch
from mpi4py import MPI

DEFAULT_DATA = os.environ.get("FMNIST_DATA",
                              "/usr/share/datasets/fashion-mnist")


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load(data, split):
    """Images as float32 (n, 784), standardized, and labels as int64."""
    images = read_idx(os.path.join(data, "%s-images-idx3-ubyte.gz" % split), 16)
    labels = read_idx(os.path.join(data, "%s-labels-idx1-ubyte.gz" % split), 8)
    x = images.reshape(-1, 784).astype(np.float32) / 255.0
    x = (x - 0.2860) / 0.3530
    return torch.from_numpy(x), torch.from_numpy(labels.astype(np.int64))


def positive(text):
    v = int(text)
    if v <= 0:
        raise argparse.ArgumentTypeError("expected a positive integer")
    return v


def subset_arg(text):
    return None if text == "all" else positive(text)


def parse():
    ap = argparse.ArgumentParser(
        description="Fashion-MNIST MLP, data-parallel with PyTorch + mpi4py")
    ap.add_argument("--epochs", type=positive, default=3,
                    help="passes over the training set (default 3)")
    ap.add_argument("--subset", type=subset_arg, default=30000,
                    metavar="N|all", help="train on the first N training "
                    "images (default 30000; all: 60000)")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed of the initial parameters and the shuffling, "
                    "the same on every rank (default 1)")
    ap.add_argument("--bucket", action="store_true",
                    help="all-reduce one torch.cat of all gradients per step "
                    "instead of one call per parameter")
    ap.add_argument("--batch", type=positive, default=128,
                    help="global batch, split over the ranks (default 128)")
    ap.add_argument("--lr", type=float, default=0.05,
                    help="SGD learning rate (default 0.05)")
    ap.add_argument("--momentum", type=float, default=0.9,
                    help="SGD momentum (default 0.9)")
    ap.add_argument("--threads", type=positive, default=1,
                    help="torch threads per rank (default 1)")
    ap.add_argument("--data", default=DEFAULT_DATA,
                    help="folder of the *-ubyte.gz files (default %s)"
                    % DEFAULT_DATA)
    ap.add_argument("--report-rss", action="store_true",
                    help="print every rank's peak resident memory at the end")
    return ap.parse_args()


def allreduce_grads(comm, params, bucket):
    """Sum the gradients over the ranks, then divide by their number."""
    size = comm.Get_size()
    if bucket:
        flat = torch.cat([p.grad.reshape(-1) for p in params])  # new tensor
        comm.Allreduce(MPI.IN_PLACE, flat.numpy(), op=MPI.SUM)
        flat /= size
        offset = 0
        for p in params:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n
    else:
        for p in params:
            comm.Allreduce(MPI.IN_PLACE, p.grad.numpy(), op=MPI.SUM)
            p.grad /= size


def evaluate(comm, model, x, y):
    """Test accuracy (percent) and mean loss, each rank on its share."""
    rank, size = comm.Get_rank(), comm.Get_size()
    with torch.no_grad():
        out = model(x[rank::size])
        loss = torch.nn.functional.cross_entropy(out, y[rank::size],
                                                 reduction="sum").item()
        correct = int((out.argmax(1) == y[rank::size]).sum())
    correct = comm.allreduce(correct)
    loss = comm.allreduce(loss)
    return 100.0 * correct / len(y), loss / len(y)


def main():
    o = parse()
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    torch.set_num_threads(o.threads)
    if o.batch < size:
        if rank == 0:
            print("--batch %d: smaller than the %d ranks" % (o.batch, size),
                  file=sys.stderr)
        return 2
    try:
        xtrain, ytrain = load(o.data, "train")
        xtest, ytest = load(o.data, "t10k")
    except OSError as e:
        if rank == 0:
            print("cannot read Fashion-MNIST from %s: %s (apt-get install "
                  "dataset-fashion-mnist, or --data DIR)" % (o.data, e),
                  file=sys.stderr)
        return 1
    if o.subset is not None:
        xtrain, ytrain = xtrain[:o.subset], ytrain[:o.subset]

    torch.manual_seed(o.seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 10))
    params = list(model.parameters())
    for p in params:                # every rank starts from rank 0's model
        comm.Bcast(p.data.numpy(), root=0)
    opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum)

    local = o.batch // size
    steps = len(ytrain) // (local * size)
    if rank == 0:
        print("%d ranks, torch %s, %d training images, global batch %d, "
              "%d steps per epoch, %s" % (
                  size, torch.__version__, len(ytrain), local * size, steps,
                  "one bucket per step" if o.bucket else
                  "one all-reduce per parameter"), flush=True)

    gen = torch.Generator().manual_seed(o.seed)
    acc = 0.0
    start = time.time()
    for epoch in range(1, o.epochs + 1):
        t0 = time.time()
        perm = torch.randperm(len(ytrain), generator=gen)  # same on all ranks
        model.train()
        total = 0.0
        for s in range(steps):
            batch = perm[s * local * size:(s + 1) * local * size]
            mine = batch[rank * local:(rank + 1) * local]
            opt.zero_grad()         # grads become None: fresh every step
            loss = torch.nn.functional.cross_entropy(model(xtrain[mine]),
                                                     ytrain[mine])
            loss.backward()
            allreduce_grads(comm, params, o.bucket)
            opt.step()
            total += loss.item()
        model.eval()
        train_loss = comm.allreduce(total) / (steps * size)
        acc, test_loss = evaluate(comm, model, xtest, ytest)
        if rank == 0:
            print("epoch %d train_loss %.4f test_loss %.4f test_acc %.2f%% "
                  "time %.1fs" % (epoch, train_loss, test_loss, acc,
                                  time.time() - t0), flush=True)

    # the ranks must hold the same model: the all-reduce gives every rank
    # the same sums
    digest = float(sum(p.data.double().sum().item() for p in params))
    same = len(set(comm.allgather(digest))) == 1
    rss = comm.gather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, 0)
    if rank == 0:
        print("final test accuracy: %.2f%% (%d epochs, %.1fs; parameters "
              "%s on all ranks)" % (acc, o.epochs, time.time() - start,
                                    "identical" if same else "DIFFER"))
        if o.report_rss:
            print("max RSS per rank (MiB): " +
                  " ".join("%.1f" % (kb / 1024.0) for kb in rss))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
