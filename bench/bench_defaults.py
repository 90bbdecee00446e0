"""Do fit's automatic fast paths pay? `fit` with its defaults against the same fit with the old
defaults and against a raw tensor loop, in one interleaved run.

    flock /tmp/brickwork-cpu.lock python bench/bench_defaults.py                 # the table
    flock /tmp/brickwork-cpu.lock python bench/bench_defaults.py --quick         # smoke run
    flock /tmp/brickwork-cpu.lock python bench/bench_defaults.py --compile       # crossover
    flock /tmp/brickwork-cpu.lock python bench/bench_defaults.py --profile mlp   # cProfile

Each round runs every variant once over the same real MNIST images (../shared/data/mnist;
random images stand in when absent), from the same initial weights, for a fixed number of
steps; the variants' order rotates from round to round so a slow phase of a shared machine
hits each alike. The verdict is, per variant, the median over rounds of its speed relative to
the raw loop of the same round (raw time / variant time: above 1 is faster than the loop).

Variants: `raw` (randperm, index the resident tensors, forward, cross_entropy, backward,
Adam step: what a careful user writes), `fit before` (fit as it was: channels_last off, Adam's
per-parameter loop), `fit` (the defaults now), and for the CNN `fit, no channels_last`, which
isolates what the automatic channels_last adds.

`--compile` measures when `compile: true` pays: per-step times of an eager and a compiled fit
(a callback stamps every batch), the compiled fit's one-time cost, and the crossover
(one-time cost / per-step gain), or "never" when compiled steps are not faster.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fit import CNN_A, MLP, load_mnist  # noqa: E402

from brickwork.models import build_model  # noqa: E402
from brickwork.train import fit  # noqa: E402
from brickwork.train.callbacks import Callback  # noqa: E402

BATCH = 64
NETS = {"mlp": (MLP, 300), "cnn_a": (CNN_A, 40)}  # spec, steps per timed run


def raw_loop(model, x, y) -> None:
    """The hand-written loop over resident tensors."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    for i in range(0, len(x), BATCH):
        idx = perm[i : i + BATCH]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def fit_with(**options):
    def run(model, x, y):
        fit(model, x, y, epochs=1, batch_size=BATCH, lr=1e-3, metrics=["accuracy"], **options)

    return run


OLD = {"channels_last": False, "optimizer": {"type": "adam", "foreach": False}}
VARIANTS = {
    "raw": raw_loop,
    "fit before": fit_with(**OLD),
    "fit": fit_with(),
    "fit, no channels_last": fit_with(channels_last=False),
}


def timed(run, model, initial, x, y) -> float:
    model.load_state_dict(initial)
    start = time.perf_counter()
    run(model, x, y)
    return time.perf_counter() - start


def bench(name: str, rounds: int, steps: int) -> dict:
    spec = NETS[name][0]
    x, y, source = load_mnist(steps * BATCH)
    torch.manual_seed(0)
    model = build_model(spec)
    initial = copy.deepcopy(model.state_dict())
    names = [v for v in VARIANTS if name == "cnn_a" or v != "fit, no channels_last"]
    for v in names:  # first-touch costs: allocator, kernels, imports
        timed(VARIANTS[v], model, initial, x[: 4 * BATCH], y[: 4 * BATCH])
    times: dict[str, list[float]] = {v: [] for v in names}
    for r in range(rounds):
        for v in names[r % len(names) :] + names[: r % len(names)]:
            times[v].append(timed(VARIANTS[v], model, initial, x, y))
    print(f"\n{name}: {steps} steps of {BATCH} ({source}), {rounds} rounds, {torch.__version__}")
    print(f"  {'variant':24s} {'median s':>9s} {'x raw loop':>11s}  per round")
    result = {}
    for v in names:
        ratios = [h / t for h, t in zip(times["raw"], times[v], strict=True)]
        result[v] = statistics.median(ratios)
        print(
            f"  {v:24s} {statistics.median(times[v]):9.3f} {result[v]:11.3f}  "
            f"{[round(r, 3) for r in ratios]}"
        )
    return result


class Stamps(Callback):
    """perf_counter at every batch end (on CPU this waits for nothing)."""

    def __init__(self):
        self.stamps: list[float] = []

    def on_train_begin(self, logs):
        self.stamps.append(time.perf_counter())

    def on_batch_end(self, batch, logs):
        self.stamps.append(time.perf_counter())


def crossover(name: str, steps: int) -> None:
    """Eager vs compiled fit: per-step times, the compiled fit's one-time cost, the crossover."""
    x, y, _ = load_mnist(steps * BATCH)
    per_step, total = {}, {}
    for mode in (False, True):
        torch.manual_seed(0)
        stamps = Stamps()
        fit(build_model(NETS[name][0]), x, y, epochs=1, batch_size=BATCH, compile=mode,
            callbacks=[stamps], verbose=0)  # fmt: skip
        gaps = [b - a for a, b in zip(stamps.stamps, stamps.stamps[1:], strict=False)]
        per_step[mode] = statistics.median(gaps[len(gaps) // 2 :])
        total[mode] = stamps.stamps[-1] - stamps.stamps[0]
    once = total[True] - per_step[True] * steps
    gain = per_step[False] - per_step[True]
    where = f"after {once / gain:,.0f} steps" if gain > 0 else "never (compiled steps are slower)"
    print(
        f"{name}: eager {per_step[False] * 1e3:.2f} ms/step, compiled {per_step[True] * 1e3:.2f} "
        f"ms/step, compile costs {once:.1f} s once; compile pays {where}"
    )


def profile(name: str, steps: int) -> None:
    """cProfile of fit and of the raw loop over the same steps, the top entries of each."""
    x, y, _ = load_mnist(steps * BATCH)
    model = build_model(NETS[name][0])
    initial = copy.deepcopy(model.state_dict())
    for label, run in (("raw", raw_loop), ("fit", fit_with())):
        timed(run, model, initial, x[: 4 * BATCH], y[: 4 * BATCH])
        prof = cProfile.Profile()
        model.load_state_dict(initial)
        prof.enable()
        run(model, x, y)
        prof.disable()
        print(f"\n--- {label} ---")
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps and rounds: a smoke run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--compile", action="store_true", help="measure compile's crossover")
    parser.add_argument("--profile", choices=list(NETS), help="cProfile fit and the raw loop")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    for name in args.nets:
        steps = 6 if args.quick else NETS[name][1]
        if args.profile:
            if name == args.profile:
                profile(name, steps)
        elif args.compile:
            crossover(name, 8 if args.quick else 4 * steps)
        else:
            bench(name, 1 if args.quick else args.rounds, steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
