"""Preprocessing as data: a JSON-able dict of steps that `apply_preprocessing` replays.

    {"version": 1, "input_shape": [1, 28, 28], "steps": [
        {"op": "scale", "factor": 0.00392156862745098},
        {"op": "normalize", "mean": [0.1307], "std": [0.3081], "axis": 0}]}

The same dict is stored with a trained model, so `predict` applies to new raw inputs
exactly what training applied to the dataset. `axis` is the per-sample axis the statistics
run along: 0 for channels-first images, -1 for table features and series columns.
Statistics are always computed on the training split only.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from brickwork.errors import BrickworkError

log = logging.getLogger("brickwork.data")


def make_preprocessing(input_shape: list[int], steps: list[dict], kind: str = "float") -> dict:
    """The dict stored with a model; `kind` is 'float' (numeric inputs) or 'tokens' (ids)."""
    return {"version": 1, "kind": kind, "input_shape": list(input_shape), "steps": steps}


def channel_stats(x: torch.Tensor, axis: int, chunk: int = 8192) -> tuple[list[float], list[float]]:
    """Per-channel (axis 0 of a sample) or per-feature (axis -1) mean and std of a batch.

    Computed in float64 over chunks so 60000 images need no float64 copy of the whole set.
    """
    dim = 1 if axis == 0 else x.ndim - 1
    n = x.shape[dim]
    total, total_sq, count = (
        torch.zeros(n, dtype=torch.float64),
        torch.zeros(n, dtype=torch.float64),
        0,
    )
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].to(torch.float64).movedim(dim, -1).reshape(-1, n)
        total += part.sum(0)
        total_sq += (part * part).sum(0)
        count += part.shape[0]
    if count == 0:
        raise BrickworkError(
            "cannot compute normalization statistics from an empty training split; add rows or "
            "set normalize: false."
        )
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    std = torch.where(
        std < 1e-8, torch.ones_like(std), std
    )  # a constant channel: leave it centred, not divided by 0
    return mean.tolist(), std.tolist()


def scale_step(factor: float) -> dict:
    return {"op": "scale", "factor": float(factor)}


def normalize_step(mean: list[float], std: list[float], axis: int) -> dict:
    return {
        "op": "normalize",
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "axis": axis,
    }


def rescale_step(offset: list[float], factor: list[float], axis: int = -1) -> dict:
    """(x - offset) * factor per feature; a factor of 0 maps a column to a constant 0."""
    return {
        "op": "rescale",
        "offset": [float(v) for v in offset],
        "factor": [float(v) for v in factor],
        "axis": axis,
    }


def table_steps(train_x: torch.Tensor, scale, normalize, names: list[str]) -> list[dict]:
    """Steps for table features [N, F], from the training rows only.

    `scale` is a number (every value divided by it: `scale: 255` for pixel columns), True
    (each column's training min/max mapped to 0/1) or None/False. `normalize` True gives each
    column mean 0 and std 1; a mean/std spec fixes them. A column that is constant in the
    training rows carries nothing a model could learn, so min/max and mean/std scaling map it
    to 0 for every input (a warning names it); it can never blow up a later input."""
    steps: list[dict] = []
    if scale is not None and not isinstance(scale, bool):
        steps.append(scale_step(1.0 / float(scale)))
    elif scale:
        lo, hi = train_x.double().min(0).values, train_x.double().max(0).values
        steps.append(rescale_step(lo.tolist(), _inverse_spread(hi - lo, names, "min/max")))
    if normalize is True:
        x = apply_steps(train_x, steps).double()
        std = x.std(0, correction=0)
        steps.append(rescale_step(x.mean(0).tolist(), _inverse_spread(std, names, "std")))
    elif normalize:
        steps += image_steps(train_x, None, normalize, axis=-1)
    return steps


def _inverse_spread(spread: torch.Tensor, names: list[str], what: str) -> list[float]:
    """1 / spread per column, 0 where the column is constant in training (logged)."""
    constant = spread <= 1e-12 * (1 + spread.abs().max())
    if constant.any():
        named = [names[i] for i in torch.nonzero(constant).flatten().tolist()]
        log.warning(
            "%d feature column(s) are constant in the training rows (%s); %s scaling maps them "
            "to 0 for every input",
            len(named),
            ", ".join(named[:10]) + (" ..." if len(named) > 10 else ""),
            what,
        )
    return torch.where(constant, torch.zeros_like(spread), 1.0 / spread.clamp_min(1e-300)).tolist()


def apply_preprocessing(preprocessing, raw, *rest) -> torch.Tensor:
    """Apply a stored preprocessing dict to raw inputs (one sample or a batch).

    `raw` is a numpy array or tensor of raw values (pixels 0-255, table rows, series windows,
    token ids). Either argument order is accepted. Returns float32 (int64 for token kinds),
    with the batch dimension kept if `raw` had one.
    """
    if not isinstance(preprocessing, dict) and isinstance(raw, dict):
        preprocessing, raw = raw, preprocessing
    if rest or not isinstance(preprocessing, dict):
        raise BrickworkError(
            "apply_preprocessing(preprocessing, raw) takes the dict stored with the model and an "
            "array of raw inputs."
        )
    x = raw if isinstance(raw, torch.Tensor) else torch.as_tensor(np.asarray(raw))
    if preprocessing.get("kind") == "tokens":
        return x.long()
    x = x.to(torch.float32)
    shape = preprocessing.get("input_shape")
    single = shape is not None and list(x.shape) == list(shape)
    if single:
        x = x.unsqueeze(0)
    if shape is not None and list(x.shape[1:]) != list(shape):
        raise BrickworkError(
            f"inputs have shape {list(x.shape)} but the model was trained on samples of shape "
            f"{list(shape)}; "
            f"pass one sample of shape {list(shape)} or a batch [N, {', '.join(map(str, shape))}]."
        )
    for step in preprocessing.get("steps", []):
        x = _apply_step(step, x)
    return x[0] if single else x


def _apply_step(step: dict, x: torch.Tensor) -> torch.Tensor:
    op = step.get("op")
    if op == "scale":
        return x * step["factor"]
    if op == "normalize":
        mean = torch.tensor(step["mean"], dtype=x.dtype, device=x.device)
        std = torch.tensor(step["std"], dtype=x.dtype, device=x.device)
        if step.get("axis", 0) == 0:
            view = (1, -1) + (1,) * (x.ndim - 2)
            mean, std = mean.view(view), std.view(view)
        if mean.numel() not in (1, x.shape[1 if step.get("axis", 0) == 0 else -1]):
            raise BrickworkError(
                f"normalize has {mean.numel()} means but the inputs have shape "
                f"{list(x.shape[1:])}; "
                "give one mean/std per channel (images) or per feature (tables)."
            )
        return (x - mean) / std
    if op == "rescale":
        offset = torch.tensor(step["offset"], dtype=x.dtype, device=x.device)
        factor = torch.tensor(step["factor"], dtype=x.dtype, device=x.device)
        if offset.numel() != x.shape[-1]:
            raise BrickworkError(
                f"rescale has {offset.numel()} offsets but the inputs have {x.shape[-1]} "
                "features per sample; pass rows with the training file's feature columns."
            )
        return (x - offset) * factor
    raise BrickworkError(
        f"unknown preprocessing step '{op}'; this model file was written by a newer brickwork. "
        "Upgrade brickwork."
    )


def one_hot(y: torch.Tensor | np.ndarray | list[int], num_classes: int) -> torch.Tensor:
    """float32 one-hot rows [N, num_classes] from integer labels [N] (for losses that need them)."""
    y = torch.as_tensor(y).long()
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise BrickworkError(
            f"labels run from {int(y.min())} to {int(y.max())} but num_classes is {num_classes}; "
            f"labels must be 0..{num_classes - 1}."
        )
    return torch.nn.functional.one_hot(y, num_classes).to(torch.float32)


def image_steps(
    train_x: torch.Tensor, scale_factor: float | None, normalize, axis: int = 0
) -> list[dict]:
    """Steps for numeric data: optional scale, then normalize (given, or computed on train).

    `train_x` is the raw training split; the stats are computed after scaling.
    """
    steps = []
    if scale_factor is not None:
        steps.append(scale_step(scale_factor))
    if normalize is True:
        scaled = _ScaledView(train_x, scale_factor or 1.0)
        mean, std = channel_stats(scaled, axis)
        steps.append(normalize_step(mean, std, axis))
    elif normalize:
        mean, std = list(normalize.mean), list(normalize.std)
        channels = train_x.shape[1 if axis == 0 else -1]
        if len(mean) not in (1, channels):
            raise BrickworkError(
                f"normalize gives {len(mean)} means/stds but the data has {channels} "
                f"{'channels' if axis == 0 else 'features'}; give one per "
                f"{'channel' if axis == 0 else 'feature'} or a single value."
            )
        steps.append(normalize_step(mean, std, axis))
    return steps


class _ScaledView:
    """A tensor look-alike whose slices come back scaled: stats without a scaled copy."""

    def __init__(self, x: torch.Tensor, factor: float):
        self.x, self.factor, self.shape, self.ndim = x, factor, x.shape, x.ndim

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx):
        return self.x[idx].to(torch.float64) * self.factor


def apply_steps(x: torch.Tensor, steps: list[dict], chunk: int = 16384) -> torch.Tensor:
    """Apply steps to a whole (possibly uint8) split in chunks, giving float32."""
    out = torch.empty(x.shape, dtype=torch.float32)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].to(torch.float32)
        for step in steps:
            part = _apply_step(step, part)
        out[start : start + chunk] = part
    return out
