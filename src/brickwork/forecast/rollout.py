"""Continue a series past its end with a model trained on a `timeseries` dataset.

The model maps `lookback` scaled rows to the next `horizon` steps. To go further than one
horizon, its own forecasts are appended to the window and it runs again (recursive
forecasting), which needs every input column to be forecast too: a model that also reads
extra `feature_columns` can only forecast one horizon ahead, since their future is unknown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models.card import card_of


def series_spec(model: nn.Module):
    """The `data:` section a series model was trained with (from its model card)."""
    from brickwork.data.named import concrete_spec, dataset_kind
    from brickwork.spec.data import DataSpec

    data = card_of(model).data
    if not data or dataset_kind(data.get("dataset")) != "timeseries":
        raise BrickworkError(
            "forecasting needs a model trained on a `timeseries` dataset (its file records the "
            "data section); "
            "this one was not. Train one with `data: {dataset: timeseries, ...}`."
        )
    return concrete_spec(DataSpec(**data))  # `co2` -> timeseries on its file


def scaler(model: nn.Module, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (mean, std) the training data was standardised with (identity when unscaled)."""
    steps = (card_of(model).preprocessing or {}).get("steps", [])
    for step in steps:
        if step.get("op") == "normalize":
            return np.asarray(step["mean"], dtype=np.float64), np.asarray(
                step["std"], dtype=np.float64
            )
    return np.zeros(columns), np.ones(columns)


def read_history(model: nn.Module, path: str | Path) -> np.ndarray:
    """Rows [T, C] of another CSV with the training file's columns, missing values handled alike."""
    from brickwork.data.timeseries import read_series

    if not Path(path).expanduser().is_file():
        raise BrickworkError(
            f"history file '{path}' does not exist; pass a CSV with the training file's columns "
            "to --history."
        )
    spec = series_spec(model).model_copy(update={"limit": None})
    return read_series(spec, path)[0]


def forecast(model: nn.Module, steps: int, history: np.ndarray | None = None) -> dict:
    """Forecast `steps` values past the end of `history` (default: the training file, all of it).

    `history` is raw values (the data's units), [T] or [T, columns] with the training file's
    columns in the order targets, then feature_columns. Returns a dict: `forecast` (one value
    per step, or one list per step for several targets), `columns`, `steps`, `horizon`,
    `lookback`, `history_length` and `history_tail` (the last lookback rows of the targets).
    """
    from brickwork.data.timeseries import read_series

    spec = series_spec(model)
    if history is None:
        values, _, targets, _ = read_series(spec)
    else:
        values = np.asarray(history, dtype=np.float64)
        values = values[:, None] if values.ndim == 1 else values
        expected = len(scaler(model, values.shape[1])[0])
        if values.ndim != 2 or values.shape[1] != expected:
            raise BrickworkError(
                f"history has shape {list(values.shape)} but the model reads {expected} "
                "column(s); give rows "
                f"[T, {expected}] with the training file's columns (targets first, then "
                "feature_columns)."
            )
        targets = _target_names(spec)
    return _rollout(model, values, targets, steps, spec.lookback, spec.horizon)


def _target_names(spec) -> list[str]:
    t = spec.target_columns
    if t is None:
        return ["target"]
    return [t] if isinstance(t, str) else list(t)


@torch.no_grad()
def _rollout(
    model, values: np.ndarray, targets: list[str], steps: int, lookback: int, horizon: int
) -> dict:
    if steps < 1:
        raise BrickworkError(f"--steps must be at least 1, got {steps}.")
    if np.isnan(values).any():
        raise BrickworkError(
            "history has missing values (NaN); fill them first (the training file's `missing:` "
            "policy "
            "applies when the history comes from a CSV)."
        )
    n_cols, k = values.shape[1], len(targets)
    if len(values) < lookback:
        raise BrickworkError(
            f"history has {len(values)} rows but the model reads the last {lookback} (lookback); "
            "give more rows."
        )
    if n_cols > k and steps > horizon:
        raise BrickworkError(
            f"the model also reads {n_cols - k} feature column(s) whose future values are "
            "unknown, so it can "
            f"forecast at most its horizon of {horizon} steps (asked for {steps}); ask for fewer "
            "steps or "
            f"train on the target columns alone for longer recursive forecasts."
        )
    mean, std = scaler(model, n_cols)
    window = torch.tensor((values[-lookback:] - mean) / std, dtype=torch.float32)
    device = next(model.parameters()).device
    model.eval()
    made: list[torch.Tensor] = []
    left = steps
    while left > 0:
        out = model(window[None].to(device)).float().cpu().reshape(horizon, k)
        take = min(horizon, left)
        made.append(out[:take])
        left -= take
        if left > 0:  # recursive: the model's own forecasts become its next inputs
            window = torch.cat([window[take:], out[:take]], dim=0)
    scaled = torch.cat(made).double().numpy()
    result = scaled * std[:k] + mean[:k]
    rows = result[:, 0].tolist() if k == 1 else result.tolist()
    tail = values[-lookback:, :k]
    return {
        "columns": targets,
        "steps": steps,
        "horizon": horizon,
        "lookback": lookback,
        "history_length": len(values),
        "forecast": rows,
        "history_tail": tail[:, 0].tolist() if k == 1 else tail.tolist(),
    }
