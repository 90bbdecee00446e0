"""Score a series model on its held-out period against the baselines any forecast must beat.

* naive: every future step equals the last observed value;
* mean: every future step equals the training period's mean;
* seasonal naive: every future step equals the value one season earlier (the last season
  repeats);
* climatology: every future step equals the training period's mean at the same position in
  the season (e.g. the mean of all training Januaries).

The season is given, or taken from the time column's frequency when the training data
confirm it (yearly data has none unless given), or estimated from at least three cycles.

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


def seasonal_period(
    values: np.ndarray, max_lag: int, min_lag: int = 2, threshold: float = 0.1
) -> int | None:
    """The seasonal period: the lag in [min_lag, max_lag] with the highest autocorrelation
    peak (a local maximum) of the first differences; differencing removes a trend that would
    otherwise make every short lag look seasonal. None when there is no peak of at least
    `threshold` (no clear season) or the series is too short."""
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
    if best is None or acf[best - 1] < threshold:
        return None
    # a cycle also peaks at its multiples: the shortest lag nearly as strong is the season
    return min(lag for lag in peaks if acf[lag - 1] >= 0.9 * acf[best - 1])


def _errors(pred: np.ndarray, actual: np.ndarray) -> dict:
    err = pred - actual  # [windows, horizon, targets]
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "mae_per_step": np.abs(err).mean(axis=(0, 2)).tolist(),
        "rmse_per_step": np.sqrt((err**2).mean(axis=(0, 2))).tolist(),
    }


def choose_season(train_values: np.ndarray, time: dict | None, given: int | None):
    """(season or None, how it was found). A given season wins. With a time column, its
    frequency names the natural season (none for yearly data) and the training period's
    autocorrelation must confirm it; without one, a season is estimated only from at least
    three full cycles with a peak above chance level."""
    if given is not None:
        return given, "given"
    time = time or {}
    n = len(train_values)
    natural, freq = time.get("season"), time.get("frequency")
    if time.get("wide_columns"):
        return natural, f"wide layout: {natural} sub-period columns per row"
    if freq is not None and natural is None:
        return None, f"none: {freq} data has no season unless one is given (--season)"
    if natural is not None:
        slack = 2 if freq == "weekly" else 0
        found = seasonal_period(train_values, natural + slack, max(2, natural - slack))
        if found is not None and n >= 2 * found:
            return found, f"{freq} time column '{time.get('column')}', confirmed by autocorrelation"
        return None, f"none: the {freq} data show no clear {natural}-step cycle in training"
    level = max(0.25, 3 / np.sqrt(n))
    found = seasonal_period(train_values, max(2, n // 3), threshold=level)
    if found is not None and n >= 3 * found and _repeats(train_values, found, level / 2):
        return found, "estimated from the training period's autocorrelation"
    return None, "none found in the training period"


def _repeats(values: np.ndarray, season: int, level: float) -> bool:
    """A real cycle shows again at twice its period (autocorrelation of the differences)."""
    d = np.diff(np.asarray(values, dtype=np.float64))
    d = d - d.mean()
    lag = 2 * season
    return lag < len(d) and float((d[:-lag] * d[lag:]).sum() / (d * d).sum()) >= level


@torch.no_grad()
def evaluate_forecast(
    model: nn.Module, split: str = "test", season: int | None = None, batch_size: int = 256
) -> dict:
    """MAE and RMSE of `model` on the `split` windows, next to the naive, seasonal-naive, mean
    and climatology baselines, all in the data's units.

    Reloads the data from the spec in the model file (same split, same training-period
    scaling). Returns a dict with `model`, `naive`, `mean`, `seasonal_naive` and `climatology`
    (each {mae, rmse, mae_per_step, rmse_per_step}; the last two are None without a season),
    `season`, `season_source`, `units`, `windows`, `horizon`, `lookback`, `columns`, `split`;
    the arrays used (in data units) are under `_arrays` for plotting.
    """
    from brickwork.data import load_data
    from brickwork.data.splits import chronological
    from brickwork.data.timeseries import read_series_table
    from brickwork.train import predict

    spec = series_spec(model)
    bundle = load_data(spec, seed=card_of(model).seed or 0)
    part = getattr(bundle, split, None) if split in ("val", "test") else None
    if part is None or len(part.y) == 0:
        raise BrickworkError(
            f"the series has no '{split}' windows (it needs at least lookback {spec.lookback} + "
            f"horizon {spec.horizon} steps in that part); choose the other split or change "
            "validation_split/test_split."
        )
    targets = bundle.extra["target_columns"]
    k, lookback, horizon = len(targets), spec.lookback, spec.horizon
    mean, std = scaler(model, bundle.input_shape[-1])
    mean, std = mean[:k], std[:k]
    n = len(part.y)
    actual = part.y.double().numpy().reshape(n, horizon, k) * std + mean
    out = predict(model, part.x, batch_size=batch_size).double().numpy()
    pred = out.reshape(n, horizon, k) * std + mean
    table = read_series_table(spec)
    values = table["values"][:, :k]
    test_fraction = 0.2 if spec.test_split is None else spec.test_split
    parts = chronological(len(values), spec.validation_split, test_fraction)
    train, where = parts[0], parts[1 if split == "val" else 2]
    season, source = choose_season(values[train, 0], table.get("time"), season)
    if season is not None and not 1 <= season <= train.stop:
        raise BrickworkError(
            f"season {season} must be between 1 and the training period's {train.stop} rows, "
            "so that every season position has history; give a smaller --season."
        )
    # step h of window i forecasts row t[i] + h of the series
    t = where.start + lookback + np.arange(n)[:, None] + np.arange(horizon)[None, :]
    baselines = {
        "naive": np.broadcast_to(values[t[:, 0] - 1][:, None, :], (n, horizon, k)),
        "mean": np.broadcast_to(values[train].mean(0), (n, horizon, k)),
        "seasonal_naive": None,
        "climatology": None,
    }
    if season is not None:
        back = season * (np.arange(horizon) // season + 1)
        baselines["seasonal_naive"] = values[t - back[None, :]]
        phase_means = np.stack(
            [values[train][p::season].mean(0) for p in range(season)]
        )  # [season, k]
        baselines["climatology"] = phase_means[t % season]
    units = ", ".join(targets)
    return {
        "split": split,
        "windows": n,
        "horizon": horizon,
        "lookback": lookback,
        "columns": targets,
        "units": f"the data's units of {units} (scaling undone)",
        "season": season,
        "season_source": source,
        "model": _errors(pred, actual),
        **{name: None if b is None else _errors(b, actual) for name, b in baselines.items()},
        "_arrays": {"actual": actual, "model": pred, **baselines},
    }
