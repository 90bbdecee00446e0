"""Load pretrained weights from a plain PyTorch state dict or a safetensors file.

`.pt`/`.pth` files are read with `torch.load(weights_only=True)`: tensors only, never
arbitrary pickled objects. Keys can be renamed by prefix, or matched by order and shape
(for a state dict saved from a hand-written `nn.Sequential` of the same architecture).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from brickwork.errors import BrickworkError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise BrickworkError(f"pretrained weights '{path}' do not exist.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle with objects other than tensors, or a corrupt file
        raise BrickworkError(
            f"'{path}' could not be read as a plain state dict with weights_only=True "
            f"({type(e).__name__}: {str(e).splitlines()[0]}); save it with "
            "torch.save(model.state_dict(), path)."
        ) from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise BrickworkError(
            f"'{path}' does not hold a state dict (a mapping of names to tensors)."
        )
    return data


def _rename(source: dict, key_map: dict[str, str]) -> dict:
    out = {}
    for key, value in source.items():
        for old, new in key_map.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[key] = value
    return out


def _by_order(source: dict, target: dict) -> dict:
    """Pair tensors in order when names differ but the architecture is the same."""
    src = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    dst = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst) or any(
        v.shape != target[k].shape for (_, v), k in zip(src, dst, strict=False)
    ):
        raise BrickworkError(
            f"match by order failed: the file has {len(src)} tensors and the model {len(dst)}, or "
            "their shapes differ in order; give a key_map instead."
        )
    return {k: v for (_, v), k in zip(src, dst, strict=True)}


def load_pretrained(
    model: nn.Module,
    path: str | Path | dict,
    key_map: dict[str, str] | None = None,
    by_order: bool = False,
    strict: bool = False,
) -> dict:
    """Copy matching tensors into `model`; returns what matched, what was missing, unexpected
    or mis-shaped. With `strict`, anything but a full match is an error that lists it.

    `path` is a `.pt`/`.pth`/`.safetensors` file, or a state dict already in memory.
    """
    source = dict(path) if isinstance(path, dict) else read_state_dict(path)
    path = "the given state dict" if isinstance(path, dict) else path
    target = model.state_dict()
    if key_map:
        source = _rename(source, key_map)
    if by_order:
        source = _by_order(source, target)
    report = {"matched": [], "missing": [], "unexpected": [], "mismatched": []}
    usable = {}
    for key, value in source.items():
        if key not in target:
            report["unexpected"].append(key)
        elif value.shape != target[key].shape:
            report["mismatched"].append(
                f"{key}: file {list(value.shape)} vs model {list(target[key].shape)}"
            )
        else:
            usable[key] = value
            report["matched"].append(key)
    report["missing"] = [k for k in target if k not in usable]
    if strict and (report["missing"] or report["unexpected"] or report["mismatched"]):
        problems = "; ".join(
            f"{k}: {', '.join(v[:8])}{' ...' if len(v) > 8 else ''}"
            for k, v in report.items()
            if k != "matched" and v
        )
        raise BrickworkError(f"pretrained weights '{path}' do not fit the model ({problems}).")
    if not usable:
        raise BrickworkError(
            f"no tensor in '{path}' matches the model by name and shape; try by_order=True or a "
            "key_map such as {'features.': 'layers.'}."
        )
    model.load_state_dict(usable, strict=False)
    return report
