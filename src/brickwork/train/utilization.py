"""Achieved FLOP/s of training and the fraction of the device's peak.

Convention: a multiply-accumulate (MAC) is 2 FLOPs, and a training step costs about 3 forward
passes (the forward, then the gradients of the activations and of the weights, each about one
forward), so training FLOPs per sample = 3 x 2 x the forward MACs per sample that `summary`
counts (dense, convolution, recurrent and attention layers; elementwise work is not counted).

The peak is the dense (no sparsity) figure of NVIDIA's data sheets for known GPUs, and for a
CPU the best rate of a short matmul probe (about a second per precision), measured once and
cached in ~/.cache/brickwork/cpu_peak.json (XDG_CACHE_HOME is respected), keyed by the CPU
model, torch's thread count and the torch version; a damaged cache is measured again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import re
import time
from pathlib import Path

import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.files import atomic_write
from brickwork.models.summary import TRAIN_FLOPS_PER_MAC, summary
from brickwork.train.callback_base import Callback

TF = 1e12
# (name pattern, dense peak FLOP/s by precision); the first match wins, so the more specific
# names come first. fp32 on GPUs: see gpu_peak.
GPU_PEAKS = (
    (r"H200 NVL", {"bf16": 835 * TF, "fp16": 835 * TF, "tf32": 418 * TF, "fp32": 60 * TF}),
    (r"H200", {"bf16": 989 * TF, "fp16": 989 * TF, "tf32": 495 * TF, "fp32": 67 * TF}),
    (r"H100 NVL", {"bf16": 835 * TF, "fp16": 835 * TF, "tf32": 418 * TF, "fp32": 60 * TF}),
    (r"H100 PCIe", {"bf16": 756 * TF, "fp16": 756 * TF, "tf32": 378 * TF, "fp32": 51 * TF}),
    (r"H100", {"bf16": 989 * TF, "fp16": 989 * TF, "tf32": 495 * TF, "fp32": 67 * TF}),
    (r"A100", {"bf16": 312 * TF, "fp16": 312 * TF, "tf32": 156 * TF, "fp32": 19.5 * TF}),
    (r"L40S", {"bf16": 362 * TF, "fp16": 362 * TF, "tf32": 183 * TF, "fp32": 91.6 * TF}),
    (r"\bL4\b", {"bf16": 121 * TF, "fp16": 121 * TF, "tf32": 60 * TF, "fp32": 30.3 * TF}),
    (r"\bA10\b", {"bf16": 125 * TF, "fp16": 125 * TF, "tf32": 62.5 * TF, "fp32": 31.2 * TF}),
    (r"\bT4\b", {"fp16": 65 * TF, "fp32": 8.1 * TF}),
    (r"V100", {"fp16": 125 * TF, "fp32": 15.7 * TF}),
)
PROBE_SIZE = 1024  # square matmuls: 2.1 GFLOP each
PROBE_SECONDS = 0.5  # per precision


def model_flops(model) -> dict | None:
    """MACs, forward and training FLOPs per sample of a brickwork model (None for a model
    whose layers brickwork does not know, e.g. your own nn.Module)."""
    if not hasattr(model, "layer_info"):
        return None
    macs = int(summary(model)["total_macs"])
    return {"macs": macs, "forward_flops": 2 * macs, "train_flops": TRAIN_FLOPS_PER_MAC * macs}


def gpu_peak(name: str, precision: str, convolutions: bool = False) -> dict | None:
    """The data-sheet peak of a known GPU for `precision`, or None.

    fp32 is compared with the TF32 tensor-core peak when torch may use TF32 for the model's
    work (cuDNN convolutions do by default, so a model with `convolutions`; matmuls after
    `set_float32_matmul_precision('high')`): that is the ceiling an fp32 run can reach."""
    for pattern, peaks in GPU_PEAKS:
        if re.search(pattern, name):
            key = precision
            tf32 = torch.backends.cuda.matmul.allow_tf32 or (
                convolutions and torch.backends.cudnn.allow_tf32
            )
            if precision == "fp32" and tf32 and "tf32" in peaks:
                key = "tf32"
            if key not in peaks:
                return None
            return {"flops": peaks[key], "what": f"{name}, {key} dense, data sheet"}
    return None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "brickwork"


def cpu_key() -> str:
    """What the probe's result depends on: the CPU model, the thread count, torch's version."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            name = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), name
            )
    except OSError:
        pass
    return f"{name} | threads {torch.get_num_threads()} | torch {torch.__version__}"


