"""Run directories read back: `brickwork runs` (the listing) and `brickwork compare` (the diff).

    from brickwork.runs import list_runs, spec_differences, read_spec
    [(r["name"], r["status"], r["best"]) for r in list_runs("runs")]
    spec_differences([read_spec("runs/a"), read_spec("runs/b")])   # {"train.lr": [0.001, 0.01]}

Only the files a run leaves are read (status.json, spec.yaml, metrics.csv, environment.json,
test_metrics.json), so listing a folder of runs never imports torch. `recording` writes
status.json, which says whether a run is running, finished, diverged, interrupted or failed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import socket
import time
from pathlib import Path

import yaml

from brickwork.errors import BrickworkError

STATUS_FILE = "status.json"
# Metrics that are better when larger; the same rule as brickwork.train.callbacks.MAX_MODE
# (a test keeps the two equal; importing that module would import torch).
MAX_MODE = ("acc", "accuracy", "f1", "precision", "recall", "r2", "auc")


def maximized(metric: str) -> bool:
    return metric.removeprefix("val_").endswith(MAX_MODE)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@contextlib.contextmanager
def recording(run_dir: Path | None):
    """Write status.json as 'running' now and with how the run ended when the block ends.

    The block may set `status["stop_reason"]` (the History's): 'nan' records the run as
    diverged. Ctrl-C records 'interrupted', any other exception 'failed' with its message;
    the exception still propagates. `run_dir` None (a worker process) records nothing.
    """
    status = {"status": "running", "started": _now(), "pid": os.getpid()}
    status["host"] = socket.gethostname()
    if run_dir is None:
        yield status
        return
    begun = time.time()
    before = _read_bytes(Path(run_dir) / STATUS_FILE)
    _write_status(run_dir, status)
    try:
        yield status
    except KeyboardInterrupt:
        _write_status(run_dir, _ended(status, begun, "interrupted"))
        raise
    except BrickworkError as e:
        if before is None:  # a new run: the failure is its story
            error = f"{type(e).__name__}: {str(e)[:300]}"
            _write_status(run_dir, {**_ended(status, begun, "failed"), "error": error})
        else:  # a resume refused (another architecture, a bad setting): the run is unchanged
            from brickwork.files import atomic_write

            atomic_write(Path(run_dir) / STATUS_FILE, before)
        raise
    except BaseException as e:
        error = f"{type(e).__name__}: {str(e)[:300]}"
        _write_status(run_dir, {**_ended(status, begun, "failed"), "error": error})
        raise
    reason = status.get("stop_reason")
    _write_status(run_dir, _ended(status, begun, "diverged" if reason == "nan" else "finished"))


def _ended(status: dict, begun: float, how: str) -> dict:
    return {**status, "status": how, "ended": _now(), "seconds": round(time.time() - begun, 3)}


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_status(run_dir: Path, status: dict) -> None:
    from brickwork.files import atomic_write

    atomic_write(Path(run_dir) / STATUS_FILE, json.dumps(status, indent=2).encode())


def read_metrics(run_dir: str | Path) -> dict[str, list[float]]:
    """metrics.csv as columns: {"epoch": [1, 2, ...], "loss": [...], ...} (NaN where blank).

    A missing file gives {}; a file that is not such a table raises a BrickworkError naming it.
    """
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        return {}
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BrickworkError(f"{path}: cannot be read as a CSV table ({e}).") from None
    if not rows or not rows[0] or rows[0][0] != "epoch":
        raise BrickworkError(
            f"{path}: expected a header row starting with 'epoch' (as brickwork writes it), found "
            f"{str(rows[0] if rows else 'an empty file')[:80]}; is this a brickwork run directory?"
        )
    header, columns = rows[0], {name: [] for name in rows[0]}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            raise BrickworkError(
                f"{path}: line {number} has {len(row)} values but the header names "
                f"{len(header)} columns; the file is damaged."
            )
        for name, cell in zip(header, row + [""] * (len(header) - len(row)), strict=True):
            columns[name].append(_number(cell, path, number))
    return columns


def _number(cell: str, path: Path, line: int) -> float:
    if cell.strip() == "":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise BrickworkError(
            f"{path}: line {line} holds '{cell[:40]}' where a number was expected; the file is "
            "damaged."
        ) from None


def read_spec(run_dir: str | Path) -> dict:
    """The resolved spec a run was started with (its spec.yaml)."""
    path = Path(run_dir) / "spec.yaml"
    if not path.is_file():
        raise BrickworkError(
            f"'{run_dir}' is not a run directory (no spec.yaml); pass a folder that `brickwork "
            "train` created, e.g. runs/NAME."
        )
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise BrickworkError(f"{path}: not readable as YAML ({str(e)[:200]}).") from None
    if not isinstance(spec, dict):
        raise BrickworkError(f"{path}: expected a mapping, found {type(spec).__name__}.")
    return spec


def _read_json(path: Path) -> dict:
    """A small JSON object the run wrote, or {} when it is missing or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_status(run_dir: Path) -> dict:
    """status.json, with 'running' turned into 'interrupted' when its process is gone.

    A run without status.json (written by `fit(run_dir=...)`, or by an older brickwork) counts
    as finished when it has its final model.safetensors, else as 'incomplete'.
    """
    status = _read_json(run_dir / STATUS_FILE)
    if not status.get("status"):
        done = (run_dir / "model.safetensors").is_file()
        env = _read_json(run_dir / "environment.json")
        return {"status": "finished" if done else "incomplete", "started": env.get("time")}
    if status["status"] == "running" and status.get("host") == socket.gethostname():
        if not _alive(status.get("pid")):
            status["status"] = "interrupted"  # killed without a chance to record it
    return status


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def summarize(run_dir: str | Path) -> dict:
    """One run: name, path, started, status, epochs, seconds, best/final/test metrics."""
    run_dir = Path(run_dir)
    status = run_status(run_dir)
    metrics = read_metrics(run_dir)
    epochs = metrics.pop("epoch", [])
    seconds = status.get("seconds")
    if status["status"] == "running" and status.get("started"):
        seconds = _elapsed(status["started"])
    test = _read_json(run_dir / "test_metrics.json")
    return {
        "name": run_dir.name,
        "path": str(run_dir),
        "started": status.get("started"),
        "status": status["status"],
        "stop_reason": status.get("stop_reason"),
        "error": status.get("error"),
        "epochs": len(epochs),
        "seconds": seconds,
        "best": {k: best(k, v) for k, v in metrics.items() if k != "lr" and best(k, v)},
        "final": {k: v[-1] for k, v in metrics.items() if v and math.isfinite(v[-1])},
        "test": {k: v for k, v in test.items() if isinstance(v, int | float)},
    }


def best(metric: str, values: list[float]) -> dict | None:
    """{"value", "epoch"} of the best finite value (largest for accuracy-like metrics)."""
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        return None
    value, index = (max if maximized(metric) else min)(finite, key=lambda pair: pair[0])
    return {"value": value, "epoch": index + 1}


def _elapsed(started: str) -> float | None:
    try:
        return round(time.time() - time.mktime(time.strptime(started, "%Y-%m-%dT%H:%M:%S%z")), 1)
    except ValueError:
        return None


def list_runs(runs_dir: str | Path = "runs") -> list[dict]:
    """Every run directory in `runs_dir` (a folder with spec.yaml), oldest first.

    A run whose files cannot be read is listed with status 'unreadable' and the reason.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise BrickworkError(
            f"'{runs_dir}' is not a folder; give the folder your runs are in (default: runs, "
            "as `brickwork train --runs-dir` sets it)."
        )
    found = []
    for path in sorted(p for p in runs_dir.iterdir() if (p / "spec.yaml").is_file()):
        try:
            found.append(summarize(path))
        except BrickworkError as e:
            found.append({"name": path.name, "path": str(path), "status": "unreadable"})
            found[-1]["error"] = str(e)
    return sorted(
        found, key=lambda r: (r.get("started") is None, r.get("started") or "", r["name"])
    )


def flatten(value, prefix: str = "") -> dict:
    """Nested mappings and lists as dotted keys: {"model.layers.0.filters": 32, ...}."""
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value:
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    flat = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


MISSING = "(not set)"


def spec_differences(specs: list[dict]) -> dict[str, list]:
    """The dotted spec fields whose values are not the same in every spec, one value per spec.

    A field one spec lacks shows as '(not set)'. Lists compare item by item, so a layer
    inserted in the middle shows as every later layer differing.
    """
    flats = [flatten(spec) for spec in specs]
    keys = sorted({key for flat in flats for key in flat})
    differ = {}
    for key in keys:
        values = [flat.get(key, MISSING) for flat in flats]
        if any(v != values[0] or type(v) is not type(values[0]) for v in values[1:]):
            differ[key] = values
    return differ


def curves_figure(runs: dict[str, dict[str, list[float]]]):
    """One panel per metric (loss, accuracy, ..., lr): each run in its own colour, training
    solid and validation dashed. `runs` maps a run's label to its read_metrics columns.
    """
    from brickwork.figures import subplots

    bases = []
    for columns in runs.values():
        for key in columns:
            base = key.removeprefix("val_")
            if key != "epoch" and base not in bases:
                bases.append(base)
    bases.sort(key=lambda b: (b == "lr", b != "loss"))  # loss first, lr last
    cols = min(3, len(bases))
    rows = math.ceil(len(bases) / cols)
    fig, axes = subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    colours = [f"C{i % 10}" for i in range(len(runs))]
    for ax, base in zip(axes.flat, bases, strict=False):
        for colour, (label, columns) in zip(colours, runs.items(), strict=True):
            epochs = columns.get("epoch", [])
            for key, style, suffix in ((base, "-", ""), (f"val_{base}", "--", " (val)")):
                if key in columns and (base != "lr" or style == "-"):
                    ax.plot(epochs, columns[key], style, color=colour, label=label + suffix)
        ax.set_title(base)
        ax.set_xlabel("epoch")
        if base == "lr":
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(bases) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
