"""The layer registry: each layer type has a config schema and a build function.

A build function takes the validated config and the incoming per-sample shape (no batch
dimension; `None` marks a variable length) and returns the module, its output shape and its
multiply-accumulate count. That is all shape inference is: the user never types
`in_features` or `in_channels`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

from pydantic import ConfigDict
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.spec.base import SpecModel

Shape = tuple  # per-sample shape; ints, or None for a variable length


class LayerConfig(SpecModel):
    """Base for every layer's fields: unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class NoConfig(LayerConfig):
    """For layers without fields (relu, flatten, ...)."""


class ShapeError(BrickworkError):
    """A layer cannot take the shape it receives; the builder adds which layer it is."""


@dataclass(frozen=True)
class Built:
    module: nn.Module
    out_shape: Shape
    macs: int = 0


@dataclass(frozen=True)
class LayerKind:
    name: str
    config: type[LayerConfig]
    build: Callable
    positional: tuple[str, ...]
    takes_many: bool  # a merge (add, concat) takes a list of shapes


LAYERS: dict[str, LayerKind] = {}
ALIASES: dict[str, str] = {}


def register(
    name: str,
    config: type[LayerConfig],
    positional: Sequence[str] = (),
    aliases: Sequence[str] = (),
    takes_many: bool = False,
):
    """Decorator: make `build(cfg, in_shape) -> Built` available as layer type `name`."""

    def deco(build):
        LAYERS[name] = LayerKind(name, config, build, tuple(positional), takes_many)
        for alias in aliases:
            ALIASES[alias] = name
        return build

    return deco


def canonical(name: str) -> str | None:
    """The registered name for `name` or one of its aliases (case-insensitive), else None."""
    key = name.lower()
    key = ALIASES.get(key, key)
    return key if key in LAYERS else None


def fmt(shape: Shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def numel(shape: Shape) -> int | None:
    """Elements per sample, or None when a dimension is variable."""
    return None if any(d is None for d in shape) else math.prod(shape)


def need_rank(shape: Shape, ranks: Sequence[int], what: str, fix: str = "") -> None:
    """Raise a ShapeError unless the incoming shape has one of `ranks` dimensions."""
    if len(shape) not in ranks:
        fix = f"; {fix}" if fix else ""
        raise ShapeError(f"expects {what} but receives {fmt(shape)}{fix}")


_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def type_text(tp) -> str:
    """A field's type as a user reads it: 'int >= 1 | list[int >= 1]', not pydantic's repr."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return " ".join(
            [type_text(args[0]), *_bounds(m for a in args[1:] for m in getattr(a, "metadata", [a]))]
        )
    if origin in (Union, UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(type_text(a) for a in args)}]"
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp).removeprefix("typing."))


def field_text(field) -> str:
    """A config field's type and bounds, e.g. 'int > 0' (for `brickwork layers` and help())."""
    return " ".join([type_text(field.annotation), *_bounds(field.metadata)])


def _bounds(metadata) -> list[str]:
    return [
        f"{op} {getattr(m, key)}"
        for m in metadata
        for key, op in _BOUNDS.items()
        if getattr(m, key, None) is not None
    ]
