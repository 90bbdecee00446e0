"""brickwork `fit` against the loops and libraries a user would otherwise train with.

    bash bench/peers_env.sh                                          # once: Lightning + Keras 3
    flock /tmp/brickwork-cpu.lock python3 bench/bench_peers.py --json peers.json
    python3 bench/bench_peers.py --quick --no-peers                  # a smoke run, seconds

One interleaved run: in every round, for every model, each tool trains one "epoch" (one pass
over a fixed subset, so a 5-round run of everything stays near 10 minutes on 2 cores) from
the same initial weights, on the same tensors, with Adam at the same learning rate:

  raw         resident tensors, randperm indexing, zero_grad/forward/backward/step
  dataloader  the tutorial loop: DataLoader(TensorDataset(x, y), shuffle=True)
  brickwork   brickwork.train.fit with its default options (task, optimizer, lr, batch size)
  lightning   Trainer(max_epochs=1) over the tutorial DataLoader, with the logger, checkpoint
              callback, progress bar and model summary disabled (they would write files or
              draw to the terminal, which the others do not)
  keras       Keras 3 on the torch backend, model.fit(shuffle=True, verbose=0), the same torch
              module inside keras.layers.TorchModuleWrapper (so Keras's loop is measured on
              the very same network and weights, not a re-implementation)

Lightning and Keras live in bench/.venv-peers (bench/peers_env.sh); they run in one worker
process each, started once, that receives the same weights and data through safetensors
files and times each epoch when told, so the rounds stay interleaved. A peer that is not
installed is skipped and the run says so. The order of the tools rotates every round. The
table gives, per model, the median over rounds of the paired ratio raw time / tool time
(above 1: faster than the raw loop) and the median wall and CPU seconds of an epoch.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, TensorDataset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
LOCAL = ("raw", "dataloader", "brickwork")
PEERS = ("lightning", "keras")
# model: (example spec, samples per epoch, task, learning rate); batch sizes from the specs
MODELS = {
    "cnn_a": ("mnist_cnn_a.yaml", 3200, "classification", 1e-3),
    "mlp": ("mlp_784_512_10.yaml", 19200, "classification", 1e-3),
    "char_lstm": ("shakespeare/char_lstm.yaml", 640, "language_model", 3e-3),
}


def model_spec(name: str) -> tuple[dict, int]:
    """The example's model section and its batch size."""
    import yaml

    spec = yaml.safe_load((ROOT / "examples" / MODELS[name][0]).read_text())
    return spec["model"], spec["train"]["batch_size"]


def load_data(name: str, n: int, data_dir: Path) -> tuple[torch.Tensor, torch.Tensor, str]:
    """n training samples: MNIST images in [0, 1], or 100-character chunks of Tiny Shakespeare
    with next-character targets; random stand-ins (said so) when the files are absent."""
    g = torch.Generator().manual_seed(0)
    if name == "char_lstm":
        path = data_dir / "tinyshakespeare" / "input.txt"
        if not path.is_file():
            ids = torch.randint(2, 67, (n * 100 + 1,), generator=g)
            return ids[:-1].view(n, 100), ids[1:].view(n, 100), "random characters"
        text = path.read_text(encoding="utf-8")[: n * 100 + 1]
        vocab = {c: i + 2 for i, c in enumerate(sorted(set(text)))}  # 0 pad, 1 unknown
        ids = torch.tensor([vocab[c] for c in text])
        return ids[:-1].view(n, 100), ids[1:].view(n, 100), "Tiny Shakespeare"
    images = data_dir / "mnist" / "train-images-idx3-ubyte.gz"
    if not images.is_file():
        x = torch.rand(n, 1, 28, 28, generator=g)
        return x, torch.randint(0, 10, (n,), generator=g), "random images"
    with gzip.open(images) as f:
        pixels = np.frombuffer(f.read(), np.uint8, offset=16)
    with gzip.open(images.with_name("train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    x = torch.from_numpy(pixels.reshape(-1, 1, 28, 28)[:n].astype(np.float32) / 255)
    return x, torch.from_numpy(labels[:n].astype(np.int64)), "MNIST"


def loss_of(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over classes, or over every position of a sequence's logits."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def raw_epoch(model, x, y, batch_size: int, lr: float) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), batch_size):
        idx = perm[i : i + batch_size]
        opt.zero_grad()
        loss_of(model(x[idx]), y[idx]).backward()
        opt.step()


def dataloader_epoch(model, x, y, batch_size: int, lr: float) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True):
        opt.zero_grad()
        loss_of(model(xb), yb).backward()
        opt.step()


def brickwork_epoch(model, x, y, batch_size: int, lr: float, task: str) -> None:
    from brickwork.train import fit

    fit(model, x, y, epochs=1, batch_size=batch_size, optimizer="adam", lr=lr, task=task)


def lightning_epoch(model, x, y, batch_size: int, lr: float) -> None:
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = model

        def training_step(self, batch, _):
            return loss_of(self.net(batch[0]), batch[1])

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=lr)

    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Module(), DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True))


