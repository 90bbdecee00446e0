"""The `finetune:` section: start from saved weights, freeze, replace the head, unfreeze later.

    finetune:
      base: runs/mnist/model.safetensors   # or a run directory, a checkpoint, a .pt/.pth state dict
      head: true                          # fresh output layer sized to the data's classes
      freeze: {all_but_last: 2}           # or "conv*", or [c1, c2], or {layers: [...],
      all_but_last: N}
      head_lr: 0.003                      # the head's learning rate; the rest trains at train.lr
      unfreeze: [{epoch: 4, last: 4}, {epoch: 8, layers: "*"}]

With `base` a plain PyTorch state dict (`.pt`/`.pth`, or a `.safetensors` file without
brickwork metadata) the spec's `model:` section says the architecture and `pretrained:`
how the file's keys map onto it (see docs/finetune.md).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from brickwork.errors import BrickworkError, pydantic_message
from brickwork.spec.base import SpecModel


class FreezeSpec(SpecModel):
    """Layers to freeze: names or glob patterns, and/or every layer before the last N weighted
    ones.
    """

    model_config = ConfigDict(extra="forbid")
    layers: list[str] | None = None
    all_but_last: int | None = Field(None, ge=0)

    @field_validator("layers", mode="before")
    @classmethod
    def _listed(cls, v):
        return [v] if isinstance(v, str) else v


class HeadSpec(SpecModel):
    """A fresh output layer: `num_classes` (default: the data's), `activation` kept unless given."""

    model_config = ConfigDict(extra="forbid")
    num_classes: int | None = Field(None, ge=1)
    activation: str | None = "keep"


class UnfreezeStep(SpecModel):
    """At the start of `epoch` (1-based), make trainable the named/globbed `layers` or the `last` N
    weighted layers.
    """

    model_config = ConfigDict(extra="forbid")
    epoch: int = Field(ge=1)
    layers: list[str] | None = None
    last: int | None = Field(None, ge=1)

    @field_validator("layers", mode="before")
    @classmethod
    def _listed(cls, v):
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one(self):
        if (self.layers is None) == (self.last is None):
            raise ValueError(
                "each unfreeze step needs `layers:` (names or globs, '*' for all) or `last:` (a "
                "number of layers), not both"
            )
        return self


class PretrainedSpec(SpecModel):
    """How a plain state dict's keys map onto the model: renamed by prefix, or paired in order."""

    model_config = ConfigDict(extra="forbid")
    key_map: dict[str, str] | None = None
    by_order: bool = False
    strict: bool = False


class FinetuneSpec(SpecModel):
    """See docs/finetune.md for every field."""

    model_config = ConfigDict(extra="forbid")
    base: str | None = None
    pretrained: PretrainedSpec = PretrainedSpec()
    head: HeadSpec | None = None
    freeze: FreezeSpec | None = None
    head_lr: float | None = Field(None, gt=0)
    backbone_lr: float | None = Field(None, gt=0)
    unfreeze: list[UnfreezeStep] = []

    @field_validator("head", mode="before")
    @classmethod
    def _head(cls, v):
        if v is True:
            return {}
        if v is False:
            return None
        return {"num_classes": v} if isinstance(v, int) else v

    @field_validator("freeze", mode="before")
    @classmethod
    def _freeze(cls, v):
        return {"layers": v} if isinstance(v, str | list) else v


def parse_finetune_spec(data: Any) -> FinetuneSpec | None:
    """Validate a `finetune:` section, with errors that name the field."""
    if data is None or isinstance(data, FinetuneSpec):
        return data
    if not isinstance(data, dict):
        raise BrickworkError(
            "finetune: expected a mapping such as {base: runs/NAME, head: true, freeze: "
            f"{{all_but_last: 1}}}}, found {type(data).__name__}."
        )
    try:
        return FinetuneSpec(**data)
    except ValidationError as e:
        raise BrickworkError(pydantic_message(e, "finetune", FinetuneSpec.model_fields)) from None
