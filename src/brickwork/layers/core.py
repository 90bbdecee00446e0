"""Dense, dropout, flatten, reshape, embedding, normalization (batch, layer, RMS) and
activation layers."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field
from torch import nn

from brickwork.layers.init import InitField, Nonlinearity, RegField, attach_regularizers, initialize
from brickwork.layers.registry import (
    Built,
    LayerConfig,
    NoConfig,
    ShapeError,
    fmt,
    need_rank,
    numel,
    register,
)


class DenseConfig(LayerConfig):
    units: int = Field(gt=0)
    activation: Nonlinearity | None = None
    use_bias: bool = True
    kernel_initializer: InitField = None
    bias_initializer: InitField = None
    kernel_regularizer: RegField = None
    bias_regularizer: RegField = None


@register("dense", DenseConfig, positional=["units"], aliases=["linear", "fc"])
def dense(cfg: DenseConfig, shape):
    """A fully connected layer on a flat input, or per time step on a [steps, features] input."""
    need_rank(
        shape,
        (1, 2),
        "a flat input ([features], or [steps, features] per time step)",
        "add `flatten` before it",
    )
    if shape[-1] is None:
        raise ShapeError(f"needs a known feature size but receives {fmt(shape)}")
    module = nn.Linear(shape[-1], cfg.units, bias=cfg.use_bias)
    initialize(module.weight, cfg.kernel_initializer, "kernel_initializer")
    if cfg.use_bias:
        initialize(module.bias, cfg.bias_initializer, "bias_initializer")
    attach_regularizers(module, weight=cfg.kernel_regularizer, bias=cfg.bias_regularizer)
    steps = 1 if len(shape) == 1 else (shape[0] or 1)
    return Built(module, (*shape[:-1], cfg.units), steps * shape[-1] * cfg.units)


class DropoutConfig(LayerConfig):
    rate: float = Field(0.5, ge=0, lt=1)


@register("dropout", DropoutConfig, positional=["rate"])
def dropout(cfg: DropoutConfig, shape):
    return Built(nn.Dropout(cfg.rate), shape)


@register("dropout2d", DropoutConfig, positional=["rate"], aliases=["spatial_dropout2d"])
def dropout2d(cfg: DropoutConfig, shape):
    """Drops whole channels of a [channels, height, width] feature map."""
    need_rank(shape, (3,), "a [channels, height, width] input")
    return Built(nn.Dropout2d(cfg.rate), shape)


@register("flatten", NoConfig)
def flatten(cfg, shape):
    n = numel(shape)
    if n is None:
        raise ShapeError(
            f"cannot flatten a variable-length input {fmt(shape)}; use a global pool or an rnn "
            "with return_sequences: false"
        )
    return Built(nn.Flatten(), (n,))


class Reshape(nn.Module):
    """Reshape each sample to `shape` (one entry may be -1)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self):
        return f"shape={list(self.shape)}"


class ReshapeConfig(LayerConfig):
    shape: list[int]


@register("reshape", ReshapeConfig, positional=["shape"])
def reshape(cfg: ReshapeConfig, shape):
    n, target = numel(shape), list(cfg.shape)
    if n is None:
        raise ShapeError(f"cannot reshape a variable-length input {fmt(shape)}")
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"shape {target} may hold one -1 and otherwise positive sizes")
    known = math.prod(d for d in target if d != -1)
    if -1 in target:
        if n % known:
            raise ShapeError(
                f"cannot reshape {fmt(shape)} ({n} values) to {target}: {n} is not divisible by "
                f"{known}"
            )
        target[target.index(-1)] = n // known
    if math.prod(target) != n:
        raise ShapeError(
            f"cannot reshape {fmt(shape)} ({n} values) to {target} ({math.prod(target)} values)"
        )
    return Built(Reshape(target), tuple(target))


class EmbeddingConfig(LayerConfig):
    input_dim: int = Field(gt=0, description="vocabulary size")
    output_dim: int = Field(gt=0)
    mask_zero: bool = False
    embeddings_initializer: InitField = None
    embeddings_regularizer: RegField = None


@register("embedding", EmbeddingConfig, positional=["input_dim", "output_dim"])
def embedding(cfg: EmbeddingConfig, shape):
    """Token ids [steps] -> vectors [steps, output_dim]; mask_zero makes id 0 padding, and
    recurrent layers after it then skip the padded positions."""
    need_rank(shape, (1,), "a sequence of token ids [steps]")
    module = nn.Embedding(cfg.input_dim, cfg.output_dim, padding_idx=0 if cfg.mask_zero else None)
    initialize(module.weight, cfg.embeddings_initializer, "embeddings_initializer")
    attach_regularizers(module, weight=cfg.embeddings_regularizer)
    return Built(module, (*shape, cfg.output_dim))


class BatchNormConfig(LayerConfig):
    momentum: float = Field(0.1, gt=0, le=1)
    eps: float = Field(1e-5, gt=0)
    affine: bool = True


