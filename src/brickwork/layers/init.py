"""Weight initializers and L1/L2 regularizers, named as in Keras and PyTorch."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import AfterValidator, ConfigDict, Field
from torch import nn

from brickwork.errors import BrickworkError, did_you_mean
from brickwork.spec.base import SpecModel

INITIALIZERS = {
    "he_normal": lambda t, c: nn.init.kaiming_normal_(t, nonlinearity="relu"),
    "he_uniform": lambda t, c: nn.init.kaiming_uniform_(t, nonlinearity="relu"),
    "kaiming_normal": lambda t, c: nn.init.kaiming_normal_(t, nonlinearity="relu"),
    "kaiming_uniform": lambda t, c: nn.init.kaiming_uniform_(t, nonlinearity="relu"),
    "xavier_normal": lambda t, c: nn.init.xavier_normal_(t, gain=c.gain),
    "xavier_uniform": lambda t, c: nn.init.xavier_uniform_(t, gain=c.gain),
    "glorot_normal": lambda t, c: nn.init.xavier_normal_(t, gain=c.gain),
    "glorot_uniform": lambda t, c: nn.init.xavier_uniform_(t, gain=c.gain),
    "normal": lambda t, c: nn.init.normal_(t, mean=c.mean, std=c.std),
    "uniform": lambda t, c: nn.init.uniform_(t, a=-c.limit, b=c.limit),
    "zeros": lambda t, c: nn.init.zeros_(t),
    "ones": lambda t, c: nn.init.ones_(t),
    "constant": lambda t, c: nn.init.constant_(t, c.value),
    "orthogonal": lambda t, c: nn.init.orthogonal_(t, gain=c.gain),
}
_NEEDS_MATRIX = {
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "xavier_normal",
    "xavier_uniform",
    "glorot_normal",
    "glorot_uniform",
    "orthogonal",
}


class Initializer(SpecModel):
    """`he_normal`, or `{type: normal, std: 0.02}`."""

    model_config = ConfigDict(extra="forbid")
    type: str
    mean: float = 0.0
    std: float = Field(0.05, ge=0)
    limit: float = Field(0.05, ge=0)
    value: float = 0.0
    gain: float = Field(1.0, gt=0)

    @classmethod
    def parse(cls, value: str | dict | Initializer) -> Initializer:
        return (
            value
            if isinstance(value, Initializer)
            else cls(**({"type": value} if isinstance(value, str) else value))
        )


class Regularizer(SpecModel):
    """Penalty `l1 * sum|w| + l2 * sum w^2`, added to the loss by the trainer (Keras convention)."""

    model_config = ConfigDict(extra="forbid")
    l1: float = Field(0.0, ge=0)
    l2: float = Field(0.0, ge=0)


def _known_initializer(value):
    """Check the name when the spec is read, so the error names the layer and field."""
    if value is None:
        return value
    raw = value if isinstance(value, str) else value.type
    name = raw.lower()
    if name not in INITIALIZERS:
        raise ValueError(
            f"unknown initializer '{raw}'{did_you_mean(name, INITIALIZERS)}; choose one of "
            f"{', '.join(INITIALIZERS)}"
        )
    return value


InitField = Annotated[str | Initializer | None, AfterValidator(_known_initializer)]
RegField = Regularizer | None
Nonlinearity = Literal[
    "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax"
]


@torch.no_grad()
def initialize(tensor: torch.Tensor, spec: InitField, field: str = "") -> None:
    """Fill `tensor` in place by the named initializer; None keeps PyTorch's default.

    `field` (e.g. 'bias_initializer') names the spec field in errors; the builder adds the layer.
    """
    if spec is None:
        return
    cfg = Initializer.parse(spec)
    name = cfg.type.lower()
    where = f"field '{field}': " if field else ""
    if name not in INITIALIZERS:
        raise BrickworkError(
            f"{where}unknown initializer '{cfg.type}'{did_you_mean(name, INITIALIZERS)}; choose "
            f"one of {', '.join(INITIALIZERS)}."
        )
    if name in _NEEDS_MATRIX and tensor.dim() < 2:
        raise BrickworkError(
            f"{where}initializer '{name}' needs a weight matrix, not a bias vector; use zeros, "
            "ones, constant, normal or uniform for biases."
        )
    INITIALIZERS[name](tensor, cfg)


def attach_regularizers(module: nn.Module, **by_param: Regularizer | None) -> None:
    """Record which parameters of `module` carry a penalty; `regularization_loss` reads it."""
    chosen = {name: reg for name, reg in by_param.items() if reg is not None and (reg.l1 or reg.l2)}
    if chosen:
        module.regularizers = chosen


def penalty_terms(model: nn.Module) -> list[tuple[torch.Tensor, float, float]]:
    """Every (parameter, l1, l2) triple declared anywhere inside `model`."""
    terms = []
    for module in model.modules():
        for prefix, reg in getattr(module, "regularizers", {}).items():
            for pname, param in module.named_parameters(recurse=False):
                if pname == prefix or pname.startswith(prefix + "_"):
                    terms.append((param, reg.l1, reg.l2))
    return terms


def regularization_loss(terms) -> torch.Tensor | None:
    """Sum of the penalties, or None when there are none (so the trainer can skip the work)."""
    total = None
    for param, l1, l2 in terms:
        term = 0.0
        if l1:
            term = term + l1 * param.abs().sum()
        if l2:
            term = term + l2 * param.pow(2).sum()
        total = term if total is None else total + term
    return total
