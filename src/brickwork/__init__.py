"""brickwork: build, train, tune, save, fine-tune and ship neural networks on PyTorch.

    import brickwork as bw
    model = bw.Sequential([bw.layers.Conv2D(32, 5), ...], input_shape=[1, 28, 28])
    history = bw.fit(model, data.train, validation=data.val, epochs=5)
    bw.save_model(model, "mnist.safetensors"); model = bw.load("mnist.safetensors")

Names are imported on first use, so `brickwork --help` stays quick.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Sequential": "brickwork.models",
    "Graph": "brickwork.models",
    "build_model": "brickwork.models",
    "summary": "brickwork.models",
    "print_summary": "brickwork.models",
    "fit": "brickwork.train",
    "evaluate": "brickwork.train",
    "predict": "brickwork.train",
    "EarlyStopping": "brickwork.train",
    "ModelCheckpoint": "brickwork.train",
    "ReduceLROnPlateau": "brickwork.train",
    "save_model": "brickwork.models.io",
    "load": "brickwork.models.io",
    "load_data": "brickwork.data",
    "generate": "brickwork.generate",
    "forecast": "brickwork.forecast",
    "export_model": "brickwork.export",
    "lr_find": "brickwork.train.lr_find",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'brickwork' has no attribute '{name}'")
