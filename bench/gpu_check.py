"""The GPU check: brickwork's figures on one CUDA device, offline, in a few minutes.

    bash bench/gpu_check.sh OUT_DIR                                 # on a GPU machine
    python3 bench/gpu_check.py --device cpu --quick --out OUT_DIR   # every part, tiny, on CPU

Parts (each one's failure is recorded and the others still run):
  mnist_99      MNIST CNN A to 99% test accuracy: the data resident on the device, bf16
                autocast, channels_last, torch.compile; training seconds to the target,
                with compile time and evaluation reported separately
  char_models   training tokens/s of the character LSTM (examples/shakespeare) and of a small
                GPT when the `transformer_block` layer type exists (skipped, said so, if not)
  fit_vs_hand   brickwork fit (default options) against a hand loop over resident tensors
  no_host_sync  fit's steps under torch.cuda.set_sync_debug_mode("error"): a host sync in a
                step raises (CUDA only)
  ddp           one-process DDP via torch.distributed.run: step time against no DDP
Writes OUT_DIR/gpu_check.json and OUT_DIR/gpu_check.md. MNIST is read from --data-dir
(default ../shared/data/mnist); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from brickwork.errors import BrickworkError  # noqa: E402
from brickwork.models import build_model  # noqa: E402

MNIST = ROOT.parent / "shared" / "data" / "mnist"
CNN_A = "mnist_cnn_a.yaml"
GPT = {  # a small GPT, if the layer type exists (another branch adds it)
    "input_shape": [128],
    "layers": [
        {"type": "embedding", "input_dim": 67, "output_dim": 256},
        *[{"type": "transformer_block", "heads": 4, "causal": True} for _ in range(4)],
        {"type": "dense", "units": 67},
    ],
}


def example_model(name: str) -> dict:
    import yaml

    return yaml.safe_load((ROOT / "examples" / name).read_text())["model"]


def load_mnist(folder: Path, split: str, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST split as float images in [0, 1] and int64 labels, already on `device`."""
    prefix = "train" if split == "train" else "t10k"
    images, labels = (
        folder / f"{prefix}-images-idx3-ubyte.gz",
        folder / f"{prefix}-labels-idx1-ubyte.gz",
    )
    if not images.is_file():
        raise FileNotFoundError(f"no MNIST at {images}; pass --data-dir (the 4 .gz files)")
    with gzip.open(images) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(labels) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = torch.from_numpy(x.copy()).to(device).float().div_(255)
    return x, torch.from_numpy(y.astype(np.int64)).to(device)


def autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def accuracy(model, x, y, device, batch: int = 2000) -> float:
    model.eval()
    correct = torch.zeros((), device=device, dtype=torch.long)
    with torch.inference_mode(), autocast(device):
        for i in range(0, len(x), batch):
            xb = x[i : i + batch].contiguous(memory_format=torch.channels_last)
            correct += (model(xb).argmax(1) == y[i : i + batch]).sum()
    model.train()
    return correct.item() / len(x)


def mnist_99(args, device) -> dict:
    """Epochs of CNN A until 99% test accuracy; training time without compile or evaluation."""
    x, y = load_mnist(args.data_dir, "train", device)
    xt, yt = load_mnist(args.data_dir, "test", device)
    if args.quick:
        x, y, xt, yt = x[:2048], y[:2048], xt[:1000], yt[:1000]
    torch.manual_seed(0)
    model = build_model(example_model(CNN_A)).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, fused=device.type == "cuda")
    step_model = model if args.no_compile else torch.compile(model)
    batch, target, epochs = 256, 0.99, (1 if args.quick else 8)

    def step(xb, yb):
        with autocast(device):
            loss = F.cross_entropy(step_model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    start = time.perf_counter()  # compile and first-call costs: two steps on a copy of the state
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(2):
        step(x[:batch].contiguous(memory_format=torch.channels_last), y[:batch])
    sync(device)
    compile_s = time.perf_counter() - start
    model.load_state_dict(saved)
    opt.state.clear()
    train_s, history = 0.0, []
    for epoch in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x) - batch + 1, batch):  # whole batches: one compiled shape
            idx = perm[i : i + batch]
            step(x[idx].contiguous(memory_format=torch.channels_last), y[idx])
        sync(device)
        train_s += time.perf_counter() - start
        history.append(
            {"epoch": epoch + 1, "train_s": train_s, "test_acc": accuracy(model, xt, yt, device)}
        )
        if history[-1]["test_acc"] >= target:
            break
    reached = history[-1]["test_acc"] >= target
    return {
        "reached_99": reached,
        "train_s_to_99": train_s if reached else None,
        "compile_and_warmup_s": compile_s,
        "compiled": not args.no_compile,
        "epochs": history,
        "train_samples": len(x),
        "batch_size": batch,
    }


def tokens_per_s(spec: dict, device, steps: int, batch: int, seq: int) -> float:
    torch.manual_seed(0)
    model = build_model(spec).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(2, 67, (batch, seq + 1), device=device)
    x, y = tokens[:, :-1], tokens[:, 1:]
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            sync(device)
            start = time.perf_counter()
        with autocast(device):
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch * seq / (time.perf_counter() - start)


def char_models(args, device) -> dict:
    steps, batch = (2, 4) if args.quick else (50, 64)
    lstm = example_model("shakespeare/char_lstm.yaml")
    out = {"lstm_tokens_per_s": tokens_per_s(lstm, device, steps, batch, 100)}
    try:
        gpt = {**GPT, "input_shape": [64 if args.quick else 128]}
        out["gpt_tokens_per_s"] = tokens_per_s(gpt, device, steps, batch, gpt["input_shape"][0])
    except BrickworkError as e:  # the layer type is not in this brickwork (yet), or its fields
        out["gpt_skipped"] = str(e)[:300]
    return out


