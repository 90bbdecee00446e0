"""Score a series model on its held-out period against the two baselines any forecast must beat.

* naive: every future step equals the last observed value;
* seasonal naive: every future step equals the value one season earlier (the last season
  repeats), with the season given or estimated from the training part.

All errors are in the data's own units (the scaling is undone), over every window of the
split, every step of the horizon and every target column.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.forecast.rollout import scaler, series_spec
from brickwork.models.card import card_of


def seasonal_period(values: np.ndarray, max_lag: int, min_lag: int = 2) -> int | None:
    """The seasonal period: the lag in [min_lag, max_lag] with the highest autocorrelation
    peak (a local maximum) of the first differences; differencing removes a trend that would
    otherwise make every short lag look seasonal. None when there is no peak of at least 0.1
    (no clear season) or the series is too short."""
    d = np.diff(np.asarray(values, dtype=np.float64))
    d = d - d.mean()
    max_lag = min(max_lag, len(d) // 2 - 1)
    denom = float((d * d).sum())
    if max_lag < min_lag or denom == 0:
        return None
    acf = np.array(
        [float((d[:-lag] * d[lag:]).sum()) / denom for lag in range(1, max_lag + 2)]
    )  # lags 1..max_lag+1
    peaks = [
        lag
        for lag in range(min_lag, max_lag + 1)
        if acf[lag - 1] > acf[lag - 2] and acf[lag - 1] >= acf[lag]
    ]
    best = max(peaks, key=lambda lag: acf[lag - 1], default=None)
    return best if best is not None and acf[best - 1] >= 0.1 else None


def _errors(pred: np.ndarray, actual: np.ndarray) -> dict:
    err = pred - actual  # [windows, horizon, targets]
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "mae_per_step": np.abs(err).mean(axis=(0, 2)).tolist(),
        "rmse_per_step": np.sqrt((err**2).mean(axis=(0, 2))).tolist(),
    }


@torch.no_grad()
def evaluate_forecast(
    model: nn.Module, split: str = "test", season: int | None = None, batch_size: int = 256
) -> dict:
    """MAE and RMSE of `model` on the `split` windows, next to the naive and seasonal-naive
    baselines.

    Reloads the data from the spec in the model file (same split, same training-period
    scaling). Returns a dict with `model`, `naive`, `seasonal_naive` (each {mae, rmse,
    mae_per_step, rmse_per_step}; seasonal_naive is None without a season), `season`,
    `season_source`, `windows`, `horizon`, `lookback`, `columns`, `split`; the arrays used
    (in data units) are under `_arrays` for plotting.
    """
    from brickwork.data import load_data
    from brickwork.data.splits import chronological
    from brickwork.data.timeseries import read_series
    from brickwork.train import predict

    spec = series_spec(model)
    bundle = load_data(spec, seed=card_of(model).seed or 0)
    part = getattr(bundle, split, None) if split in ("val", "test") else None
    if part is None or len(part.y) == 0:
        raise BrickworkError(
            f"the series has no '{split}' windows (it needs at least lookback {spec.lookback} + "
            "horizon "
            f"{spec.horizon} steps in that part); choose the other split or change "
            "validation_split/test_split."
        )
    targets = bundle.extra["target_columns"]
    k, lookback, horizon = len(targets), spec.lookback, spec.horizon
    mean, std = scaler(model, bundle.input_shape[-1])
    mean, std = mean[:k], std[:k]
    x = part.x.double().numpy()
    actual = part.y.double().numpy().reshape(len(x), horizon, k) * std + mean
    pred = (
        predict(model, part.x, batch_size=batch_size).double().numpy().reshape(len(x), horizon, k)
        * std
        + mean
    )
    last = x[:, -1, :k] * std + mean
    naive = np.repeat(last[:, None, :], horizon, axis=1)

    source = "given"
    if season is None:
        values = read_series(spec)[0]
        train = chronological(
            len(values), spec.validation_split, 0.2 if spec.test_split is None else spec.test_split
        )[0]
        season, source = seasonal_period(values[train, 0], lookback), "estimated"
    seasonal = None
    if season is not None:
        if not 1 <= season <= lookback:
            raise BrickworkError(
                f"season {season} must be between 1 and the lookback ({lookback}) so that one "
                "season of "
                "history is in every window; give a smaller --season or train with a longer "
                "lookback."
            )
        idx = [lookback - season + (h % season) for h in range(horizon)]
        seasonal = x[:, idx, :k] * std + mean
    return {
        "split": split,
        "windows": len(x),
        "horizon": horizon,
        "lookback": lookback,
        "columns": targets,
        "season": season,
        "season_source": source if season is not None else "none found",
        "model": _errors(pred, actual),
        "naive": _errors(naive, actual),
        "seasonal_naive": _errors(seasonal, actual) if seasonal is not None else None,
        "_arrays": {"actual": actual, "model": pred, "naive": naive, "seasonal_naive": seasonal},
    }
