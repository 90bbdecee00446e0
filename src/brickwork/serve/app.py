"""The HTTP service: `create_app(model)` gives a FastAPI app, `run(path)` serves it with uvicorn.

    GET  /          the web page (draw a digit, stream text, see a forecast)
    GET  /health    {"status": "ok"}
    GET  /info      the model: kind, input shape, classes, metrics, layers, limits
    POST /predict   JSON {"inputs": [...], "top_k": 3}, or an image (multipart field `file`,
                    or the raw bytes with Content-Type image/*) for image models
    POST /generate  language models: JSON {"prompt", "length", "temperature", "top_k",
                    "top_p", "seed"}; the text streams back as it is sampled
    POST /forecast  forecasters (brickwork.forecast): JSON {"history": [...], "steps": N}

Every error is a JSON {"error": "..."} with a 4xx status (5xx only for a bug). Inference runs
off the event loop: /predict requests are micro-batched (brickwork.serve.batching) and
generation steps run in the thread pool, so one slow request never stalls the others.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from brickwork.errors import BrickworkError
from brickwork.models.card import ModelCard, card_of
from brickwork.serve.batching import batch_worker, submit
from brickwork.serve.validation import (
    RequestError,
    error_response,
    limit_body,
)


@dataclass
class ServeConfig:
    """Limits of the service; `brickwork serve` flags set them."""

    max_body_bytes: int = 5 * 1024 * 1024
    max_batch: int = 32
    max_prompt_chars: int = 2000
    max_generate_length: int = 2000
    threads: int | None = None


def model_kind(model: torch.nn.Module, card: ModelCard) -> str:
    """What the page shows: image_classifier, language_model, forecaster, classifier or
    regression.
    """
    from brickwork.data.inputs import is_image_model
    from brickwork.data.named import dataset_kind

    task = card.task
    if task == "language_model" and card.vocab:
        return "language_model"
    if task == "regression":
        dataset = (card.data or {}).get("dataset")
        return "forecaster" if dataset_kind(dataset) == "timeseries" else "regression"
    return "image_classifier" if is_image_model(model.input_shape) else "classifier"


def describe(model: torch.nn.Module, card: ModelCard, kind: str, config: ServeConfig) -> dict:
    """The /info document: enough for the page and for a client to build valid requests."""
    from brickwork.data.inputs import pixel_range
    from brickwork.models import summary

    s = summary(model)
    vocab = card.vocab or {}
    endpoints = ["GET /", "GET /health", "GET /info", "POST /predict"]
    endpoints += {"language_model": ["POST /generate"], "forecaster": ["POST /forecast"]}.get(
        kind, []
    )
    return {
        "name": card.name or s["name"],
        "kind": kind,
        "task": card.task,
        "input_shape": list(model.input_shape),
        "input_dtype": str(model.input_dtype).replace("torch.", ""),
        "classes": card.class_names,
        "vocab_size": len(vocab["tokens"]) if vocab else None,
        "pixel_range": pixel_range(card.preprocessing) if kind == "image_classifier" else None,
        "metrics": {"train": card.train_metrics, "test": card.test_metrics},
        "parameters": s["total_params"],
        "macs": s["total_macs"],
        "layers": [
            {k: layer[k] for k in ("name", "type", "output_shape", "params")}
            for layer in s["layers"]
        ],
        "forecast": {k: (card.data or {}).get(k) for k in ("lookback", "horizon", "target_columns")}
        if kind == "forecaster"
        else None,
        "preprocessing": card.preprocessing,
        "dataset": (card.data or {}).get("dataset"),
        "prompt": image_prompt(card) if kind == "image_classifier" else None,
        "limits": asdict(config),
        "endpoints": endpoints,
        "versions": card.versions,
    }


DIGIT_DATASETS = ("digits", "mnist")


def image_prompt(card) -> dict:
    """The image panel's heading and hint, worded for what the model classifies: digits are
    drawn; other images (clothing, photos) are uploaded, or sketched, as one of its classes."""
    dataset = (card.data or {}).get("dataset")
    classes = [str(c) for c in card.class_names or []]
    if dataset in DIGIT_DATASETS or (classes and all(c.isdigit() for c in classes)):
        return {
            "title": "Draw a digit, or upload an image",
            "hint": "Draw with the mouse (white on black, like MNIST), then press Predict.",
        }
    shown = ", ".join(classes[:6]) + (", ..." if len(classes) > 6 else "")
    return {
        "title": "Upload an image, or sketch one",
        "hint": f"Upload an image of one of: {shown or 'the classes the model knows'}, "
        "or sketch one with the mouse (white on black), then press Predict.",
    }


def _check_servable(model: torch.nn.Module) -> None:
    if (
        len(getattr(model, "input_shapes", {"input": None})) != 1
        or len(getattr(model, "outputs", [None])) != 1
    ):
        raise BrickworkError(
            "brickwork serve handles models with one input and one output; this model has "
            f"inputs {list(model.input_shapes)} and outputs {list(model.outputs)}. Serve it from "
            "your own code."
        )


def create_app(model: torch.nn.Module | str | Path, config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI app serving `model` (a loaded model, a model file or a run directory)."""
    from brickwork.train.optim import output_activation

    config = config or ServeConfig()
    if not isinstance(model, torch.nn.Module):
        from brickwork.models.io import load
        from brickwork.train.runner import model_path

        model = load(model_path(model))
    _check_servable(model)
    model.eval()
    card = card_of(model)
    kind = model_kind(model, card)
    info = describe(model, card, kind, config)
    activation = output_activation(model)
    page = (
        resources.files("brickwork.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    )

    @torch.inference_mode()
    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.queue = asyncio.Queue()
        worker = asyncio.create_task(batch_worker(app.state.queue, forward, config.max_batch))
        yield
        worker.cancel()

    app = FastAPI(
        title=f"brickwork: {info['name']}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(limit_body, max_bytes=config.max_body_bytes)
    _error_handlers(app)

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return HTMLResponse(page)

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": info["name"]}

    @app.get("/info")
    async def get_info():
        return info

    from brickwork.serve.routes import add_model_routes

    add_model_routes(app, model, card, kind, activation, config, submit)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request: Request, e: RequestError):
        return error_response(e.status, e.message)

    @app.exception_handler(BrickworkError)
    async def brickwork_error(request: Request, e: BrickworkError):
        return error_response(422, str(e))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        message = {
            404: f"no such endpoint: {request.method} {request.url.path}; see GET /info for the "
            "endpoints.",
            405: f"{request.url.path} does not accept {request.method}; see GET /info for the "
            "endpoints.",
        }.get(e.status_code, str(e.detail))
        return error_response(e.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        return error_response(
            422, "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception):
        return error_response(
            500, f"internal error ({type(e).__name__}); the server log has the details."
        )


def run(
    model: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    config: ServeConfig | None = None,
    log_level: str = "info",
) -> None:
    """Load the model and serve it until interrupted (loopback only unless `host` says
    otherwise).
    """
    import uvicorn

    config = config or ServeConfig()
    torch.set_num_threads(config.threads or max(1, min(4, os.cpu_count() or 1)))
    app = create_app(model, config)
    print(
        f"serving {app.title.split(': ', 1)[1]} on http://{host}:{port}/ (Ctrl-C to stop)",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_keep_alive=5)