def probe_matmul(precision: str, seconds: float = PROBE_SECONDS, n: int = PROBE_SIZE) -> float:
    """The best FLOP/s of n x n matmuls in fp32 or bf16 on this CPU within `seconds`."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(dtype) for _ in range(2))
    torch.mm(a, b)  # warm-up: thread pool and kernel selection
    best, end = math.inf, time.perf_counter() + seconds
    while time.perf_counter() < end or best == math.inf:
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def cpu_peak(precision: str) -> dict:
    """This CPU's peak FLOP/s in fp32 or bf16: measured once by `probe_matmul` and cached."""
    precision = "bf16" if precision == "bf16" else "fp32"
    path, key = cache_dir() / "cpu_peak.json", cpu_key()
    cached = _read_cache(path)
    entry = cached.get(key) if isinstance(cached.get(key), dict) else {}
    value = entry.get(precision)
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        value = probe_matmul(precision)
        cached[key] = {**entry, precision: value}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(cached, indent=2).encode())
    return {"flops": float(value), "what": f"{precision}, measured by a matmul probe ({path})"}


def _read_cache(path: Path) -> dict:
    """The cache's entries, or {} when it is missing or damaged (then it is measured again)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def has_convolutions(model: nn.Module) -> bool:
    """Whether cuDNN's TF32 (on by default) speeds some of the model's work."""
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())


def device_peak(device: torch.device, precision: str, convolutions: bool = False) -> dict | None:
    """{"flops", "what"}: the peak of `device` in `precision` (for a model with
    `convolutions` or without: see gpu_peak), or None where it is unknown."""
    if device.type == "cuda":
        return gpu_peak(torch.cuda.get_device_name(device), precision, convolutions)
    if device.type == "cpu" and precision in ("fp32", "bf16"):
        return cpu_peak(precision)
    return None


def flops_text(flops: float) -> str:
    for unit, scale in (("TFLOP/s", 1e12), ("GFLOP/s", 1e9), ("MFLOP/s", 1e6)):
        if flops >= scale:
            return f"{flops / scale:.3g} {unit}"
    return f"{flops:.3g} FLOP/s"


class Utilization(Callback):
    """Times each epoch's training batches and turns them into achieved FLOP/s (`figures`).

    The clock runs from the end of an epoch's first batch to the end of its last (the first
    batch's one-off costs are left out); on CUDA it reads events recorded on the stream, so
    timing adds no host sync. `fit` adds one (before the progress bar, which shows it)."""

    main_process_only = True

    def __init__(self):
        self.flops: dict | None = None
        self.peak: dict | None = None
        self._peak_known = False
        self.first = self.last = None  # (time or CUDA event, samples so far) at batch ends

    def on_train_begin(self, logs):
        self.flops = model_flops(self.trainer.model)

    def on_epoch_begin(self, epoch, logs):
        self.first = self.last = None

    def on_batch_end(self, batch, logs):
        count = self.trainer.train_metrics.samples  # MACs are per sample
        if self.trainer.device.type == "cuda":
            mark = torch.cuda.Event(enable_timing=True)
            mark.record()
        else:
            mark = time.perf_counter()
        if self.first is None:
            self.first = (mark, count)
        else:
            self.last = (mark, count)

    def device_peak(self) -> dict | None:
        """The peak for this run's device and precision (a CPU probe runs at the first ask)."""
        if not self._peak_known:
            t = self.trainer
            self.peak = device_peak(t.device, t.spec.precision, has_convolutions(t.model))
            self._peak_known = True
        return self.peak

    def figures(self) -> dict | None:
        """This epoch's seconds, samples/s and, for a model with a MAC count, FLOP/s and the
        fraction of the peak (None for an epoch of one batch)."""
        if self.first is None or self.last is None:
            return None
        (start, before), (end, after) = self.first, self.last
        if isinstance(end, torch.cuda.Event):
            end.synchronize()
            seconds = start.elapsed_time(end) / 1000
        else:
            seconds = end - start
        samples = after - before
        if seconds <= 0 or samples <= 0:
            return None
        out = {"seconds": seconds, "samples_per_s": samples / seconds}
        if self.flops and self.flops["macs"]:
            out["flops_per_s"] = out["samples_per_s"] * self.flops["train_flops"]
            peak = self.device_peak()
            out["peak_flops_per_s"] = peak["flops"] if peak else None
            out["utilization"] = out["flops_per_s"] / peak["flops"] if peak else None
        return out