@register("batchnorm", BatchNormConfig, aliases=["batch_norm", "batchnormalization"])
def batchnorm(cfg: BatchNormConfig, shape):
    """Batch normalization over the channel axis; picks the 1d or 2d form from the shape."""
    need_rank(
        shape, (1, 2, 3), "a [features], [channels, length] or [channels, height, width] input"
    )
    cls = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
    return Built(cls(shape[0], eps=cfg.eps, momentum=cfg.momentum, affine=cfg.affine), shape)


@register("batchnorm1d", BatchNormConfig)
def batchnorm1d(cfg: BatchNormConfig, shape):
    need_rank(
        shape, (1, 2), "a [features] or [channels, length] input", "use batchnorm2d for images"
    )
    return Built(
        nn.BatchNorm1d(shape[0], eps=cfg.eps, momentum=cfg.momentum, affine=cfg.affine), shape
    )


@register("batchnorm2d", BatchNormConfig)
def batchnorm2d(cfg: BatchNormConfig, shape):
    need_rank(
        shape, (3,), "a [channels, height, width] input", "use batchnorm1d for flat or 1-d inputs"
    )
    return Built(
        nn.BatchNorm2d(shape[0], eps=cfg.eps, momentum=cfg.momentum, affine=cfg.affine), shape
    )


class LayerNormConfig(LayerConfig):
    eps: float = Field(1e-5, gt=0)
    axes: Literal["last", "all"] = "last"


@register("layernorm", LayerNormConfig, aliases=["layer_norm", "layernormalization"])
def layernorm(cfg: LayerNormConfig, shape):
    """Normalize over the last axis (features), or over every axis of the sample."""
    normalized = list(shape) if cfg.axes == "all" else [shape[-1]]
    if any(d is None for d in normalized):
        raise ShapeError(
            f"cannot normalize over a variable-length axis of {fmt(shape)}; use axes: last"
        )
    return Built(nn.LayerNorm(normalized, eps=cfg.eps), shape)


class RMSNormConfig(LayerConfig):
    eps: float | None = Field(None, gt=0, description="default: the dtype's machine epsilon")


@register("rmsnorm", RMSNormConfig, aliases=["rms_norm"])
def rmsnorm(cfg: RMSNormConfig, shape):
    """Root-mean-square normalization over the last axis (features), with a learned scale."""
    if shape[-1] is None:
        raise ShapeError(f"cannot normalize over a variable-length axis of {fmt(shape)}")
    return Built(nn.RMSNorm(shape[-1], eps=cfg.eps), shape)


class LeakyReluConfig(LayerConfig):
    negative_slope: float = 0.01


class EluConfig(LayerConfig):
    alpha: float = 1.0


class GeluConfig(LayerConfig):
    approximate: Literal["none", "tanh"] = "none"


class SoftmaxConfig(LayerConfig):
    axis: int = -1


def _activation(name, config, make, check=None):
    @register(name, config)
    def build(cfg, shape):
        if check is not None:
            check(cfg, shape)
        return Built(make(cfg), shape)

    build.__doc__ = f"The {name} activation, applied elementwise."
    return build


_activation("relu", NoConfig, lambda c: nn.ReLU())
_activation("leaky_relu", LeakyReluConfig, lambda c: nn.LeakyReLU(c.negative_slope))
_activation("elu", EluConfig, lambda c: nn.ELU(c.alpha))
_activation("gelu", GeluConfig, lambda c: nn.GELU(c.approximate))
_activation("sigmoid", NoConfig, lambda c: nn.Sigmoid())
_activation("tanh", NoConfig, lambda c: nn.Tanh())


def _check_axis(cfg: SoftmaxConfig, shape) -> None:
    """Catch a bad `axis` when the model is built, not at its first forward pass."""
    rank = len(shape)
    if not -rank <= cfg.axis < rank:
        raise ShapeError(
            f"has axis {cfg.axis} but receives {fmt(shape)}, which has {rank} "
            f"ax{'i' if rank == 1 else 'e'}s per sample; "
            f"use an axis from {-rank} to {rank - 1} (the batch axis is not counted; -1 is the "
            "last)"
        )


_activation("softmax", SoftmaxConfig, lambda c: nn.Softmax(dim=_batch_axis(c.axis)), _check_axis)
_activation(
    "log_softmax", SoftmaxConfig, lambda c: nn.LogSoftmax(dim=_batch_axis(c.axis)), _check_axis
)


def _batch_axis(axis: int) -> int:
    """A per-sample axis (no batch dimension) as a batched tensor's dim."""
    return axis if axis < 0 else axis + 1


def activation_module(name: str) -> nn.Module:
    """The module for a layer's `activation:` field (e.g. dense with activation: relu)."""
    from brickwork.layers.registry import LAYERS

    kind = LAYERS[name]
    return kind.build(kind.config(), (1,)).module
