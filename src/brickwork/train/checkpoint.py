"""Training checkpoints: every tensor in safetensors, everything else as JSON in its header.

A checkpoint is one file (so one atomic write) holding the model, the optimizer state, the
gradient scaler, the RNG states of python/numpy/torch, the history, the callbacks' state and
the epoch/step counters. Nested state is split generically: each tensor is stored under a
dotted key and replaced in the JSON by `{"__tensor__": key}`. Nothing is pickled, so loading
a checkpoint runs no code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brickwork.errors import BrickworkError
from brickwork.models.io import CHECKPOINT_FORMAT, read_safetensors, write_safetensors


def split_tensors(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON-able copy of `obj` with its tensors moved into `tensors` under dotted keys."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        if obj and all(isinstance(k, int) for k in obj):  # optimizer state is keyed by int
            return {
                "__int_keys__": {
                    str(k): split_tensors(v, f"{prefix}.{k}", tensors) for k, v in obj.items()
                }
            }
        return {str(k): split_tensors(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def join_tensors(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Undo `split_tensors`."""
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__int_keys__"}:
            return {int(k): join_tensors(v, tensors) for k, v in obj["__int_keys__"].items()}
        return {k: join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


def rng_state() -> dict:
    """The python, numpy and torch (CPU and CUDA) generator states."""
    version, keys, gauss = random.getstate()
    name, np_keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(keys), gauss],
        "numpy": [name, np_keys.tolist(), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    name, np_keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(np_keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict, model_meta: dict) -> Path:
    """Write `state` (nested dicts/lists of JSON values and tensors) atomically to `path`.

    `model_meta` is the model file's metadata, so `brickwork.load(checkpoint)` works too.
    """
    tensors: dict[str, torch.Tensor] = {}
    doc = {key: split_tensors(value, key, tensors) for key, value in state.items()}
    return write_safetensors(
        path, tensors, {"state": doc, "model_meta": model_meta}, CHECKPOINT_FORMAT
    )


def load_checkpoint(path: str | Path) -> dict:
    """The state saved by `save_checkpoint` (tensors on the CPU)."""
    tensors, meta, fmt = read_safetensors(path)
    if fmt != CHECKPOINT_FORMAT:
        raise BrickworkError(
            f"'{path}' is a model file, not a training checkpoint; resume from runs/NAME (its "
            "checkpoints/last.safetensors)."
        )
    return join_tensors(meta["state"], tensors)