def keras_epoch(model, x, y, batch_size: int, lr: float) -> None:
    import keras

    net = keras.Sequential([keras.layers.TorchModuleWrapper(model)])
    net.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    net.fit(x.numpy(), y.numpy(), batch_size=batch_size, epochs=1, shuffle=True, verbose=0)


EPOCHS = {
    "raw": raw_epoch,
    "dataloader": dataloader_epoch,
    "lightning": lightning_epoch,
    "keras": keras_epoch,
}


def timed_epoch(tool: str, name: str, files: Path, samples: int | None = None) -> dict:
    """One epoch of `tool` on model `name` from the saved initial weights: wall and CPU s."""
    from brickwork.models import build_model

    spec, batch_size = model_spec(name)
    task, lr = MODELS[name][2], MODELS[name][3]
    model = build_model(spec)
    model.load_state_dict(load_file(files / f"{name}.weights.safetensors"))
    data = load_file(files / f"{name}.data.safetensors")
    x, y = data["x"][:samples], data["y"][:samples]
    torch.manual_seed(1)
    wall, cpu = time.perf_counter(), time.process_time()
    if tool == "brickwork":
        brickwork_epoch(model, x, y, batch_size, lr, task)
    else:
        EPOCHS[tool](model, x, y, batch_size, lr)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def worker(tool: str) -> int:
    """A peer's process: one JSON request per line on stdin, one JSON answer per line."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import importlib

    answers, sys.stdout = sys.stdout, sys.stderr  # a library's prints must not break the protocol

    try:
        importlib.import_module(tool)
    except ImportError as e:
        print(json.dumps({"missing": f"{type(e).__name__}: {e}"}), file=answers, flush=True)
        return 0
    print(json.dumps({"ready": True}), file=answers, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        answer = timed_epoch(tool, request["model"], Path(request["files"]), request["samples"])
        print(json.dumps(answer), file=answers, flush=True)
    return 0


class Peer:
    """A worker process for Lightning or Keras in the peers' Python, kept for the whole run."""

    def __init__(self, tool: str, python: Path):
        env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONPATH": str(ROOT / "src")}
        self.tool, self.missing = tool, None
        self.proc = subprocess.Popen(
            [str(python), __file__, "--worker", tool],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        hello = json.loads(self.proc.stdout.readline() or '{"missing": "the worker died"}')
        self.missing = hello.get("missing")

    def epoch(self, name: str, files: Path, samples: int | None) -> dict:
        request = {"model": name, "files": str(files), "samples": samples}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.tool} worker stopped (see its output above)")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def start_peers(python: Path | None, wanted: tuple[str, ...]) -> dict[str, Peer]:
    peers = {}
    for tool in wanted:
        if python is None or not python.exists():
            print(f"skipped {tool}: no peers Python at {python} (run bash bench/peers_env.sh)")
            continue
        peer = Peer(tool, python)
        if peer.missing:
            print(f"skipped {tool}: not installed in {python} ({peer.missing})")
            peer.close()
        else:
            peers[tool] = peer
    return peers


def prepare(files: Path, names: list[str], data_dir: Path, scale: float) -> dict[str, str]:
    """Initial weights and data of every model, saved where the workers read them."""
    from brickwork.models import build_model

    sources = {}
    for name in names:
        torch.manual_seed(0)
        model = build_model(model_spec(name)[0])
        save_file(model.state_dict(), files / f"{name}.weights.safetensors")
        x, y, sources[name] = load_data(name, max(2, int(MODELS[name][1] * scale)), data_dir)
        save_file({"x": x.clone(), "y": y.clone()}, files / f"{name}.data.safetensors")
    return sources