def no_host_sync_callback():
    """A fit callback: CUDA's sync debug mode is 'error' from each batch's start to its end,
    so a host sync inside a step raises instead of passing unseen."""
    from brickwork.train.callback_base import Callback

    class NoHostSync(Callback):
        def on_batch_begin(self, batch, logs):
            torch.cuda.set_sync_debug_mode("error")

        def on_batch_end(self, batch, logs):
            torch.cuda.set_sync_debug_mode("default")

    return NoHostSync()


def fit_vs_hand(args, device, guard_sync: bool = False) -> dict:
    """Seconds of one brickwork fit epoch and of a hand loop, same weights and resident data."""
    from brickwork.train import fit

    x, y = load_mnist(args.data_dir, "train", device)
    x, y = (x[:1024], y[:1024]) if args.quick else (x[:20000], y[:20000])
    torch.manual_seed(0)
    model = build_model(example_model(CNN_A)).to(device)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    callbacks = [no_host_sync_callback()] if guard_sync else []

    def brickwork_epoch():
        fit(
            model,
            x,
            y,
            epochs=1,
            batch_size=64,
            optimizer="adam",
            lr=1e-3,
            verbose=0,
            task="classification",
            device=str(device),
            callbacks=callbacks,
        )

    def hand_epoch():
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()

    times = {"brickwork": [], "hand": []}
    for name, epoch in [("hand", hand_epoch), ("brickwork", brickwork_epoch)] * (
        1 if args.quick else 3
    ):
        model.load_state_dict(initial)
        sync(device)
        start = time.perf_counter()
        epoch()
        sync(device)
        times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    return {
        "seconds": times,
        "speed_vs_hand_best": best["hand"] / best["brickwork"],
        "samples": len(x),
    }


def no_host_sync(args, device) -> dict:
    if device.type != "cuda":
        return {"skipped": "set_sync_debug_mode needs CUDA; the fit ran with the callback no-op"}
    try:
        fit_vs_hand(args, device, guard_sync=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return {"host_syncs_in_steps": 0}


def ddp(args, device) -> dict:
    """One process under torch.distributed.run: steps/s of a DDP-wrapped model vs the bare one."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "ddp.json"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=1",
            __file__,
            "--ddp-worker",
            str(result),
            "--device",
            str(device),
        ]
        if args.quick:
            cmd.append("--quick")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        if done.returncode:
            raise RuntimeError(f"torch.distributed.run failed: {done.stderr[-800:]}")
        return json.loads(result.read_text())


def ddp_worker(result: Path, args) -> int:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    device = torch.device(args.device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(0)
    model = build_model(example_model(CNN_A)).to(device)
    x = torch.rand(64, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (64,), device=device)
    steps, out = (3 if args.quick else 100), {}
    for name, net in [("bare", model), ("ddp", DistributedDataParallel(model))]:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for i in range(steps + 2):
            if i == 2:
                sync(device)
                start = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
        sync(device)
        out[f"{name}_step_ms"] = 1000 * (time.perf_counter() - start) / steps
    out["world_size"] = dist.get_world_size()
    dist.barrier()
    dist.destroy_process_group()
    result.write_text(json.dumps(out))
    return 0


PARTS = {
    "mnist_99": mnist_99,
    "char_models": char_models,
    "fit_vs_hand": fit_vs_hand,
    "no_host_sync": no_host_sync,
    "ddp": ddp,
}


def markdown(report: dict) -> str:
    lines = [
        f"# GPU check on {report['device_name']}",
        "",
        f"torch {report['torch']}, "
        f"{'quick' if report['quick'] else 'full'} run, {report['total_s']:.0f} s",
        "",
    ]
    for part, result in report["parts"].items():
        lines += [f"## {part}", "", "```json", json.dumps(result, indent=1), "```", ""]
    return "\n".join(lines)


def write_report(report: dict, out: Path) -> None:
    from brickwork.files import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "gpu_check.json", (json.dumps(report, indent=1) + "\n").encode())
    atomic_write(out / "gpu_check.md", markdown(report).encode())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks every path, no figures")
    p.add_argument("--data-dir", type=Path, default=MNIST, help="folder with the 4 MNIST .gz files")
    p.add_argument("--out", type=Path, default=Path("gpu_check_out"))
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile in mnist_99")
    p.add_argument("--ddp-worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ddp_worker:
        return ddp_worker(args.ddp_worker, args)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    report = {
        "device": str(device),
        "device_name": name,
        "torch": torch.__version__,
        "quick": args.quick,
        "parts": {},
    }
    begin = time.perf_counter()
    for part in args.parts.split(","):
        start = time.perf_counter()
        try:
            result = PARTS[part](args, device)
        except Exception as e:  # a broken part is a finding, not the end of the check
            result = {
                "error": f"{type(e).__name__}: {e}"[:1000],
                "trace": traceback.format_exc()[-2000:],
            }
        result["part_s"] = time.perf_counter() - start
        report["parts"][part] = result
        print(f"{part}: {json.dumps(result)[:400]}", flush=True)
        report["total_s"] = time.perf_counter() - begin
        write_report(report, args.out)  # after every part: a timeout keeps what finished
    print(f"wrote {args.out / 'gpu_check.json'} and {args.out / 'gpu_check.md'}")
    return 1 if any("error" in r for r in report["parts"].values()) else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())
