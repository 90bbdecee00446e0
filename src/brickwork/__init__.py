"""brickwork: build, train, tune, save, fine-tune and ship neural networks on PyTorch."""

__version__ = "0.1.0"
