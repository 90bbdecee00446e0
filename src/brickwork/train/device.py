"""Device choice, seeding, determinism and mixed precision (and what `precision: auto` picks)."""

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
    if precision not in ("bf16", "fp16"):
        raise BrickworkError(
            f"precision '{str(precision)[:20]}' is not one of fp32, bf16, fp16 here "
            "(train.precision auto is resolved by fit); pass one of those three."
        )
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type == "mps" and precision == "bf16":
        raise BrickworkError("precision bf16 is not supported on mps; use fp16 or fp32.")
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str):
    """A GradScaler for fp16 on CUDA (fp16 gradients underflow without it), else None."""
    if precision == "fp16" and device.type == "cuda":
        return torch.amp.GradScaler("cuda")
    return None


CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether `device` does bf16 arithmetic in hardware (else torch emulates it, slowly), and
    what says so: a CUDA GPU of compute capability 8.0 or newer, a CPU with avx512_bf16 or AMX."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        name = torch.cuda.get_device_name(device)
        return major >= 8, f"{name} has compute capability {major}.{minor} (bf16 needs 8.0)"
    if device.type == "cpu":
        found = [f for f in CPU_BF16_FLAGS if f in cpu_flags()]
        isa = torch.backends.cpu.get_cpu_capability()
        if found:
            return True, f"the CPU has {' and '.join(found)} (torch kernels: {isa})"
        return False, f"the CPU has neither {' nor '.join(CPU_BF16_FLAGS)} (torch kernels: {isa})"
    return False, f"auto uses bf16 only on CPUs and CUDA GPUs, not on {device.type}"


# auto leaves these in fp32: bf16 was not faster for them on a CPU with avx512_bf16
# (measured in docs/performance.md: a 416-MAC MLP 0.86x, the character GRU 0.95x-1.38x)
BF16_MIN_MACS = 100_000  # forward MACs per sample (the 406k-MAC MLP 784-512-10 gained 1.5x)
BF16_SLOW_LAYERS = ("gru", "rnn")


def choose_precision(spec, device: torch.device, kind: str | None, model=None) -> tuple:
    """(the spec with `precision` resolved, {"value", "why"}): what `precision: auto` picks.

    auto picks bf16 autocast where it was measured faster and as accurate (docs/performance.md):
    the device computes bf16 natively, the outputs are classes (`kind` 'multiclass' or
    'binary', language models included), and the model is a brickwork model of at least
    `BF16_MIN_MACS` MACs per sample without GRU/RNN layers. Otherwise fp32: regression keeps
    only about 3 significant digits of each output in bf16, and small models run slower.
    An explicit fp32/bf16/fp16 is kept as asked.
    """
    if spec.precision != "auto":
        why = f"train.precision: {spec.precision} (asked for)"
        if spec.precision == "bf16" and device.type in ("cpu", "cuda"):
            native, what = native_bf16(device)
            why += "" if native else f"; {what}, so bf16 is emulated and likely slower"
        return spec, {"value": spec.precision, "why": why}
    native, what = native_bf16(device)
    why = _fp32_reason(kind, model) if native else what
    value = "fp32" if why else "bf16"
    why = f"auto: {why or what + ', and the outputs are classes'}"
    return spec.model_copy(update={"precision": value}), {"value": value, "why": why}


def _fp32_reason(kind: str | None, model) -> str | None:
    """Why auto keeps fp32 on a device with native bf16 (None: nothing against bf16)."""
    if kind == "regression":
        return "regression outputs would keep only about 3 significant digits in bf16"
    if kind not in ("multiclass", "binary"):
        return "the loss does not say the outputs are classes (bf16 is picked only then)"
    info = getattr(model, "layer_info", None)
    if info is None:
        return "the model's MAC count is unknown (not a brickwork model), so is bf16's gain"
    slow = sorted({i["type"] for i in info if i.get("type") in BF16_SLOW_LAYERS})
    if slow:
        return f"{'/'.join(slow)} layers (bf16 was not reliably faster for a GRU; RNN untested)"
    macs = sum(int(i.get("macs") or 0) for i in info)
    if macs < BF16_MIN_MACS:
        return f"the model is small ({macs:,} MACs/sample < {BF16_MIN_MACS:,}): bf16 is slower"
    return None
