#!/usr/bin/env python3
"""Data-parallel training of a small MLP on Fashion-MNIST with Horovod
(horovod.torch over MPI, CPU operations): the same model, data, seeds and
steps as torch_ddp_mpi4py.py, with Horovod summing the gradients.  A plain
Horovod program: it knows nothing of any library that may be preloaded
under it.

    mpiexec -n 2 python3 torch_horovod.py [--epochs N] [--subset N|all]
        [--seed N] [--groups N] [--batch N] [--lr X] [--momentum X]
        [--threads N] [--data DIR] [--report-rss]

hvd.DistributedOptimizer with its default settings (average, no
compression, no groups) hooks every parameter: as soon as autograd has a
gradient, it is handed to Horovod's background thread, which every cycle
(HOROVOD_CYCLE_TIME, 1 ms) all-reduces the gradients that every rank has
ready, fused into one buffer up to HOROVOD_FUSION_THRESHOLD bytes (128 MiB)
or, alone, in the gradient's own buffer; optimizer.step() waits for them.
Horovod sums with MPI_Allreduce (float32, MPI_SUM) and multiplies by
1/ranks.  optimizer.zero_grad() sets the gradients to None, so autograd
allocates them afresh every step.  With --groups N the optimizer gets
groups=N: the parameters are split into N groups, and a group is
all-reduced, fused into one call, once all its gradients are ready (1: the
whole model in one call every step, whatever the cycle time).

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
import horovod
import horovod.torch as hvd

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
        description="Fashion-MNIST MLP, data-parallel with Horovod (PyTorch)")
    ap.add_argument("--epochs", type=positive, default=3,
                    help="passes over the training set (default 3)")
    ap.add_argument("--subset", type=subset_arg, default=30000,
                    metavar="N|all", help="train on the first N training "
                    "images (default 30000; all: 60000)")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed of the initial parameters and the shuffling, "
                    "the same on every rank (default 1)")
    ap.add_argument("--groups", type=positive, default=None,
                    help="hvd.DistributedOptimizer(groups=N): all-reduce the "
                    "gradients in N groups, each once it is complete "
                    "(default: Horovod's, no groups)")
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


def allsum(values, name):
    """Sum a few Python numbers over the ranks (float64: Horovod fuses them
    with nothing else, and MPI gets MPI_DOUBLE)."""
    t = torch.tensor(values, dtype=torch.float64)
    return hvd.allreduce(t, op=hvd.Sum, name=name).tolist()


def evaluate(model, x, y):
    """Test accuracy (percent) and mean loss, each rank on its share."""
    rank, size = hvd.rank(), hvd.size()
    with torch.no_grad():
        out = model(x[rank::size])
        loss = torch.nn.functional.cross_entropy(out, y[rank::size],
                                                 reduction="sum").item()
        correct = float((out.argmax(1) == y[rank::size]).sum())
    correct, loss = allsum([correct, loss], "evaluate")
    return 100.0 * correct / len(y), loss / len(y)


def main():
    o = parse()
    hvd.init()
    rank, size = hvd.rank(), hvd.size()
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
    opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum)
    opt = hvd.DistributedOptimizer(opt,
                                   named_parameters=model.named_parameters(),
                                   groups=o.groups)
    # every rank starts from rank 0's model and optimizer state
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(opt, root_rank=0)

    local = o.batch // size
    steps = len(ytrain) // (local * size)
    if rank == 0:
        print("%d ranks, torch %s, horovod %s (%s), %d training images, "
              "global batch %d, %d steps per epoch, %s" % (
                  size, torch.__version__, horovod.__version__,
                  "MPI" if hvd.mpi_enabled() else "not MPI", len(ytrain),
                  local * size, steps,
                  "%d gradient groups" % o.groups if o.groups else
                  "no gradient groups"), flush=True)

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
            loss.backward()         # the hooks hand each gradient to Horovod
            opt.step()              # waits for the all-reduces, then steps
            total += loss.item()
        model.eval()
        train_loss = allsum([total], "train_loss")[0] / (steps * size)
        acc, test_loss = evaluate(model, xtest, ytest)
        if rank == 0:
            print("epoch %d train_loss %.4f test_loss %.4f test_acc %.2f%% "
                  "time %.1fs" % (epoch, train_loss, test_loss, acc,
                                  time.time() - t0), flush=True)

    # the ranks must hold the same model: the all-reduce gives every rank
    # the same sums
    digest = float(sum(p.data.double().sum().item() for p in params))
    same = len(set(hvd.allgather_object(digest, name="digest"))) == 1
    rss = hvd.allgather_object(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, name="rss")
    if rank == 0:
        print("final test accuracy: %.2f%% (%d epochs, %.1fs; parameters "
              "%s on all ranks)" % (acc, o.epochs, time.time() - start,
                                    "identical" if same else "DIFFER"))
        if o.report_rss:
            print("max RSS per rank (MiB): " +
                  " ".join("%.1f" % (kb / 1024.0) for kb in rss))
    hvd.shutdown()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
