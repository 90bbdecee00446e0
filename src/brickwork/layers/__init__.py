"""Layers with shape inference, and Keras-style constructors for the Python API.

`Dense(64, activation="relu")` returns the same layer entry a spec file would hold
(`{"type": "dense", "units": 64, "activation": "relu"}`): specs and Python are two doors to
one builder (`brickwork.models.build_model`). Each constructor's signature and help text
come from its layer's pydantic config, so `help(Dense)` and `inspect.signature(Dense)` show
`units, activation=None, ...` and the fields can never drift from what the builder accepts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from pydantic import ValidationError

from brickwork.errors import BrickworkError, did_you_mean, pydantic_message
from brickwork.layers import (  # noqa: F401  (registers the layers)
    attention,
    conv,
    core,
    merge,
    positions,
    recurrent,
)
from brickwork.layers.merge import ResidualConfig
from brickwork.layers.registry import LAYERS, LayerConfig, canonical, field_text

# Fields every entry may carry besides its layer's own (see brickwork.models.build).
_NODE_PARAMS = (
    inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | None),
    inspect.Parameter(
        "inputs", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | list[str] | None
    ),
    inspect.Parameter("trainable", inspect.Parameter.KEYWORD_ONLY, default=True, annotation=bool),
)
_NODE_DOC = (
    "    name: str, optional -- the node's name (default: type_N)\n"
    "    inputs: str | list[str], optional -- earlier nodes it reads (graph models only)\n"
    "    trainable: bool = True -- false freezes the layer's weights"
)


def layer(type: str, *args, **fields) -> dict:
    """A layer entry of any registered type: positional arguments fill its main fields
    (e.g. `layer("dense", 64)`); the builder checks the fields."""
    kind = LAYERS.get(canonical(type) or type)
    names = kind.positional if kind else ()
    if len(args) > len(names):
        raise TypeError(
            f"{type}() takes at most {len(names)} positional argument(s) ({', '.join(names)}), "
            f"got {len(args)}"
        )
    return {"type": type, **dict(zip(names, args, strict=False)), **fields}


def _signature(config: type[LayerConfig], positional: tuple[str, ...]) -> inspect.Signature:
    """Positional-or-keyword parameters for the main fields, keyword-only for the rest."""
    params = []
    for name, field in config.model_fields.items():
        kind = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD
            if name in positional
            else inspect.Parameter.KEYWORD_ONLY
        )
        default = inspect.Parameter.empty if field.is_required() else field.get_default()
        params.append(
            inspect.Parameter(name, kind, default=default, annotation=_shown(field.annotation))
        )
    params.sort(key=lambda p: (p.kind, positional.index(p.name) if p.name in positional else 0))
    return inspect.Signature([*params, *_NODE_PARAMS], return_annotation=dict)


def _shown(tp):
    """A field's type without pydantic's constraint wrappers, for a readable signature
    (the bounds are in the docstring)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return _shown(args[0])
    if origin in (Union, UnionType):
        return Union[tuple(_shown(a) for a in args)]  # noqa: UP007 - built from a tuple
    if origin in (list, tuple, dict):
        return origin[tuple(_shown(a) for a in args)]
    return tp


def _doc(type: str, summary: str, config: type[LayerConfig]) -> str:
    lines = [
        f"Layer entry of type `{type}` for Sequential/Graph. {summary}".rstrip(),
        "",
        "Fields:",
    ]
    for name, field in config.model_fields.items():
        default = "required" if field.is_required() else f"default {field.get_default()!r}"
        about = f" -- {field.description}" if field.description else ""
        lines.append(f"    {name}: {field_text(field)} ({default}){about}")
    return "\n".join([*lines, _NODE_DOC, "", f"`brickwork layers {type}` shows the same table."])


def _factory(
    pyname: str,
    type: str,
    config: type[LayerConfig] | None = None,
    positional: tuple[str, ...] | None = None,
) -> Callable[..., dict]:
    """The constructor `pyname(...)` for layer type `type` (config and positional fields
    from the registry unless given: the residual block registers with the model builder)."""
    kind = LAYERS.get(type)
    config = config or kind.config
    positional = positional if positional is not None else kind.positional
    signature = _signature(config, positional)
    summary = (kind.build.__doc__ or "").strip().split("\n")[0] if kind else ""

    def make(*args, **fields) -> dict:
        try:
            bound = signature.bind(*args, **fields)
        except TypeError as e:
            unknown = [k for k in fields if k not in signature.parameters]
            hint = (
                f"unknown field '{unknown[0]}'{did_you_mean(unknown[0], signature.parameters)}"
                if unknown
                else str(e)
            )
            raise BrickworkError(
                f"{pyname}(): {hint}; its fields are {', '.join(signature.parameters)} (see "
                f"help({pyname}))."
            ) from None
        own = {k: v for k, v in bound.arguments.items() if k in config.model_fields}
        try:
            config(**own)
        except ValidationError as e:
            raise BrickworkError(
                pydantic_message(e, f"{pyname}()", config.model_fields) + "."
            ) from None
        return {"type": type, **bound.arguments}

    make.__name__ = make.__qualname__ = pyname
    make.layer_type = type
    make.__signature__ = signature
    make.__doc__ = _doc(type, summary, config)
    return make


Dense = _factory("Dense", "dense")
Conv1D = _factory("Conv1D", "conv1d")
Conv2D = _factory("Conv2D", "conv2d")
MaxPool1D = _factory("MaxPool1D", "maxpool1d")
MaxPool2D = _factory("MaxPool2D", "maxpool2d")
AvgPool1D = _factory("AvgPool1D", "avgpool1d")
AvgPool2D = _factory("AvgPool2D", "avgpool2d")
GlobalAvgPool = _factory("GlobalAvgPool", "global_avg_pool")
GlobalMaxPool = _factory("GlobalMaxPool", "global_max_pool")
BatchNorm = _factory("BatchNorm", "batchnorm")
BatchNorm1D = _factory("BatchNorm1D", "batchnorm1d")
BatchNorm2D = _factory("BatchNorm2D", "batchnorm2d")
LayerNorm = _factory("LayerNorm", "layernorm")
RMSNorm = _factory("RMSNorm", "rmsnorm")
Dropout = _factory("Dropout", "dropout")
Dropout2D = _factory("Dropout2D", "dropout2d")
Flatten = _factory("Flatten", "flatten")
Reshape = _factory("Reshape", "reshape")
Embedding = _factory("Embedding", "embedding")
SimpleRNN = _factory("SimpleRNN", "rnn")
LSTM = _factory("LSTM", "lstm")
GRU = _factory("GRU", "gru")
MultiHeadAttention = _factory("MultiHeadAttention", "multi_head_attention")
TransformerBlock = _factory("TransformerBlock", "transformer_block")
PositionalEmbedding = _factory("PositionalEmbedding", "positional_embedding")
ReLU = _factory("ReLU", "relu")
LeakyReLU = _factory("LeakyReLU", "leaky_relu")
ELU = _factory("ELU", "elu")
GELU = _factory("GELU", "gelu")
Sigmoid = _factory("Sigmoid", "sigmoid")
Tanh = _factory("Tanh", "tanh")
Softmax = _factory("Softmax", "softmax")
LogSoftmax = _factory("LogSoftmax", "log_softmax")
Add = _factory("Add", "add")
Multiply = _factory("Multiply", "multiply")
Concat = _factory("Concat", "concat")
Residual = _factory("Residual", "residual", ResidualConfig, ("layers",))

__all__ = [
    "LAYERS",
    "canonical",
    "layer",
    *(name for name, value in list(globals().items()) if hasattr(value, "layer_type")),
]
