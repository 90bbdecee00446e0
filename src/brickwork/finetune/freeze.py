"""Freeze and unfreeze layers by name, glob pattern or "all but the last N".

A frozen layer's parameters stop receiving gradients, and a frozen batch-norm layer also
stops updating its running statistics (it stays in eval mode while the model trains).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from torch import nn

from brickwork.errors import BrickworkError, did_you_mean


def layer_names(model: nn.Module, weighted_only: bool = False) -> list[str]:
    """The model's layers in order (only those with parameters when `weighted_only`)."""
    return [
        name
        for name, module in model.layers.items()
        if not weighted_only or any(True for _ in module.parameters())
    ]


def _select(
    model: nn.Module, patterns: Iterable[str] | str | None, all_but_last: int | None
) -> list[str]:
    names = layer_names(model)
    chosen: list[str] = []
    if patterns is not None:
        for pattern in [patterns] if isinstance(patterns, str) else patterns:
            matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                raise BrickworkError(
                    f"freeze: no layer matches '{pattern}'{did_you_mean(pattern, names)}; the "
                    f"layers are {', '.join(names)}."
                )
            chosen += [n for n in matched if n not in chosen]
    if all_but_last is not None:
        weighted = layer_names(model, weighted_only=True)
        if not 0 <= all_but_last <= len(weighted):
            raise BrickworkError(
                f"freeze: all_but_last={all_but_last} but the model has {len(weighted)} layers "
                "with weights."
            )
        keep = set(weighted[len(weighted) - all_but_last :])
        cut = names.index(weighted[len(weighted) - all_but_last]) if all_but_last else len(names)
        chosen += [n for n in names[:cut] if n not in keep and n not in chosen]
    return chosen


def _set(model: nn.Module, names: list[str], frozen: bool) -> list[str]:
    for name in names:
        module = model.layers[name]
        module.requires_grad_(not frozen)
        for sub in module.modules():
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                sub.frozen_stats = frozen
    model.train(model.training)
    return names


def freeze(
    model: nn.Module, layers: Iterable[str] | str | None = None, all_but_last: int | None = None
) -> list[str]:
    """Freeze the named/globbed layers, or every layer before the last N weighted ones."""
    return _set(model, _select(model, layers, all_but_last), True)


def unfreeze(
    model: nn.Module, layers: Iterable[str] | str | None = None, all_but_last: int | None = None
) -> list[str]:
    """Undo `freeze` for the selected layers (all layers when nothing is selected)."""
    names = (
        layer_names(model)
        if layers is None and all_but_last is None
        else _select(model, layers, all_but_last)
    )
    return _set(model, names, False)


def frozen_layers(model: nn.Module) -> list[str]:
    """Layers whose parameters are all frozen."""
    return [
        n
        for n, m in model.layers.items()
        if any(True for _ in m.parameters()) and not any(p.requires_grad for p in m.parameters())
    ]
