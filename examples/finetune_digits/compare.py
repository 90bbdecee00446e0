"""Fine-tuned vs from scratch on the same few labelled digits, over several labelled subsets.

For each seed: draw `--per-class` labelled images per digit (prepare_digits.py), fine-tune
the pretrained MNIST model (finetune.yaml) and train the same network from scratch
(scratch.yaml) on them, and score both on the other ~1,650 digits. Prints a Markdown table.

    python examples/finetune_digits/compare.py runs/mnist_pretrain --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from prepare_digits import write  # noqa: E402

from brickwork.finetune import finetune_from_spec  # noqa: E402
from brickwork.spec.run import load_run_spec  # noqa: E402
from brickwork.train.runner import train_from_spec  # noqa: E402


def run(kind: str, base: str | None, seed: int, data: str, runs: Path) -> dict:
    spec = load_run_spec(
        HERE / f"{kind}.yaml", [f"data.path={data}", f"train.seed={seed}", "train.verbose=0"]
    )
    start = time.perf_counter()
    if kind == "finetune":
        result = finetune_from_spec(spec, base, runs_dir=runs, name=f"{kind}-seed{seed}")
    else:
        result = train_from_spec(spec, runs_dir=runs, name=f"{kind}-seed{seed}")
    seconds = time.perf_counter() - start
    history = result.history.history
    best = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
    return {
        "accuracy": result.test_metrics["accuracy"],
        "epochs": len(history["loss"]),
        "best_epoch": best + 1,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the pretrained MNIST run directory or model file")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=15)
    parser.add_argument("--runs-dir", default="runs/finetune_digits")
    args = parser.parse_args()
    runs = Path(args.runs_dir)
    data = str(runs / "data")
    print(
        "| seed | labelled | fine-tuned acc | epochs (best) | time | scratch acc | epochs (best) "
        "| time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    scores: dict[str, list[float]] = {"finetune": [], "scratch": []}
    for seed in args.seeds:
        train, test = write(Path(data), args.per_class, seed)
        ft = run("finetune", args.base, seed, data, runs)
        sc = run("scratch", None, seed, data, runs)
        scores["finetune"].append(ft["accuracy"])
        scores["scratch"].append(sc["accuracy"])
        print(
            f"| {seed} | {train} (test {test}) | {ft['accuracy']:.4f} | {ft['epochs']} "
            f"({ft['best_epoch']}) | {ft['seconds']:.1f} s "
            f"| {sc['accuracy']:.4f} | {sc['epochs']} ({sc['best_epoch']}) | {sc['seconds']:.1f} "
            "s |",
            flush=True,
        )
    mean = {k: statistics.mean(v) for k, v in scores.items()}
    spread = {k: statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in scores.items()}
    print(
        f"| mean ± sd | | {mean['finetune']:.4f} ± {spread['finetune']:.4f} | | | "
        f"{mean['scratch']:.4f} ± {spread['scratch']:.4f} | | |"
    )


if __name__ == "__main__":
    main()
