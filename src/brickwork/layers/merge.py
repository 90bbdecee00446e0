"""Merge layers for the graph form: add, multiply and concatenate several inputs.

`ResidualConfig` (a body of layers added to its input) lives here too; the residual block
itself is built by `brickwork.models.build`, since its body is a list of layers.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from brickwork.layers.init import Nonlinearity
from brickwork.layers.registry import Built, LayerConfig, NoConfig, ShapeError, fmt, register


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, *xs):
        return torch.cat(xs, dim=self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


def _same_shapes(shapes, what):
    if len(shapes) < 2:
        raise ShapeError(
            f"{what} needs at least two inputs, got {len(shapes)}; list them under `inputs:`"
        )
    if len({tuple(s) for s in shapes}) > 1:
        raise ShapeError(
            f"{what} needs inputs of one shape but receives {', '.join(fmt(s) for s in shapes)}"
        )


@register("add", NoConfig, takes_many=True)
def add(cfg, shapes):
    """Elementwise sum of inputs of the same shape (a skip connection)."""
    _same_shapes(shapes, "add")
    return Built(Add(), shapes[0])


@register("multiply", NoConfig, takes_many=True)
def multiply(cfg, shapes):
    _same_shapes(shapes, "multiply")
    return Built(Multiply(), shapes[0])


class ConcatConfig(LayerConfig):
    axis: int = 0


@register("concat", ConcatConfig, takes_many=True, aliases=["concatenate"])
def concat(cfg: ConcatConfig, shapes):
    """Join inputs along a per-sample axis (0 = channels/features); other axes must agree."""
    if len(shapes) < 2:
        raise ShapeError(
            f"concat needs at least two inputs, got {len(shapes)}; list them under `inputs:`"
        )
    rank = len(shapes[0])
    axis = cfg.axis if cfg.axis >= 0 else rank + cfg.axis
    if not 0 <= axis < rank or any(len(s) != rank for s in shapes):
        raise ShapeError(
            f"concat on axis {cfg.axis} needs inputs of one rank with that axis, got "
            f"{', '.join(fmt(s) for s in shapes)}"
        )
    for i in range(rank):
        if i != axis and len({s[i] for s in shapes}) > 1:
            raise ShapeError(
                f"concat on axis {cfg.axis} needs the other axes to agree, got "
                f"{', '.join(fmt(s) for s in shapes)}"
            )
    sizes = [s[axis] for s in shapes]
    joined = None if None in sizes else sum(sizes)
    out = (*shapes[0][:axis], joined, *shapes[0][axis + 1 :])
    return Built(Concat(axis + 1), out)


class ResidualConfig(LayerConfig):
    layers: list[Any]
    shortcut: Literal["auto", "identity", "projection"] = "auto"
    activation: Nonlinearity | None = None
