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

Every file is written atomically (brickwork.files); a run that fails before its first epoch
is removed again.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from brickwork.errors import BrickworkError
from brickwork.files import atomic_write, remove_stale_temps
from brickwork.models.io import versions
from brickwork.train.callbacks import CSVLogger, ModelCheckpoint
from brickwork.train.tensorboard import TensorBoard
from brickwork.train.utilization import SpeedFile


def check_name(name: str, field: str = "run name (--name or the spec's `name:`)") -> str:
    """`name` if it is one plain folder name, else an error: a run stays inside its runs folder.

    Refused: empty, '.', '..', path separators, absolute paths, control characters, a
    leading '-' or '~' (read as an option or a home folder), and names over 120 characters.
    """
    text = str(name)
    bad = (
        not text.strip()
        or text in (".", "..")
        or any(sep in text for sep in ("/", "\\"))
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in text)
        or text[0] in "-~"
        or len(text) > 120
        or Path(text).is_absolute()
    )
    if bad:
        raise BrickworkError(
            f"{field}: {text[:60]!r} is not a plain folder name; a run's directory is created "
            "inside the runs folder, so the name may not be empty, '.', '..', hold '/' or '\\', "
            "start with '-' or '~', or exceed 120 characters. Use letters, digits, '-', '_' and "
            "'.', e.g. mnist_cnn (use --runs-dir to choose the folder)."
        )
    return text


def new_run_dir(runs_dir: str | Path, name: str | None) -> Path:
    """runs_dir/NAME, or runs_dir/run-YYYYmmdd-HHMMSS; '-2', '-3', ... when taken."""
    stamp = time.strftime("run-%Y%m%d-%H%M%S")
    base = Path(runs_dir) / (check_name(name) if name is not None else stamp)
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)  # exist_ok=False: two runs never share a directory
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def started(run_dir: Path) -> bool:
    """Whether the run finished an epoch (it has a checkpoint to resume from)."""
    return (run_dir / "checkpoints" / "last.safetensors").is_file()


@contextmanager
def discard_unless_started(run_dir: Path | None) -> Iterator[None]:
    """Remove the new `run_dir` when the block fails before the first epoch finished, so a
    failed start leaves no half-empty directory that pushes the next run to NAME-2.

    Pass None for a directory this process did not create (a resumed run, a worker): kept.
    """
    try:
        yield
    except BaseException:
        discard_if_unstarted(run_dir)
        raise


def discard_if_unstarted(run_dir: Path | None) -> None:
    """Remove `run_dir` (one this process created) if no epoch of it finished."""
    if run_dir is not None and run_dir.is_dir() and not started(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)


def run_inputs(model_file: Path, meta: dict) -> list[Path]:
    """What a command reading `model_file` must not overwrite: the file, its run directory's
    spec, model, checkpoints and records, and the data files its metadata names."""
    model_file = Path(model_file)
    run = model_file.parent.parent if model_file.parent.name == "checkpoints" else model_file.parent
    found = [model_file]
    if (run / "spec.yaml").is_file():
        records = ("spec.yaml", "model.safetensors", "checkpoints", "metrics.csv")
        found += [run / name for name in (*records, "environment.json", "test_metrics.json")]
    data = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    found += [Path(data[k]) for k in ("path", "test_path") if isinstance(data.get(k), str)]
    return found


def write_environment(
    run_dir: Path, device: torch.device, spec, chosen: dict | None = None
) -> Path:
    """Record versions, device, seed, precision, command line and what the automatic settings
    chose (`chosen`: {setting: {"value", "why"}}) as the run starts or resumes.

    `fit` calls this (in the process that writes the run) before the first epoch, so it is
    also where temp files a killed writer left in the run directory are removed.
    """
    remove_stale_temps(run_dir, recursive=True)
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
        "chosen": chosen or {},
        "argv": sys.argv,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return atomic_write(run_dir / "environment.json", json.dumps(env, indent=2).encode())


def run_callbacks(run_dir: Path, has_validation: bool, callbacks: list) -> list:
    """CSVLogger, TensorBoard and a best-model checkpoint in `run_dir`, unless already given,
    and speed.csv (seconds, samples/s, FLOP/s and utilization per epoch)."""
    added = [SpeedFile(run_dir / "speed.csv")]
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