def find(trainer) -> Utilization | None:
    return next((cb for cb in trainer.callbacks if isinstance(cb, Utilization)), None)


def epoch_text(trainer) -> str:
    """'83.1 GFLOP/s, 40% of peak' for the epoch line, or '' (no MAC count, one batch)."""
    meter = find(trainer)
    fig = meter.figures() if meter is not None else None
    if not fig or "flops_per_s" not in fig:
        return ""
    share = f", {fig['utilization']:.0%} of peak" if fig["utilization"] is not None else ""
    return f"{flops_text(fig['flops_per_s'])}{share}"


SPEED_COLUMNS = (
    "epoch",
    "seconds",
    "samples_per_s",
    "flops_per_s",
    "peak_flops_per_s",
    "utilization",
)


class SpeedFile(Callback):
    """speed.csv in a run directory: per epoch, the training seconds, samples/s, achieved
    FLOP/s, the device's peak and their ratio (kept apart from metrics.csv, whose numbers a
    resumed run reproduces exactly; times never repeat). Rows of earlier epochs survive a
    resume."""

    main_process_only = True

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict] = []

    def on_train_begin(self, logs):
        keep = self.trainer.initial_epoch
        self.rows = [r for r in _read_rows(self.path) if r.get("epoch", "").isdigit()]
        self.rows = [r for r in self.rows if int(r["epoch"]) <= keep]

    def on_epoch_end(self, epoch, logs):
        meter = find(self.trainer)
        fig = (meter.figures() if meter is not None else None) or {}
        self.rows.append({"epoch": str(epoch + 1), **{k: _cell(fig.get(k)) for k in fig}})
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, SPEED_COLUMNS, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write(self.path, buffer.getvalue().encode())


def _cell(value) -> str:
    return "" if value is None else f"{value:.6g}"


def _read_rows(path: Path) -> list[dict]:
    try:
        return list(csv.DictReader(io.StringIO(path.read_text())))
    except (OSError, ValueError, csv.Error):
        return []


def read_speed(run_dir: str | Path) -> dict:
    """The last epoch's row of a run directory's speed.csv, as numbers (None where empty)."""
    path = Path(run_dir) / "speed.csv"
    rows = _read_rows(path) if path.is_file() else []
    if not rows:
        raise BrickworkError(
            f"{path}: not found or empty; a run directory gets speed.csv after its first epoch "
            "(runs trained before brickwork recorded speed have none). Pass a run directory "
            "that has trained an epoch."
        )
    try:
        row = {k: (float(v) if v else None) for k, v in rows[-1].items() if k in SPEED_COLUMNS}
        return {**row, "epoch": int(row["epoch"])}
    except (ValueError, TypeError, KeyError):
        raise BrickworkError(
            f"{path}: its last row holds a value that is not a number; the file is damaged. "
            "Train an epoch again (or resume the run) to rewrite it."
        ) from None
