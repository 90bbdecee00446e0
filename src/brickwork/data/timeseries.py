"""The `timeseries` dataset: CSV columns -> sliding windows (lookback -> horizon).

    data: {dataset: timeseries, path: co2.csv, target_columns: co2, lookback: 52, horizon: 4}

Rows are time steps in file order. The series is cut chronologically (train = first part,
val = next, test = last) and windows are made inside each part, so no window crosses a
boundary and nothing from the future leaks into training. Each column is standardised with
the training part's mean and std (`scale`, on by default; `normalize: {mean, std}` fixes
them). x is [lookback, features] (targets first, then extra feature_columns); y is
[horizon] for one target or [horizon, targets] for several, in scaled units;
`inverse_targets(bundle.extra, y)` maps predictions back.

Missing values (empty, NA, nan) are counted and handled per `missing`: `error` stops,
`drop` removes those rows, `interpolate` (default) fills linearly between neighbours (the
ends take the nearest value) and logs a warning naming the count. Never filled with zeros.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from brickwork.errors import BrickworkError

log = logging.getLogger("brickwork.data")


def handle_missing(
    values: np.ndarray, names: list[str], policy: str, path: Path
) -> tuple[np.ndarray, dict]:
    """Apply the missing-value policy to a [T, C] array with NaNs; returns (values, report)."""
    missing = np.isnan(values)
    counts = {n: int(c) for n, c in zip(names, missing.sum(0), strict=True) if c}
    total = int(missing.sum())
    report = {"count": total, "per_column": counts, "policy": policy}
    if not total:
        return values, report
    rows = np.flatnonzero(missing.any(1))
    where = (
        f"{total} missing values in '{path}' "
        f"({', '.join(f'{n}: {c}' for n, c in counts.items())}; first at line {rows[0] + 2})"
    )
    if policy == "error":
        raise BrickworkError(
            f"{where}; fill them, or set `missing: interpolate` or `missing: drop`."
        )
    if len(rows) == len(values):
        raise BrickworkError(
            f"{where}: every row has a missing value, so there is nothing to keep or interpolate "
            "from."
        )
    if policy == "drop":
        log.warning(
            "%s: dropped %d rows (missing: drop); the time steps are no longer evenly spaced",
            where,
            len(rows),
        )
        report["rows_dropped"] = len(rows)
        return values[~missing.any(1)], report
    out = values.copy()
    t = np.arange(len(values))
    for j in range(values.shape[1]):
        bad = missing[:, j]
        if bad.all():
            raise BrickworkError(
                f"column '{names[j]}' of '{path}' has no values at all; remove it from the "
                "columns used."
            )
        if bad.any():
            out[bad, j] = np.interp(t[bad], t[~bad], values[~bad, j])
    log.warning("%s: filled by linear interpolation (missing: interpolate)", where)
    return out, report


def windows(
    series: torch.Tensor, n_targets: int, lookback: int, horizon: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x [N, lookback, C], y [N, horizon(, targets)]) from a [T, C] series; targets are columns
    0..n_targets-1.
    """
    n = len(series) - lookback - horizon + 1
    if n <= 0:
        return torch.empty(0, lookback, series.shape[1]), torch.empty(
            (0, horizon) if n_targets == 1 else (0, horizon, n_targets)
        )
    x = series.unfold(0, lookback, 1)[:n].transpose(1, 2).contiguous()  # [N, lookback, C]
    y = (
        series[lookback:, :n_targets].unfold(0, horizon, 1)[:n].transpose(1, 2).contiguous()
    )  # [N, horizon, targets]
    return x, (y[..., 0] if n_targets == 1 else y)


