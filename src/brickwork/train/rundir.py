"""The run directory: everything one training run leaves behind.

runs/NAME/
  spec.yaml            the resolved spec (written by `brickwork train`)
  environment.json     versions, device, seed, command line
  metrics.csv          one row per epoch
  tensorboard/         event files: tensorboard --logdir runs/NAME/tensorboard
  checkpoints/last.safetensors   resumable, written each epoch
  checkpoints/best.safetensors   resumable, when the monitored loss improves
  model.safetensors    the final model (brickwork.load)
  plots/*.png          learning curves, confusion matrix, misclassified examples
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

from brickwork.models.io import atomic_write, versions
from brickwork.train.callbacks import CSVLogger, ModelCheckpoint
from brickwork.train.tensorboard import TensorBoard


def new_run_dir(runs_dir: str | Path, name: str | None) -> Path:
    """runs_dir/NAME, or runs_dir/run-YYYYmmdd-HHMMSS; '-2', '-3', ... when taken."""
    base = Path(runs_dir) / (name or time.strftime("run-%Y%m%d-%H%M%S"))
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def write_environment(run_dir: Path, device: torch.device, spec) -> Path:
    env = {
        **versions(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or device.type,
        "threads": torch.get_num_threads(),
        "seed": spec.seed,
        "deterministic": spec.deterministic,
        "precision": spec.precision,
        "argv": sys.argv,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return atomic_write(run_dir / "environment.json", json.dumps(env, indent=2).encode())


def run_callbacks(run_dir: Path, has_validation: bool, callbacks: list) -> list:
    """CSVLogger, TensorBoard and a best-model checkpoint in `run_dir`, unless already given."""
    added = []
    if not any(isinstance(cb, CSVLogger) for cb in callbacks):
        added.append(CSVLogger(str(run_dir / "metrics.csv")))
    if not any(isinstance(cb, TensorBoard) for cb in callbacks):
        added.append(TensorBoard(str(run_dir / "tensorboard")))
    monitor = "val_loss" if has_validation else "loss"
    added.append(
        ModelCheckpoint(
            str(run_dir / "checkpoints" / "best.safetensors"), monitor=monitor, save_best_only=True
        )
    )
    return added
