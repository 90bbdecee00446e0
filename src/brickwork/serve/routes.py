"""The model endpoints: POST /predict, /generate (language models) and /forecast (forecasters)."""

from __future__ import annotations

from itertools import chain

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from brickwork.errors import BrickworkError
from brickwork.models.card import ModelCard
from brickwork.serve.validation import (
    RequestError,
    check_object,
    check_prompt,
    excerpt,
    number,
    parse_json,
    read_body,
    to_array,
)

PREDICT_EXAMPLE = '{"inputs": [[...]], "top_k": 3}'
GENERATE_EXAMPLE = '{"prompt": "ROMEO:", "length": 200, "temperature": 0.8, "top_k": 20}'

IMAGE_HINT = ", or an image (multipart field file, or image/png bytes)"


def add_model_routes(
    app: FastAPI,
    model: torch.nn.Module,
    card: ModelCard,
    kind: str,
    activation: str | None,
    config,
    submit,
) -> None:
    """Register /predict, /generate and /forecast for `model` on `app`."""
    from brickwork.data import apply_preprocessing
    from brickwork.data.text import Vocab
    from brickwork.train.interpret import interpret

    preprocessing = card.preprocessing or {}
    input_shape = list(model.input_shape)
    tokens = model.input_dtype == torch.long
    vocab = Vocab.from_json(card.vocab) if card.vocab else None
    vocab_size = len(vocab) if vocab is not None else _embedding_size(model) if tokens else None
    # a language model's next-token distribution is labelled by the vocabulary
    labels = card.updated(class_names=vocab.tokens) if kind == "language_model" else card

    def prepare(raw: np.ndarray) -> torch.Tensor:
        try:
            return apply_preprocessing(preprocessing, torch.from_numpy(raw))
        except BrickworkError as e:
            raise RequestError(422, str(e)) from None

    @app.post("/predict")
    async def predict(request: Request):
        body = await read_body(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            doc = check_object(parse_json(body), {"inputs", "top_k"}, PREDICT_EXAMPLE)
            if "inputs" not in doc:
                raise RequestError(422, f"the JSON has no 'inputs'; send {PREDICT_EXAMPLE}.")
            top_k = number(doc, "top_k", 3, 1, 1000, integer=True)
            raw = await run_in_threadpool(to_array, doc["inputs"], input_shape, tokens, vocab_size)
        elif content_type == "multipart/form-data" or content_type.startswith("image/"):
            data, top_k = await _image_upload(request, content_type, body, kind)
            raw = await run_in_threadpool(_decode_image, data, input_shape, preprocessing)
        else:
            raise RequestError(
                415,
                f"Content-Type '{content_type or 'none'}' is not accepted; send application/json "
                f"{PREDICT_EXAMPLE}{IMAGE_HINT if kind == 'image_classifier' else ''}.",
            )
        x = await run_in_threadpool(prepare, raw)
        out = await submit(request.app.state.queue, x)
        if kind == "language_model":
            out = out[:, -1]  # the next token after the last position
        return {"model": card.name, "predictions": interpret(out, labels, activation, top_k)}

    @app.post("/generate")
    async def generate_text(request: Request):
        if kind != "language_model":
            raise RequestError(
                404,
                f"/generate is for language models; this model's kind is {kind}; use POST "
                "/predict.",
            )
        doc = check_object(
            parse_json(await read_body(request)),
            {"prompt", "length", "temperature", "top_k", "top_p", "seed"},
            GENERATE_EXAMPLE,
        )
        prompt = check_prompt(doc.get("prompt"), vocab, config.max_prompt_chars)
        options = {
            "length": number(
                doc,
                "length",
                min(200, config.max_generate_length),
                1,
                config.max_generate_length,
                integer=True,
            ),
            "temperature": number(doc, "temperature", 1.0, 0, 10),
            "top_k": number(doc, "top_k", None, 1, len(vocab), integer=True, allow_null=True),
            "top_p": number(doc, "top_p", None, 1e-6, 1, allow_null=True),
            "seed": number(doc, "seed", None, 0, 2**63 - 1, integer=True, allow_null=True),
        }
        from brickwork.generate import generate

        pieces = generate(model, vocab, prompt, **options)
        # the prompt's forward pass and first token: errors here are still a 4xx, not a cut stream
        try:
            first = await run_in_threadpool(next, pieces, "")
        except BrickworkError as e:
            raise RequestError(422, str(e)) from None
        return StreamingResponse(
            chain([first], pieces),
            media_type="text/plain; charset=utf-8",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    @app.post("/forecast")
    async def forecast(request: Request):
        if kind != "forecaster":
            raise RequestError(
                404,
                f"/forecast is for time-series forecasters; this model's kind is {kind}; use POST "
                "/predict.",
            )
        doc = check_object(
            parse_json(await read_body(request)),
            {"history", "steps"},
            '{"history": [...], "steps": 12}',
        )
        return await run_in_threadpool(_forecast, model, doc)


async def _image_upload(
    request: Request, content_type: str, body: bytes, kind: str
) -> tuple[bytes, int]:
    """The image bytes and top_k of an upload: multipart field `file` (and `top_k`), or raw
    bytes.
    """
    if kind != "image_classifier":
        raise RequestError(
            415,
            f"this model's kind is {kind}, not image_classifier; send application/json "
            f"{PREDICT_EXAMPLE}.",
        )
    if content_type.startswith("image/"):
        return body, _int_param(request.query_params.get("top_k", "3"))
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception as e:  # noqa: BLE001 - the multipart parser raises several types
        raise RequestError(
            400,
            f"the multipart body could not be parsed ({e}); send the image as form field 'file'.",
        ) from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise RequestError(
            422, "the form has no file field 'file'; send the image as -F file=@digit.png."
        )
    top_k = _int_param(form["top_k"]) if isinstance(form.get("top_k"), str) else 3
    return await upload.read(), top_k


def _int_param(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        raise RequestError(422, f"'top_k' must be a whole number from 1 to 1000, got {value!r}.")
    return int(value)


def _decode_image(data: bytes, input_shape: list, preprocessing: dict) -> np.ndarray:
    from brickwork.data.inputs import read_image

    if not data:
        raise RequestError(422, "the uploaded image is empty (0 bytes).")
    try:
        return read_image(data, input_shape, preprocessing, name="the uploaded file")[None]
    except BrickworkError as e:
        raise RequestError(422, str(e)) from None


def _embedding_size(model: torch.nn.Module) -> int | None:
    return next(
        (m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding)), None
    )


def _forecast(model: torch.nn.Module, doc: dict) -> dict:
    """brickwork.forecast.forecast of `doc['history']` (raw values [T] or [T, columns]; default:
    the model's training series) for `doc['steps']` steps."""
    from brickwork.forecast import forecast

    steps = number(doc, "steps", 12, 1, 1000, integer=True)
    history = doc.get("history")
    if history is not None:
        if not isinstance(history, list) or not history:
            raise RequestError(
                422,
                "'history' must be a non-empty JSON array of numbers [T] or rows [T, columns], "
                f"got {excerpt(history)}.",
            )
        shape = [len(history)] + ([len(history[0])] if isinstance(history[0], list) else [])
        history = to_array(history, shape, False, None)[0]
    try:
        return forecast(
            model, steps, history=None if history is None else history.astype(np.float64)
        )
    except BrickworkError as e:
        raise RequestError(422, str(e)) from None
