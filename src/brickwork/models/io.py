"""The model file: one `.safetensors` file, weights plus JSON metadata, no pickle.

The safetensors header's metadata holds, under the key `brickwork`, a JSON document with
the model spec, preprocessing, class names, vocabulary, metrics and versions, so
`load(path)` rebuilds a working model with `build_model(meta["model_spec"])` and nothing
else: no code runs on load. Every write is atomic (temp file in the same folder, fsync,
os.replace), so a crash never leaves a half-written file under the real name.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models.card import ModelCard, file_card
from brickwork.models.card import versions as versions  # re-exported: run directories record it

META_KEY = "brickwork"
MODEL_FORMAT = "brickwork.model/1"
CHECKPOINT_FORMAT = "brickwork.checkpoint/1"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` so readers see the old file or the new one, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a crash right after it could otherwise lose it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms (Windows) cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_safetensors(
    path: str | Path, tensors: dict[str, torch.Tensor], meta: dict, fmt: str
) -> Path:
    """Tensors (copied to CPU, untied) plus `meta` as JSON in the header, written atomically."""
    plain = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    header = {"format": fmt, META_KEY: json.dumps(meta)}
    return atomic_write(path, safetensors.torch.save(plain, metadata=header))


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict, str]:
    """(tensors, meta, format) of a file written by `write_safetensors`."""
    path = Path(path)
    if not path.is_file():
        raise BrickworkError(
            f"model file '{path}' does not exist; pass a .safetensors file written by brickwork "
            "(e.g. runs/NAME/model.safetensors)."
        )
    data = path.read_bytes()
    try:
        (size,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
        tensors = safetensors.torch.load(data)
    except Exception as e:  # noqa: BLE001 - any parse failure means "not a safetensors file"
        raise BrickworkError(
            f"'{path}' is not a readable .safetensors file ({type(e).__name__}: {e}); was it "
            "written by brickwork?"
        ) from None
    if META_KEY not in header:
        raise BrickworkError(
            f"'{path}' is a safetensors file without brickwork metadata; load its tensors with "
            "safetensors.torch.load_file and a model of your own."
        )
    return tensors, json.loads(header[META_KEY]), header.get("format", MODEL_FORMAT)


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
    path: str | Path, model: nn.Module | None = None, device: str | torch.device = "cpu"
) -> nn.Module:
    """Rebuild the model saved at `path` (a model file or a training checkpoint), in eval mode.

    The model is built from the spec in the file; pass `model=` for a file saved from a plain
    `nn.Module`. `model.card` (a ModelCard) holds the file's metadata (preprocessing, ...).
    """
    tensors, meta, fmt = read_safetensors(path)
    if fmt == CHECKPOINT_FORMAT:
        tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        meta = meta.get("model_meta", {})
    card = ModelCard.from_header(meta, str(path))
    if model is None:
        if not meta.get("model_spec"):
            raise BrickworkError(
                f"'{path}' was saved from a plain nn.Module and holds no model spec; build the "
                "same module and call load(path, model=module)."
            )
        from brickwork.models import build_model

        model = build_model(meta["model_spec"])
    load_weights(model, tensors, str(path))
    model.card = card
    return model.to(device).eval()


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy `tensors` into `model`, or raise naming every missing, unexpected and mis-shaped
    tensor.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in tensors]
    unexpected = [k for k in tensors if k not in own]
    shapes = [
        f"{k} (file {list(tensors[k].shape)}, model {list(own[k].shape)})"
        for k in own
        if k in tensors and tensors[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
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
            f"the weights in '{source}' do not fit this model; {'; '.join(parts)}. The file was "
            "saved from a different "
            "architecture: load it with brickwork.load(path), which rebuilds the saved one, or "
            "change the model to match."
        )
    model.load_state_dict(tensors)


def _few(items: list[str], limit: int = 8) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
