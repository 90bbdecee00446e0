"""Layers with shape inference, and Keras-style constructors for the Python API.

`Dense(64, activation="relu")` returns the same layer entry a spec file would hold
(`{"type": "dense", "units": 64, "activation": "relu"}`): specs and Python are two doors to
one builder (`brickwork.models.build_model`).
"""

from __future__ import annotations

from brickwork.layers import conv, core, merge, recurrent  # noqa: F401  (registers the layers)
from brickwork.layers.registry import LAYERS, canonical


def layer(type: str, *args, **fields) -> dict:
    """A layer entry: positional arguments fill the layer's main fields (e.g. units)."""
    kind = LAYERS.get(canonical(type) or type)
    names = kind.positional if kind else ()
    if len(args) > len(names):
        raise TypeError(
            f"{type}() takes at most {len(names)} positional argument(s) ({', '.join(names)}), "
            f"got {len(args)}"
        )
    return {"type": type, **dict(zip(names, args, strict=False)), **fields}


def _factory(type: str):
    def make(*args, **fields):
        return layer(type, *args, **fields)

    make.__name__ = make.__qualname__ = type
    make.__doc__ = f"A `{type}` layer entry; see `brickwork layers {type}` for its fields."
    return make


Dense = _factory("dense")
Conv1D = _factory("conv1d")
Conv2D = _factory("conv2d")
MaxPool1D = _factory("maxpool1d")
MaxPool2D = _factory("maxpool2d")
AvgPool1D = _factory("avgpool1d")
AvgPool2D = _factory("avgpool2d")
GlobalAvgPool = _factory("global_avg_pool")
GlobalMaxPool = _factory("global_max_pool")
BatchNorm = _factory("batchnorm")
BatchNorm1D = _factory("batchnorm1d")
BatchNorm2D = _factory("batchnorm2d")
LayerNorm = _factory("layernorm")
Dropout = _factory("dropout")
Dropout2D = _factory("dropout2d")
Flatten = _factory("flatten")
Reshape = _factory("reshape")
Embedding = _factory("embedding")
SimpleRNN = _factory("rnn")
LSTM = _factory("lstm")
GRU = _factory("gru")
ReLU = _factory("relu")
LeakyReLU = _factory("leaky_relu")
ELU = _factory("elu")
GELU = _factory("gelu")
Sigmoid = _factory("sigmoid")
Tanh = _factory("tanh")
Softmax = _factory("softmax")
LogSoftmax = _factory("log_softmax")
Add = _factory("add")
Multiply = _factory("multiply")
Concat = _factory("concat")
Residual = _factory("residual")
