"""The model file: one `.safetensors` file, weights plus JSON metadata, no pickle.

The safetensors header's metadata holds, under the key `brickwork`, a JSON document with
the model spec, preprocessing, class names, vocabulary, metrics and versions, so
`load(path)` rebuilds a working model with `build_model(meta["model_spec"])` and nothing
else: no code named in the file is imported unless the caller trusts it (`trust_code`,
brickwork.trust). Every write goes through brickwork.files (temp file in the same folder,
fsync, os.replace), so a crash never leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.files import atomic_write, fsync_dir  # noqa: F401 - the writer's old home
from brickwork.models.card import ModelCard, file_card
from brickwork.models.card import versions as versions  # re-exported: run directories record it
from brickwork.trust import TrustCode, loading

META_KEY = "brickwork"
MODEL_FORMAT = "brickwork.model/1"
CHECKPOINT_FORMAT = "brickwork.checkpoint/1"


def write_safetensors(
    path: str | Path, tensors: dict[str, torch.Tensor], meta: dict, fmt: str
) -> Path:
    """Tensors (copied to CPU, untied) plus `meta` as JSON in the header, written atomically."""
    plain = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    header = {"format": fmt, META_KEY: json.dumps(meta)}
    return atomic_write(path, safetensors.torch.save(plain, metadata=header))


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict, str]:
    """(tensors, meta, format) of a file written by `write_safetensors`.

    The header is checked before the rest is read: its declared size must fit the file (and
    safetensors' 100 MB limit), and the metadata must be a JSON object nested at most
    MAX_META_DEPTH levels, so a truncated, oversized or hostile file is an error naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise BrickworkError(
            f"model file '{path}' does not exist; pass a .safetensors file written by brickwork "
            "(e.g. runs/NAME/model.safetensors)."
        )
    header = _read_header(path)
    try:
        tensors = safetensors.torch.load(path.read_bytes())
    except Exception as e:  # noqa: BLE001 - any parse failure means "not a safetensors file"
        raise _unreadable(path, f"{type(e).__name__}: {str(e)[:200]}") from None
    if META_KEY not in header:
        raise BrickworkError(
            f"'{path}' is a safetensors file without brickwork metadata; load its tensors with "
            "safetensors.torch.load_file and a model of your own."
        )
    return tensors, _read_meta(path, header[META_KEY]), header.get("format", MODEL_FORMAT)


MAX_HEADER_BYTES = 100 * 2**20  # safetensors refuses larger headers too
MAX_META_DEPTH = 64


def _read_header(path: Path) -> dict:
    """The `__metadata__` mapping of a safetensors file, reading only its header."""
    on_disk = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise _unreadable(path, f"it has {len(head)} bytes, fewer than the 8-byte header size")
        (size,) = struct.unpack("<Q", head)
        if size > min(MAX_HEADER_BYTES, on_disk - 8):
            raise _unreadable(
                path,
                f"its header claims {size:,} bytes but the file holds {on_disk - 8:,} after the "
                f"size field (and headers are at most {MAX_HEADER_BYTES:,}); it is truncated or "
                "not a safetensors file",
            )
        raw = f.read(size)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise _unreadable(path, f"its header is not valid JSON ({str(e)[:120]})") from None
    section = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(header, dict) or not isinstance(section or {}, dict):
        raise _unreadable(path, "its header is not a JSON object of tensors and metadata")
    return section or {}


def _read_meta(path: Path, text: object) -> dict:
    """The brickwork metadata document: a JSON object, not too deeply nested."""
    problem = None
    try:
        meta = json.loads(text) if isinstance(text, str) else None
    except RecursionError:
        meta, problem = None, f"nests more than {MAX_META_DEPTH} levels deep"
    except ValueError as e:
        meta, problem = None, f"is not valid JSON ({str(e)[:120]})"
    if problem is None and not isinstance(meta, dict):
        problem = f"is {type(meta).__name__ if meta is not None else 'not text'}, not a JSON object"
    if problem is None and _depth(meta) > MAX_META_DEPTH:
        problem = f"nests more than {MAX_META_DEPTH} levels deep"
    if problem is not None:
        raise BrickworkError(
            f"'{path}': its brickwork metadata {problem}; the file is damaged or was not written "
            "by brickwork, so re-save the model (brickwork.save_model or `brickwork train`)."
        )
    return meta


def _depth(doc: object) -> int:
    """How deeply lists and objects nest in `doc`, walked without recursion."""
    deepest, todo = 0, [(doc, 1)] if isinstance(doc, dict | list) else []
    while todo and deepest <= MAX_META_DEPTH:
        value, level = todo.pop()
        deepest = max(deepest, level)
        items = value.values() if isinstance(value, dict) else value
        todo.extend((v, level + 1) for v in items if isinstance(v, dict | list))
    return deepest


def _unreadable(path: Path, why: str) -> BrickworkError:
    return BrickworkError(
        f"'{path}' is not a readable .safetensors file: {why}; was it written by brickwork (a "
        "model file or checkpoint), and copied whole?"
    )


def model_meta(model: nn.Module) -> dict:
    """What a model file records about `model`: its card (`model.card`) with the spec, shapes
    and versions, as the JSON document of the header."""
    return file_card(model).to_header()


def save_model(model: nn.Module, path: str | Path, **meta) -> Path:
    """Save weights and the model card (spec, preprocessing, class_names, vocab, metrics, ...).

    Keyword arguments set card fields (`class_names=...`); other names are kept in
    `card.extra`. Example:
        save_model(model, "digits.safetensors", class_names=[str(i) for i in range(10)])
        model = brickwork.load("digits.safetensors")
    """
    header = file_card(model).updated(**meta).to_header()
    return write_safetensors(path, model.state_dict(), header, MODEL_FORMAT)


def load(
    path: str | Path,
    model: nn.Module | None = None,
    device: str | torch.device = "cpu",
    trust_code: TrustCode = None,
) -> nn.Module:
    """Rebuild the model saved at `path` (a model file or a training checkpoint), in eval mode.

    The model is built from the spec in the file; pass `model=` for a file saved from a plain
    `nn.Module`. `model.card` (a ModelCard) holds the file's metadata (preprocessing, ...).
    A spec naming custom code ('package.module:Class' layers) is refused unless `trust_code`
    allows it: True for any module, or module prefixes such as ["my_pkg"] (default: the
    surrounding `brickwork.trust.trusting(...)` or $BRICKWORK_TRUST_CODE, else none).
    """
    tensors, meta = read_model_tensors(path)
    card = ModelCard.from_header(meta, str(path))
    if model is None:
        if not meta.get("model_spec"):
            raise BrickworkError(
                f"'{path}' was saved from a plain nn.Module and holds no model spec; build the "
                "same module and call load(path, model=module)."
            )
        from brickwork.models import build_model

        try:
            with loading(path, trust_code):
                model = build_model(meta["model_spec"])
        except BrickworkError as e:
            raise BrickworkError(f"'{path}': the model spec it holds does not build: {e}") from None
    load_weights(model, tensors, str(path))
    model.card = card
    return model.to(device).eval()


def read_model_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(weights, model metadata) of a model file or a checkpoint, without building the model
    (so nothing the file names is imported)."""
    tensors, meta, fmt = read_safetensors(path)
    if fmt == CHECKPOINT_FORMAT:
        tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        meta = meta.get("model_meta", {})
    return tensors, meta


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy `tensors` into `model`, or raise naming the file, the first layer that differs and
    every missing, unexpected and mis-shaped tensor.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in tensors]
    unexpected = [k for k in tensors if k not in own]
    differ = [k for k in own if k in tensors and tensors[k].shape != own[k].shape]
    shapes = [f"{k} (file {list(tensors[k].shape)}, model {list(own[k].shape)})" for k in differ]
    if missing or unexpected or shapes:
        first = next((k for k in own if k in missing or k in differ), None) or unexpected[0]
        parts = [
            f"{label}: {_few(items)}"
            for label, items in (
                ("missing from the file", missing),
                ("unexpected in the file", unexpected),
                ("different shapes", shapes),
            )
            if items
        ]
        raise BrickworkError(
            f"the weights in '{source}' do not fit this model: the first layer that differs is "
            f"'{layer_of_key(first)}'; {'; '.join(parts)}. The file was saved from a different "
            "architecture: load it with brickwork.load(path), which rebuilds the saved one, or "
            "change the model to match."
        )
    for key, first in tied_keys(model).items():
        if not torch.equal(tensors[key], tensors[first]):
            raise BrickworkError(
                f"the weights in '{source}' differ between '{key}' and '{first}', which this model "
                "ties (tie_weights: one shared weight); the file was edited or saved from an "
                "untied model: load it into a model without tie_weights."
            )
    model.load_state_dict(tensors)


def tied_keys(model: nn.Module) -> dict[str, str]:
    """{key: the first key holding the same parameter} for weights shared between layers
    (`tie_weights`). Files keep a copy under each key (safetensors stores no aliases), so
    any loader of a state dict works; `load_weights` checks the copies agree."""
    first: dict[int, str] = {}
    tied = {}
    for key, value in model.state_dict(keep_vars=True).items():
        if id(value) in first:
            tied[key] = first[id(value)]
        else:
            first[id(value)] = key
    return tied


def layer_of_key(key: str) -> str:
    """'layers.dense_1.weight' -> 'dense_1': the layer a state-dict key belongs to."""
    parts = key.split(".")
    parts = parts[1:] if parts[0] == "layers" and len(parts) > 2 else parts
    return ".".join(parts[:-1]) or key


def _few(items: list[str], limit: int = 8) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
