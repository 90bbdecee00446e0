"""How much does `brickwork.train.fit` cost over a hand-written PyTorch loop?

    flock /tmp/brickwork-cpu.lock python bench/bench_fit.py            # full run
    flock /tmp/brickwork-cpu.lock python bench/bench_fit.py --quick    # smoke run

One epoch of each network, over the same in-memory tensors, in the same process, three
ways: `fit` (progress bar and accuracy on), a minimal hand loop (randperm, index, zero_grad,
forward, cross_entropy, backward, step), and the tutorial `DataLoader(TensorDataset)` loop.
Each round (3 by default) runs the epoch hand, fit, fit, hand, every run from the same
initial weights; the verdict is the median of these paired ratios fit/hand, which must be
<= 1.03. Pairing matters on a shared machine, where the same loop's time can swing by 30%
from one minute to the next; `--chunks 4` pairs quarters of the epoch instead (finer
pairing, but `fit` then pays its per-call setup, about 5 ms, four times per epoch).

Networks: MLP 784-512-10 on all 60,000 training images, and MNIST CNN A (conv 5x5/32, pool,
conv 5x5/64, pool, dropout, dense 1000, dense 10) on the first 10,000 by default, because a
full CNN A epoch takes minutes on a 2-core CPU (--cnn-samples 60000 for all of them). Real
MNIST is read from ../shared/data/mnist when present, else random images stand in.
Each network also gets its achieved training FLOP/s (6 x forward MACs per sample) and their
share of this CPU's fp32 peak, measured once by a matmul probe and cached.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from brickwork.models import build_model
from brickwork.train import fit
from brickwork.train.utilization import device_peak, flops_text, model_flops

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
CNN_A = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 32, "kernel_size": 5, "padding": 2, "activation": "relu"},
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "conv2d", "filters": 64, "kernel_size": 5, "padding": 2, "activation": "relu"},
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "dropout", "rate": 0.5},
        "flatten",
        {"type": "dense", "units": 1000},
        {"type": "dense", "units": 10},
    ],
}
MLP = {
    "input_shape": [1, 28, 28],
    "layers": [
        "flatten",
        {"type": "dense", "units": 512, "activation": "relu"},
        {"type": "dense", "units": 10},
    ],
}


def load_mnist(n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The first n training images scaled to [0, 1] (random ones when MNIST is not here)."""
    if (MNIST / "train-images-idx3-ubyte.gz").is_file():
        with gzip.open(MNIST / "train-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16)
        with gzip.open(MNIST / "train-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        x = torch.from_numpy(images.reshape(-1, 1, 28, 28)[:n].astype(np.float32) / 255)
        return x, torch.from_numpy(labels[:n].astype(np.int64)), "real MNIST"
    g = torch.Generator().manual_seed(0)
    return (
        torch.rand(n, 1, 28, 28, generator=g),
        torch.randint(0, 10, (n,), generator=g),
        "random images",
    )


def hand_epoch(model, x, y, batch_size: int) -> None:
    """The minimal loop: what you would write by hand over in-memory tensors."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    for i in range(0, len(x), batch_size):
        idx = perm[i : i + batch_size]
        xb, yb = x[idx], y[idx]
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()


def dataloader_epoch(model, x, y, batch_size: int) -> None:
    """The tutorial loop: DataLoader(TensorDataset(x, y), shuffle=True)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True):
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()


def fit_epoch(model, x, y, batch_size: int) -> None:
    fit(
        model,
        x,
        y,
        epochs=1,
        batch_size=batch_size,
        optimizer="adam",
        lr=1e-3,
        loss="cross_entropy",
        metrics=["accuracy"],
        verbose=1,
    )


def timed(fn, model, initial, x, y, batch_size) -> float:
    model.load_state_dict(initial)
    start = time.perf_counter()
    fn(model, x, y, batch_size)
    return time.perf_counter() - start


def bench(
    name: str,
    spec: dict,
    x,
    y,
    batch_size: int,
    rounds: int,
    with_dataloader: bool,
    chunks: int = 1,
) -> float:
    torch.manual_seed(0)
    model = build_model(spec)
    initial = copy.deepcopy(model.state_dict())
    for warm_up in (hand_epoch, fit_epoch):  # first-touch costs: allocator, kernels, imports
        timed(warm_up, model, initial, x[:4000], y[:4000], batch_size)
    hand, ours, ratios = [], [], []
    parts = list(zip(x.chunk(chunks), y.chunk(chunks), strict=True))
    best_hand, best_fit = [float("inf")] * len(parts), [float("inf")] * len(parts)
    for _ in range(rounds):
        # Each part (the epoch, or a quarter of it) runs hand, fit, fit, hand back to back,
        # so a slow phase of a shared machine hits both alike; fit pays its setup per part.
        h = f = 0.0
        for q, (xs, ys) in enumerate(parts):
            h1, f1, f2, h2 = (
                timed(fn, model, initial, xs, ys, batch_size)
                for fn in (hand_epoch, fit_epoch, fit_epoch, hand_epoch)
            )
            ratios.append((f1 + f2) / (h1 + h2))
            best_hand[q], best_fit[q] = min(best_hand[q], h1, h2), min(best_fit[q], f1, f2)
            h, f = h + (h1 + h2) / 2, f + (f1 + f2) / 2
        hand.append(h)
        ours.append(f)
    # The DataLoader loop runs after the pairs: its many small allocations change the
    # allocator's state and would slow whichever loop ran next.
    loader = [
        timed(dataloader_epoch, model, initial, x, y, batch_size)
        for _ in range(rounds if with_dataloader else 0)
    ]
    ratio = statistics.median(ratios)
    print(f"\n{name}: {len(x)} samples, batch {batch_size}, {rounds} rounds")
    print(
        f"  hand loop         median {statistics.median(hand):7.2f} s   "
        f"{[round(t, 2) for t in hand]}"
    )
    print(
        f"  fit               median {statistics.median(ours):7.2f} s   "
        f"{[round(t, 2) for t in ours]}"
    )
    if loader:
        print(
            f"  DataLoader loop   median {statistics.median(loader):7.2f} s   "
            f"{[round(t, 2) for t in loader]}"
        )
    print(
        f"  fit / hand, median of {len(ratios)} paired ratios: {ratio:.3f} (spread "
        f"{min(ratios):.3f}-{max(ratios):.3f})  {'OK' if ratio <= 1.03 else 'OVER 1.03'}"
    )
    # noise from other tenants only ever adds time, so the best times are a second, steadier view
    print(f"  fit / hand, best times per part: {sum(best_fit) / sum(best_hand):.3f}")
    print_utilization(model, len(x), {"hand loop": sum(best_hand), "fit": sum(best_fit)})
    return ratio


def print_utilization(model, samples: int, seconds: dict[str, float]) -> None:
    """Achieved training FLOP/s (6 x forward MACs per sample) of the best epochs, and their
    share of this CPU's fp32 peak (a matmul probe, cached in ~/.cache/brickwork)."""
    flops = model_flops(model)
    peak = device_peak(torch.device("cpu"), "fp32")
    print(
        f"  {flops['macs']:,} MACs/sample, {flops['train_flops']:,} training FLOPs/sample; "
        f"fp32 peak {flops_text(peak['flops'])} (matmul probe)"
    )
    for label, secs in seconds.items():
        rate = samples * flops["train_flops"] / secs
        print(f"  {label:<17} {flops_text(rate)}, {rate / peak['flops']:.0%} of peak")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few samples and rounds: a smoke run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cnn-samples", type=int, default=10000)
    parser.add_argument("--mlp-samples", type=int, default=60000)
    parser.add_argument(
        "--chunks", type=int, default=1, help="pair parts of the epoch instead of whole epochs"
    )
    parser.add_argument(
        "--no-dataloader", action="store_true", help="skip the DataLoader(TensorDataset) loop"
    )
    args = parser.parse_args()
    # rich draws the live bar only on a terminal; force it, so the bar's per-batch path is
    # measured even when this script's output goes to a file
    os.environ.setdefault("FORCE_COLOR", "1")
    if args.quick:
        args.rounds, args.cnn_samples, args.mlp_samples = 2, 1000, 5000
    x, y, source = load_mnist(max(args.cnn_samples, args.mlp_samples))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {source}")
    ratios = [
        bench(
            "MLP 784-512-10",
            MLP,
            x[: args.mlp_samples],
            y[: args.mlp_samples],
            args.batch_size,
            args.rounds,
            not args.no_dataloader,
            args.chunks,
        ),
        bench(
            "MNIST CNN A",
            CNN_A,
            x[: args.cnn_samples],
            y[: args.cnn_samples],
            args.batch_size,
            args.rounds,
            not args.no_dataloader,
            args.chunks,
        ),
    ]
    return 0 if all(r <= 1.03 for r in ratios) else 1


if __name__ == "__main__":
    raise SystemExit(main())