def inverse_targets(extra: dict, y: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Scaled targets (or predictions) back in the data's units, using extra['target_scaler']."""
    scaler = extra.get("target_scaler")
    y = torch.as_tensor(y, dtype=torch.float32)
    if not scaler:
        return y
    mean, std = torch.tensor(scaler["mean"]), torch.tensor(scaler["std"])
    if len(scaler["mean"]) == 1:
        return y * std[0] + mean[0]
    return y * std + mean


def read_series(
    spec, path: str | Path | None = None
) -> tuple[np.ndarray, list[str], list[str], dict]:
    """(values [T, C] float64, column names, target names, missing-value report): the columns a
    `timeseries` spec uses (targets first), missing values handled, `limit` applied. `path`
    reads another file with the same columns (e.g. a newer history to forecast from)."""
    from brickwork.data.tabular import column_index, parse_numbers, read_table

    path = Path(path if path is not None else spec.path).expanduser()
    header, rows = read_table(path, spec.encoding)
    targets = spec.target_columns if spec.target_columns is not None else [header[-1]]
    targets = [targets] if isinstance(targets, str) else list(targets)
    cols = [column_index(header, c, path, "target_columns") for c in targets]
    for c in spec.feature_columns or []:
        i = column_index(header, c, path, "feature_columns")
        if i not in cols:
            cols.append(i)
    names = [header[c] for c in cols]
    values = parse_numbers(rows, cols, header, path, allow_missing=True)
    values, report = handle_missing(values, names, spec.missing, path)
    if spec.limit is not None:
        values = values[: spec.limit]
    return values, names, targets, report


def load_timeseries(spec, seed: int):
    """Read the CSV, handle missing values, split chronologically, scale on train, window."""
    from brickwork.data.bundle import DataBundle, Split
    from brickwork.data.preprocess import make_preprocessing, normalize_step
    from brickwork.data.splits import chronological

    path = Path(spec.path).expanduser()
    values, names, targets, report = read_series(spec)
    tr, va, te = chronological(
        len(values), spec.validation_split, 0.2 if spec.test_split is None else spec.test_split
    )
    train_part = torch.from_numpy(values[tr].astype(np.float32))
    if spec.normalize and not isinstance(spec.normalize, bool):
        mean, std = list(spec.normalize.mean), list(spec.normalize.std)
        if len(mean) != len(names):
            raise BrickworkError(
                f"normalize gives {len(mean)} means but the series has {len(names)} columns "
                f"({', '.join(names)})."
            )
    elif spec.scale is False and not spec.normalize:
        mean, std = [0.0] * len(names), [1.0] * len(names)
    else:
        mean_t, std_t = train_part.double().mean(0), train_part.double().std(0, correction=0)
        std_t = torch.where(std_t < 1e-12, torch.ones_like(std_t), std_t)
        mean, std = mean_t.tolist(), std_t.tolist()
    series = (torch.from_numpy(values.astype(np.float32)) - torch.tensor(mean)) / torch.tensor(std)
    splits = []
    for part in (tr, va, te):
        x, y = windows(series[part], len(targets), spec.lookback, spec.horizon)
        splits.append(Split(x, y))
    if len(splits[0]) == 0:
        raise BrickworkError(
            f"the training part of '{path}' has {tr.stop} steps, too few for lookback "
            f"{spec.lookback} + "
            f"horizon {spec.horizon}; lower them or the validation/test fractions."
        )
    shape = [spec.lookback, len(names)]
    k = len(targets)
    return DataBundle(
        train=splits[0],
        val=splits[1] if len(splits[1]) else None,
        test=splits[2] if len(splits[2]) else None,
        task="regression",
        input_shape=shape,
        num_classes=None,
        class_names=None,
        preprocessing=make_preprocessing(shape, [normalize_step(mean, std, -1)]),
        vocab=None,
        extra={
            "columns": names,
            "target_columns": targets,
            "lookback": spec.lookback,
            "horizon": spec.horizon,
            "target_scaler": {"mean": mean[:k], "std": std[:k]},
            "missing": report,
            "steps": {
                "train": tr.stop - tr.start,
                "val": va.stop - va.start,
                "test": te.stop - te.start,
            },
            "source": str(path),
        },
    )
