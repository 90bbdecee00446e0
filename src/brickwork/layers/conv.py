"""Convolution and pooling layers (1-d and 2-d, channels first), with "same"/"valid" padding."""

from __future__ import annotations

import math
from typing import Annotated, Literal

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
    register,
)

Size = Annotated[
    int, Field(ge=1)
]  # a kernel, stride, pool or dilation size: 0 would divide by zero
Pad = Annotated[int, Field(ge=0)]
IntOrList = Size | list[Size]
PadOrList = Pad | list[Pad]
Padding = PadOrList | Literal["same", "valid"]


def _tuple(value: IntOrList, dims: int, field: str) -> tuple[int, ...]:
    values = [value] * dims if isinstance(value, int) else list(value)
    if len(values) != dims:
        raise ShapeError(f"field '{field}' needs {dims} value(s), got {value}")
    return tuple(values)


def _out_len(size, kernel, stride, pad_total, dilation):
    if size is None:
        return None
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def _same_padding(shape, kernel, stride, dilation):
    """Total padding per spatial dim so that out = ceil(in / stride), as Keras does."""
    totals = []
    for size, k, s, d in zip(shape, kernel, stride, dilation, strict=True):
        if size is None:
            raise ShapeError("'same' padding with stride > 1 needs known spatial sizes")
        out = math.ceil(size / s)
        totals.append(max((out - 1) * s + d * (k - 1) + 1 - size, 0))
    return totals