def run_rounds(names, tools, peers, files: Path, rounds: int) -> dict:
    """Every round, every model, every tool (rotated order): the epochs' times."""
    times = {n: {t: [] for t in tools} for n in names}
    for name in names:  # warm-up: first-call costs (imports, allocator), 2 steps, not timed
        for tool in tools:
            run = peers[tool].epoch if tool in peers else lambda *a, t=tool: timed_epoch(t, *a)
            run(name, files, 2 * model_spec(name)[1])
    for r in range(rounds):
        for name in names:
            order = tools[r % len(tools) :] + tools[: r % len(tools)]
            for tool in order:
                if tool in peers:
                    result = peers[tool].epoch(name, files, None)
                else:
                    result = timed_epoch(tool, name, files)
                times[name][tool].append(result)
            print(
                f"round {r + 1}/{rounds} {name}: "
                + ", ".join(f"{t} {times[name][t][-1]['wall_s']:.2f}s" for t in tools),
                flush=True,
            )
    return times


def summarize(times: dict, samples: dict[str, int]) -> dict:
    """Per model and tool: median paired ratio raw/tool, median wall and CPU s per epoch."""
    out = {}
    for name, by_tool in times.items():
        raw = [t["wall_s"] for t in by_tool["raw"]]
        out[name] = {"samples_per_epoch": samples[name], "tools": {}}
        for tool, runs in by_tool.items():
            ratios = [r / t["wall_s"] for r, t in zip(raw, runs, strict=True)]
            out[name]["tools"][tool] = {
                "speed_vs_raw_median": statistics.median(ratios),
                "speed_vs_raw_per_round": ratios,
                "wall_s_median": statistics.median(t["wall_s"] for t in runs),
                "cpu_s_median": statistics.median(t["cpu_s"] for t in runs),
            }
    return out


def print_table(summary: dict) -> None:
    print("\nspeed vs raw loop = median over rounds of raw time / tool time (paired per round)")
    print(f"{'model':10} {'tool':11} {'vs raw':>7} {'range':>13} {'wall s':>7} {'CPU s':>7}")
    for name, entry in summary.items():
        for tool, s in entry["tools"].items():
            lo, hi = min(s["speed_vs_raw_per_round"]), max(s["speed_vs_raw_per_round"])
            print(
                f"{name:10} {tool:11} {s['speed_vs_raw_median']:6.2f}x "
                f"{lo:5.2f}-{hi:5.2f}x {s['wall_s_median']:7.2f} {s['cpu_s_median']:7.2f}"
            )


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS)
    )
    p.add_argument("--scale", type=float, default=1.0, help="fraction of each epoch's samples")
    p.add_argument("--quick", action="store_true", help="2 rounds at 5%% of the samples")
    p.add_argument("--no-peers", action="store_true", help="skip Lightning and Keras")
    p.add_argument("--peers-python", type=Path, default=PEERS_PYTHON)
    p.add_argument("--data-dir", type=Path, default=DATA, help="holds mnist/ and tinyshakespeare/")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if args.quick:
        args.rounds, args.scale = min(args.rounds, 2), 0.05
    names = [n.strip() for n in args.models.split(",")]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    peers = {} if args.no_peers else start_peers(args.peers_python, PEERS)
    tools = [*LOCAL, *peers]
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as tmp:
        files = Path(tmp)
        sources = prepare(files, names, args.data_dir, args.scale)
        samples = {n: len(load_file(files / f"{n}.data.safetensors")["y"]) for n in names}
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; tools: "
            f"{', '.join(tools)}; data: "
            + ", ".join(f"{n} {samples[n]} samples of {sources[n]}" for n in names)
        )
        try:
            times = run_rounds(names, tools, peers, files, args.rounds)
        finally:
            for peer in peers.values():
                peer.close()
    summary = summarize(times, samples)
    print_table(summary)
    if args.json:
        from brickwork.files import atomic_write

        report = {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "rounds": args.rounds,
            "tools": tools,
            "skipped": [p for p in PEERS if p not in peers],
            "data": sources,
            "models": summary,
            "raw_times": times,
        }
        atomic_write(args.json, (json.dumps(report, indent=1) + "\n").encode())
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main())
