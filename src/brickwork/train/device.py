"""Device choice, seeding, determinism and mixed precision."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from brickwork.errors import BrickworkError


def pick_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; a named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise BrickworkError(
            f"device '{name}' was asked for but this PyTorch sees no CUDA GPU; use --device cpu "
            "(or auto), or install a CUDA build of torch."
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise BrickworkError(
            "device 'mps' was asked for but Apple's Metal backend is not available here; use "
            "--device cpu (or auto)."
        )
    return torch.device(name)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; `deterministic` also forbids nondeterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def autocast(device: torch.device, precision: str):
    """An autocast context for bf16/fp16, or a no-op context for fp32 (reusable every step)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type == "mps" and precision == "bf16":
        raise BrickworkError("precision bf16 is not supported on mps; use fp16 or fp32.")
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str):
    """A GradScaler for fp16 on CUDA (fp16 gradients underflow without it), else None."""
    if precision == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None
