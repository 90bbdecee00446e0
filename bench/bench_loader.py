"""Batches/second of InMemoryLoader vs DataLoader(TensorDataset) on MNIST-sized data.

    python bench/bench_loader.py [--epochs 2] [--batch-size 64]

60000 x 1 x 28 x 28 random float32 inputs, int64 labels, shuffled batches of 64, one epoch
each (after a warm-up epoch), in the same process. InMemoryLoader gathers a batch with one
index_select; DataLoader indexes samples one by one and collates them in Python.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from brickwork.data import InMemoryLoader


def rate(loader, epochs: int) -> float:
    """Batches per second over `epochs` full passes, after one warm-up pass."""
    for _ in loader:
        pass
    batches, start = 0, time.perf_counter()
    for epoch in range(epochs):
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        for _batch in loader:
            batches += 1
    return batches / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1 by default: same for both loaders, steady on a shared machine)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(60000, 1, 28, 28, generator=g), torch.randint(0, 10, (60000,), generator=g)
    ours = rate(InMemoryLoader(x, y, args.batch_size, shuffle=True, seed=0), args.epochs)
    torch.manual_seed(0)
    theirs = rate(
        DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True), args.epochs
    )
    print(
        f"MNIST-sized data: 60000 x 1 x 28 x 28 float32, batch {args.batch_size}, {args.epochs} "
        "epochs, "
        f"{torch.get_num_threads()} torch thread(s)"
    )
    print(f"{'loader':<34}{'batches/s':>12}{'samples/s':>14}")
    print(f"{'InMemoryLoader':<34}{ours:>12,.0f}{ours * args.batch_size:>14,.0f}")
    print(f"{'DataLoader(TensorDataset)':<34}{theirs:>12,.0f}{theirs * args.batch_size:>14,.0f}")
    ratio = ours / theirs
    print(f"ratio: {ratio:.1f}x {'(>= 5x: ok)' if ratio >= 5 else '(below the 5x target)'}")
    return 0 if ratio >= 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
