"""brickwork: build, train, tune, save, fine-tune and ship neural networks on PyTorch.

A small convolutional classifier, trained for one epoch on random data, saved and loaded:

>>> import tempfile, torch
>>> import brickwork as bw
>>> from brickwork.layers import Conv2D, Dense, Flatten, MaxPool2D
>>> model = bw.Sequential(
...     [Conv2D(8, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(10)],
...     input_shape=[1, 28, 28],
... )
>>> model.output_shape
[10]
>>> x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
>>> history = bw.fit(model, x, y, epochs=1, batch_size=32, verbose=0, task="classification")
>>> path = bw.save_model(model, f"{tempfile.mkdtemp()}/digits.safetensors",
...                      task="classification", class_names=[str(i) for i in range(10)])
>>> card = bw.load(path).card
>>> card.task, card.class_names[:3], card.input_shape
(<Task.classification: 'classification'>, ['0', '1', '2'], [1, 28, 28])

The subpackages (`bw.layers`, `bw.data`, `bw.models`, `bw.train`, ...) and the names in
`dir(bw)` are imported on first use, so `import brickwork` and `brickwork --help` stay quick
and leave matplotlib and torch alone until a name needs them.
"""

from importlib import import_module

from brickwork.version import __version__

_EXPORTS = {
    "Sequential": "brickwork.models",
    "Graph": "brickwork.models",
    "BrickModel": "brickwork.models",
    "build_model": "brickwork.models",
    "summary": "brickwork.models",
    "print_summary": "brickwork.models",
    "ModelCard": "brickwork.models.card",
    "Task": "brickwork.models.card",
    "fit": "brickwork.train",
    "evaluate": "brickwork.train",
    "predict": "brickwork.train",
    "EarlyStopping": "brickwork.train",
    "ModelCheckpoint": "brickwork.train",
    "ReduceLROnPlateau": "brickwork.train",
    "save_model": "brickwork.models.io",
    "load": "brickwork.models.io",
    "load_data": "brickwork.data",
    "export_model": "brickwork.export",
    "BrickworkError": "brickwork.errors",
    "lr_find": "brickwork.train.lr_find",
}
# The subpackages, bottom layer first (docs/architecture.md draws them). `bw.generate` and
# `bw.forecast` are packages (Python puts them under those names once imported), so their
# functions are bw.generate.generate and bw.forecast.forecast.
SUBPACKAGES = (
    "errors",
    "spec",
    "layers",
    "models",
    "data",
    "train",
    "finetune",
    "tune",
    "generate",
    "forecast",
    "export",
    "serve",
)
# `from brickwork import *` leaves out serve: it needs the optional `brickwork[serve]` extra.
__all__ = [*_EXPORTS, *(p for p in SUBPACKAGES if p != "serve"), "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    if name in SUBPACKAGES:
        return import_module(f"brickwork.{name}")
    raise AttributeError(f"module 'brickwork' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*__all__, *SUBPACKAGES})
