"""Checks on what a client sends, each failing with a 4xx and a JSON error that says what was
wrong: body size, JSON arrays (shape, type, finite values, token ids), images, prompts.

Nothing here reads a file named by a request: inputs are only the request body.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
from fastapi.responses import JSONResponse

MAX_ROWS = 1024  # samples in one /predict request
MAX_DEPTH = 32  # levels of nested JSON lists and objects in one request body
FLOAT32_MAX = float(np.finfo(np.float32).max)
LOG = logging.getLogger("uvicorn.error")


class RequestError(Exception):
    """A client error: HTTP `status` and a message for the JSON body {"error": ...}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def limit_body(app, max_bytes: int):
    """ASGI middleware: refuse bodies over `max_bytes` with 413, by Content-Length up front and by
    counting the bytes actually received (chunked uploads), before anything is parsed."""

    async def middleware(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and not declared.isdigit():
            response = error_response(
                400,
                f"the Content-Length header is '{declared.decode(errors='replace')[:40]}', not a "
                "number of bytes; send a well-formed HTTP request.",
            )
            return await response(scope, receive, send)
        if declared is not None and int(declared) > max_bytes:
            response = error_response(
                413,
                f"the request body is {int(declared):,} bytes, more than the "
                f"{max_bytes:,} accepted; send a smaller input (limit: --max-body-mb).",
            )
            return await response(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise RequestError(
                        413,
                        f"the request body is over the {max_bytes:,} bytes accepted; send a "
                        "smaller input (limit: --max-body-mb).",
                    )
            return message

        return await app(scope, counted, send)

    return middleware


async def read_body(request) -> bytes:
    """The whole request body; a client that hangs up before sending it all is one log line
    (and a 400 nobody reads), not a traceback."""
    from starlette.requests import ClientDisconnect

    try:
        return await request.body()
    except ClientDisconnect:
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        LOG.info("%s hung up before sending the whole request body (%s)", client, request.url.path)
        raise RequestError(400, "the client hung up before sending the whole body.") from None


def parse_json(body: bytes) -> object:
    """The JSON document of a request body; NaN and Infinity are refused, and so is nesting
    deeper than MAX_DEPTH (a hostile body must not exhaust the parser's recursion)."""

    def refuse(token):
        raise RequestError(422, f"the JSON contains {token}; send finite numbers only.")

    too_deep = RequestError(
        400,
        f"the JSON is nested more than {MAX_DEPTH} levels deep; send e.g. "
        '{"inputs": [[...]]} with one array level per axis of the input.',
    )
    try:
        doc = json.loads(body, parse_constant=refuse, object_pairs_hook=_no_repeats)
    except RequestError:
        raise
    except RecursionError:
        raise too_deep from None
    except (ValueError, UnicodeDecodeError) as e:
        raise RequestError(
            400,
            f"the request body is not valid JSON ({str(e)[:120]}); send e.g. "
            '{"inputs": [[...]]}.',
        ) from None
    if _depth(doc) > MAX_DEPTH:
        raise too_deep
    return doc


def _no_repeats(pairs: list) -> dict:
    """A JSON object whose keys are all different: with a key twice, which value was meant?"""
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise RequestError(
            400, f"the JSON object gives '{str(twice)[:40]}' more than once; send each field once."
        )
    return doc


def _depth(doc: object) -> int:
    """How deeply lists and objects nest in `doc` (walked without recursion; stops past
    MAX_DEPTH)."""
    if not isinstance(doc, dict | list):
        return 0
    deepest, todo = 0, [(doc, 1)]
    while todo:
        value, level = todo.pop()
        children = value.values() if isinstance(value, dict) else value
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        todo.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return deepest


def _holds_bool(value: list) -> bool:
    """True when a nested list of numbers holds true/false anywhere (numpy would read them
    as 1 and 0)."""
    todo = [value]
    while todo:
        items = todo.pop()
        for item in items:
            if item is True or item is False:
                return True
            if isinstance(item, list):
                todo.append(item)
    return False


def to_array(value: object, input_shape: list, tokens: bool, vocab_size: int | None) -> np.ndarray:
    """A batch [N, *input_shape] from nested JSON lists of numbers: one sample or a batch.

    `None` in `input_shape` (a variable-length axis) accepts any length from 1. Token models
    take integer ids in [0, vocab_size).
    """
    shape_text = f"[{', '.join('any' if d is None else str(d) for d in input_shape)}]"
    if not isinstance(value, list):
        raise RequestError(
            422,
            f"'inputs' must be a JSON array of numbers of shape {shape_text} (one sample) or [N, "
            f"...] (a batch), got {type(value).__name__}.",
        )
    if _holds_bool(value):
        raise RequestError(
            422, "'inputs' must hold numbers only, found true/false; send 1 or 0 as numbers."
        )
    try:
        array = np.asarray(value)
    except ValueError:
        raise RequestError(
            422,
            "'inputs' is a ragged array (rows of different lengths); every sample must have "
            f"shape {shape_text}.",
        ) from None
    if array.dtype.kind not in "iuf" or array.dtype == bool:
        found = {"b": "true/false", "U": "strings", "O": "null, huge integers or mixed values"}.get(
            array.dtype.kind, str(array.dtype)
        )
        raise RequestError(422, f"'inputs' must hold numbers only, found {found}.")
    sent = list(array.shape)
    if array.ndim == len(input_shape):
        array = array[None]
    if (
        array.ndim != len(input_shape) + 1
        or any(d is not None and a != d for a, d in zip(array.shape[1:], input_shape, strict=True))
        or 0 in array.shape[1:]
    ):
        raise RequestError(
            422,
            f"'inputs' has shape {sent} but the model takes samples of shape {shape_text}: "
            f"send one sample {shape_text} or a batch [N, {shape_text[1:]}.",
        )
    if len(array) == 0 or len(array) > MAX_ROWS:
        raise RequestError(
            422, f"'inputs' holds {len(array)} samples; send 1 to {MAX_ROWS} per request."
        )
    if tokens:
        if array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
            raise RequestError(422, "'inputs' holds token ids, which must be whole numbers.")
        if vocab_size is not None and (array.min() < 0 or array.max() >= vocab_size):
            raise RequestError(
                422,
                f"token ids must be 0 to {vocab_size - 1}; found {int(array.min())} to "
                f"{int(array.max())}.",
            )
        return array.astype(np.int64)
    if not np.all(np.isfinite(array)) or np.abs(array).max() > FLOAT32_MAX:
        raise RequestError(
            422,
            f"'inputs' holds a value beyond the model's 32-bit float range (+-{FLOAT32_MAX:.3g}); "
            "send smaller finite numbers.",
        )
    return array.astype(np.float32)


def number(
    body: dict,
    key: str,
    default,
    low: float,
    high: float,
    integer: bool = False,
    allow_null: bool = False,
):
    """`body[key]` checked to be a number in [low, high] (an int when `integer`)."""
    value = body.get(key, default)
    if value is None and allow_null:
        return None
    kinds = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise RequestError(
            422,
            f"'{key}' must be {'a whole number' if integer else 'a number'}, got {excerpt(value)}.",
        )
    if not low <= value <= high:
        raise RequestError(422, f"'{key}' must be between {low} and {high}, got {excerpt(value)}.")
    return value


def excerpt(value: object) -> str:
    """A short JSON excerpt of a client's value (it may be huge or deeply nested)."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:40] + "..."


def check_object(body: object, allowed: set[str], example: str) -> dict:
    """A JSON object whose keys are all in `allowed` (typos are errors, not silently ignored)."""
    if not isinstance(body, dict):
        raise RequestError(
            422,
            f"the request body must be a JSON object such as {example}, got {type(body).__name__}.",
        )
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise RequestError(
            422,
            f"unknown field(s) {', '.join(map(repr, unknown))}; accepted: "
            f"{', '.join(sorted(allowed))}.",
        )
    return body


def check_prompt(prompt: object, vocab, max_chars: int) -> str:
    """A non-empty prompt string within `max_chars` whose tokens the vocabulary has."""
    if not isinstance(prompt, str):
        raise RequestError(422, f"'prompt' must be a string, got {type(prompt).__name__}.")
    if not prompt:
        raise RequestError(422, "'prompt' is empty; give at least one character or word.")
    if len(prompt) > max_chars:
        raise RequestError(
            422,
            f"'prompt' has {len(prompt):,} characters, more than the {max_chars:,} accepted "
            "(--max-prompt).",
        )
    from brickwork.data.text import tokenize

    unknown = sorted(
        {t for t in tokenize(prompt, vocab.tokenizer, vocab.lowercase) if t not in vocab.index}
    )
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10])
        raise RequestError(
            422,
            f"'prompt' contains {len(unknown)} token(s) the model's vocabulary does not have: "
            f"{shown}; use only tokens from the training text.",
        )
    return prompt
