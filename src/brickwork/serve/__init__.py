"""Serve a trained model over HTTP: JSON and image predictions, streamed text generation,
forecasts, and a web page at `/` (see docs/serve.md).

    brickwork serve runs/digits_cnn            # http://127.0.0.1:8000/
"""

from brickwork.serve.app import ServeConfig, create_app, run

__all__ = ["ServeConfig", "create_app", "run"]
