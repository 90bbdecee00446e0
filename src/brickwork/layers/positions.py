"""Absolute position embeddings added to a [steps, features] sequence: learned or sinusoidal.

Rotary positions are not here: they belong inside the attention (`rotary: true` on
`multi_head_attention` or `transformer_block`), see brickwork.layers.attention.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.layers.init import InitField, initialize
from brickwork.layers.registry import Built, LayerConfig, ShapeError, fmt, register


def sinusoidal_table(length: int, width: int) -> torch.Tensor:
    """The fixed [length, width] table of "Attention is all you need" (sin on even features,
    cos on odd ones)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)
    return table


class PositionalEmbedding(nn.Module):
    """x + table[offset : offset + steps]; the table is a parameter (learned) or a fixed,
    unsaved buffer (sinusoidal)."""

    def __init__(self, kind: str, max_length: int, width: int):
        super().__init__()
        self.kind, self.max_length = kind, max_length
        if kind == "learned":
            self.weight = nn.Parameter(torch.empty(max_length, width))
            nn.init.normal_(self.weight)  # as nn.Embedding
        else:
            self.register_buffer("table", sinusoidal_table(max_length, width), persistent=False)

    def _table(self) -> torch.Tensor:
        return self.weight if self.kind == "learned" else self.table

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        steps = x.shape[1]
        if not (torch.compiler.is_compiling() or torch.jit.is_tracing()):
            if offset + steps > self.max_length:
                raise BrickworkError(
                    f"positional_embedding holds {self.max_length} positions but the sequence "
                    f"reaches position {offset + steps}; crop inputs to {self.max_length} steps "
                    "or raise max_length"
                )
        # index_select rather than a slice: an exported graph then takes any length up to
        # max_length without a shape constraint (a slice would tie the length to the table)
        positions = torch.arange(steps, device=x.device) + offset
        return x + self._table().index_select(0, positions).to(x.dtype)

    def forward_with_state(self, x: torch.Tensor, count=None):
        """Continue after `count` positions (a [1, B] tensor of the positions seen so far,
        batch on axis 1 like recurrent states); returns the output and the new count."""
        offset = 0 if count is None else int(count[0, 0])
        if count is None:
            count = torch.zeros(1, x.shape[0], dtype=torch.long, device=x.device)
        return self(x, offset), count + x.shape[1]

    def extra_repr(self):
        return f"kind={self.kind}, max_length={self.max_length}"


class PositionalConfig(LayerConfig):
    kind: Literal["learned", "sinusoidal"] = "learned"
    max_length: int | None = Field(
        None, gt=0, description="positions it holds (default: the input's steps)"
    )
    embeddings_initializer: InitField = None


@register("positional_embedding", PositionalConfig, positional=["kind"],
          aliases=["position_embedding", "positional_encoding"])  # fmt: skip
def positional_embedding(cfg: PositionalConfig, shape):
    """Adds a position vector to each step: learned (GPT-2) or sinusoidal (fixed)."""
    if len(shape) != 2 or shape[-1] is None:
        raise ShapeError(
            f"expects a [steps, features] sequence but receives {fmt(shape)}; put it after an "
            "`embedding`"
        )
    steps, width = shape
    length = cfg.max_length or steps
    if length is None:
        raise ShapeError(
            f"receives a variable-length sequence {fmt(shape)}, so it needs max_length: the "
            "longest sequence it will see (or give input_shape a fixed number of steps)"
        )
    if steps is not None and steps > length:
        raise ShapeError(f"holds max_length {length} positions but receives {steps} steps")
    if cfg.kind == "sinusoidal" and width % 2:
        raise ShapeError(f"sinusoidal positions pair features, but the width {width} is odd")
    if cfg.kind == "sinusoidal" and cfg.embeddings_initializer is not None:
        raise ShapeError("has fixed sinusoidal positions, which take no embeddings_initializer")
    module = PositionalEmbedding(cfg.kind, length, width)
    if cfg.kind == "learned":
        initialize(module.weight, cfg.embeddings_initializer, "embeddings_initializer")
    return Built(module, tuple(shape))