def _padding(padding: Padding, spatial, kernel, stride, dilation):
    """(padding argument for torch, explicit asymmetric pad or None, total padding per dim)."""
    dims = len(spatial)
    if padding == "valid":
        return 0, None, [0] * dims
    if padding == "same":
        if all(s == 1 for s in stride):  # works for variable lengths too
            totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        else:
            totals = _same_padding(spatial, kernel, stride, dilation)
        if all(t % 2 == 0 for t in totals):
            return tuple(t // 2 for t in totals), None, totals
        pads = []  # F.pad order: last dim first, (left, right)
        for t in reversed(totals):
            pads += [t // 2, t - t // 2]
        return 0, pads, totals
    pad = _tuple(padding, dims, "padding")
    return pad, None, [2 * p for p in pad]


class ConvConfig(LayerConfig):
    filters: int = Field(gt=0)
    kernel_size: IntOrList = 3
    stride: IntOrList = 1
    padding: Padding = 0
    dilation: IntOrList = 1
    groups: int = Field(1, gt=0)
    activation: Nonlinearity | None = None
    use_bias: bool = True
    kernel_initializer: InitField = None
    bias_initializer: InitField = None
    kernel_regularizer: RegField = None
    bias_regularizer: RegField = None


def _conv(cfg: ConvConfig, shape, dims: int):
    what = "a [channels, length] input" if dims == 1 else "a [channels, height, width] input"
    fix = "add `reshape` before it" if len(shape) < dims + 1 else ""
    need_rank(shape, (dims + 1,), what, fix)
    channels, spatial = shape[0], shape[1:]
    kernel = _tuple(cfg.kernel_size, dims, "kernel_size")
    stride = _tuple(cfg.stride, dims, "stride")
    dilation = _tuple(cfg.dilation, dims, "dilation")
    if channels % cfg.groups or cfg.filters % cfg.groups:
        raise ShapeError(
            f"groups={cfg.groups} must divide both the {channels} input channels and the "
            f"{cfg.filters} filters"
        )
    padding, explicit, totals = _padding(cfg.padding, spatial, kernel, stride, dilation)
    out_spatial = tuple(
        _out_len(n, k, s, t, d)
        for n, k, s, t, d in zip(spatial, kernel, stride, totals, dilation, strict=True)
    )
    if any(n is not None and n < 1 for n in out_spatial):
        raise ShapeError(
            f"kernel {list(kernel)} is larger than the padded input {fmt(shape)}; use padding: "
            "same or a smaller kernel"
        )
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    conv = cls(
        channels,
        cfg.filters,
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=cfg.groups,
        bias=cfg.use_bias,
    )
    initialize(conv.weight, cfg.kernel_initializer, "kernel_initializer")
    if cfg.use_bias:
        initialize(conv.bias, cfg.bias_initializer, "bias_initializer")
    attach_regularizers(conv, weight=cfg.kernel_regularizer, bias=cfg.bias_regularizer)
    module = (
        conv
        if explicit is None
        else nn.Sequential(nn.ZeroPad1d(explicit) if dims == 1 else nn.ZeroPad2d(explicit), conv)
    )
    out_shape = (cfg.filters, *out_spatial)
    positions = math.prod(n or 1 for n in out_spatial)
    macs = positions * cfg.filters * (channels // cfg.groups) * math.prod(kernel)
    return Built(module, out_shape, macs)


@register("conv2d", ConvConfig, positional=["filters", "kernel_size"], aliases=["conv"])
def conv2d(cfg: ConvConfig, shape):
    """2-d convolution over [channels, height, width]."""
    return _conv(cfg, shape, 2)


@register("conv1d", ConvConfig, positional=["filters", "kernel_size"])
def conv1d(cfg: ConvConfig, shape):
    """1-d convolution over [channels, length]."""
    return _conv(cfg, shape, 1)


class PoolConfig(LayerConfig):
    pool_size: IntOrList = 2
    stride: IntOrList | None = None
    padding: PadOrList = 0


def _pool(cfg: PoolConfig, shape, dims: int, kind: str):
    need_rank(
        shape,
        (dims + 1,),
        "a [channels, length] input" if dims == 1 else "a [channels, height, width] input",
    )
    kernel = _tuple(cfg.pool_size, dims, "pool_size")
    stride = _tuple(cfg.stride if cfg.stride is not None else cfg.pool_size, dims, "stride")
    pad = _tuple(cfg.padding, dims, "padding")
    if any(2 * p > k for p, k in zip(pad, kernel, strict=True)):
        raise ShapeError(f"padding {list(pad)} must be at most half of pool_size {list(kernel)}")
    out = tuple(
        _out_len(n, k, s, 2 * p, 1)
        for n, k, s, p in zip(shape[1:], kernel, stride, pad, strict=True)
    )
    if any(n is not None and n < 1 for n in out):
        raise ShapeError(
            f"pool_size {list(kernel)} is larger than the input {fmt(shape)}; remove this pooling "
            "layer or pool less"
        )
    cls = {
        ("max", 1): nn.MaxPool1d,
        ("max", 2): nn.MaxPool2d,
        ("avg", 1): nn.AvgPool1d,
        ("avg", 2): nn.AvgPool2d,
    }[kind, dims]
    return Built(cls(kernel, stride=stride, padding=pad), (shape[0], *out))


@register(
    "maxpool2d",
    PoolConfig,
    positional=["pool_size"],
    aliases=["maxpool", "max_pool2d", "maxpooling2d"],
)
def maxpool2d(cfg, shape):
    return _pool(cfg, shape, 2, "max")


@register(
    "avgpool2d",
    PoolConfig,
    positional=["pool_size"],
    aliases=["avgpool", "avg_pool2d", "averagepooling2d"],
)
def avgpool2d(cfg, shape):
    return _pool(cfg, shape, 2, "avg")


@register("maxpool1d", PoolConfig, positional=["pool_size"], aliases=["max_pool1d", "maxpooling1d"])
def maxpool1d(cfg, shape):
    return _pool(cfg, shape, 1, "max")


@register(
    "avgpool1d", PoolConfig, positional=["pool_size"], aliases=["avg_pool1d", "averagepooling1d"]
)
def avgpool1d(cfg, shape):
    return _pool(cfg, shape, 1, "avg")


class GlobalPool(nn.Module):
    """Average (or max) over every axis after the channel axis: [C, ...] -> [C]."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        x = x.flatten(2)
        return x.mean(-1) if self.kind == "avg" else x.amax(-1)

    def extra_repr(self):
        return self.kind


@register(
    "global_avg_pool",
    NoConfig,
    aliases=[
        "globalavgpool",
        "global_average_pooling",
        "globalaveragepooling2d",
        "global_avg_pool2d",
        "global_avg_pool1d",
    ],
)
def global_avg_pool(cfg, shape):
    need_rank(shape, (2, 3), "a [channels, length] or [channels, height, width] input")
    return Built(GlobalPool("avg"), (shape[0],))


@register(
    "global_max_pool",
    NoConfig,
    aliases=["globalmaxpool", "globalmaxpooling2d", "global_max_pool2d", "global_max_pool1d"],
)
def global_max_pool(cfg, shape):
    need_rank(shape, (2, 3), "a [channels, length] or [channels, height, width] input")
    return Built(GlobalPool("max"), (shape[0],))
