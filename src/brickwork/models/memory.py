"""Refuse, at build time, a layer whose parameters cannot fit in this machine's memory.

`dense: {units: 1000000000}` would otherwise ask the allocator for terabytes: a crash deep
inside PyTorch, or the system killing the process. Each layer is first built on PyTorch's
`meta` device (shapes only, no memory), so its bytes are known before anything is allocated.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from brickwork.errors import BrickworkError


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def module_bytes(module: nn.Module) -> int:
    """Bytes of a module's parameters and buffers (a meta module's included)."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def check_layer_fits(build: Callable[[], object], label: str, so_far: int) -> int:
    """The bytes of the layer `build()` makes, built on the meta device; raise naming `label`
    when it (or the model up to it, `so_far` bytes before it) is more than this machine's memory.

    A layer that cannot be built on the meta device (a custom one, say) is not measured: the
    real build reports its own errors.
    """
    limit = memory_bytes()
    if limit is None:
        return 0
    try:
        with torch.device("meta"):
            built = build()
    except Exception:  # noqa: BLE001 - the real build, right after, raises the user's error
        return 0
    size = module_bytes(built.module)
    if size > limit or so_far + size > limit:
        whole = "" if size > limit else f" (the model up to it holds {_gib(so_far + size)})"
        raise BrickworkError(
            f"{label}: its parameters take {size:,} bytes ({_gib(size)}){whole}, more than this "
            f"machine's {_gib(limit)} of memory; make the layer smaller (fewer units, filters or "
            "a smaller input_dim) or flatten less before it."
        )
    return size


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"
