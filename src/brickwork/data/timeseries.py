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
    values: np.ndarray, names: list[str], policy: str, path: Path, lines=None
) -> tuple[np.ndarray, dict]:
    """Apply the missing-value policy to a [T, C] array with NaNs; returns (values, report).
    `lines[t]` is the file line of step t (for messages)."""
    missing = np.isnan(values)
    counts = {n: int(c) for n, c in zip(names, missing.sum(0), strict=True) if c}
    total = int(missing.sum())
    report = {"count": total, "per_column": counts, "policy": policy}
    if not total:
        return values, report
    rows = np.flatnonzero(missing.any(1))
    where = (
        f"{total} missing values in '{path}' "
        f"({', '.join(f'{n}: {c}' for n, c in counts.items())}; first at line "
        f"{lines[rows[0]] if lines is not None else rows[0] + 2})"
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


def errors_in_data_units(extra: dict, pred, y) -> dict:
    """MAE and RMSE of series predictions against targets, both given in scaled units,
    measured in the data's units (the training scaler undone): what `train` reports."""
    err = inverse_targets(extra, pred).double() - inverse_targets(extra, y).double()
    return {
        "mae_data_units": float(err.abs().mean()),
        "rmse_data_units": float(err.pow(2).mean().sqrt()),
    }


def read_series(
    spec, path: str | Path | None = None
) -> tuple[np.ndarray, list[str], list[str], dict]:
    """(values [T, C] float64, column names, target names, missing-value report): the columns a
    `timeseries` spec uses (targets first), missing values handled, `limit` applied. `path`
    reads another file with the same columns (e.g. a newer history to forecast from)."""
    table = read_series_table(spec, path)
    return table["values"], table["columns"], table["targets"], table["missing"]


def read_series_table(spec, path: str | Path | None = None) -> dict:
    """read_series's results as a dict, plus `time`: the time column, its frequency and the
    natural season they imply (see brickwork.data.periods)."""
    from brickwork.data.csvfile import read_table, table_options

    path = Path(path if path is not None else spec.path).expanduser()
    header, rows = read_table(path, **table_options(spec))
    time_col = _time_column(header, spec, path)
    if spec.layout == "wide":
        table = _wide(header, rows, time_col, spec, path)
    else:
        table = _long(header, rows, time_col, spec, path)
    if spec.limit is not None:
        table["values"] = table["values"][: spec.limit]
    return table


def _long(header, rows, time_col, spec, path) -> dict:
    """One row per time step: the target (and feature) columns as they are."""
    from brickwork.data.periods import frequency
    from brickwork.data.tabular import column_index, parse_numbers

    targets = spec.target_columns
    if targets is None:
        targets = [header[_only_numeric_column(header, rows, time_col, path)]]
    targets = [targets] if isinstance(targets, str) else list(targets)
    cols = [column_index(header, c, path, "target_columns") for c in targets]
    targets = [header[c] for c in cols]
    for c in spec.feature_columns or []:
        i = column_index(header, c, path, "feature_columns")
        if i not in cols:
            cols.append(i)
    names = [header[c] for c in cols]
    values = parse_numbers(rows, cols, header, path, allow_missing=True)
    lines = [getattr(r, "line", i + 2) for i, r in enumerate(rows)]
    values, report = handle_missing(values, names, spec.missing, path, lines)
    freq, season = (None, None)
    if time_col is not None:
        freq, season = frequency([r[time_col] for r in rows])
    time = {"column": None if time_col is None else header[time_col], "frequency": freq}
    time["season"] = season
    return {"values": values, "columns": names, "targets": targets, "missing": report, "time": time}


def _wide(header, rows, time_col, spec, path) -> dict:
    """One row per period, a column per sub-period (e.g. Year, Jan..Dec): read row by row
    into one series; an incomplete last period ends the series where its values stop."""
    from brickwork.data.periods import frequency
    from brickwork.data.tabular import column_index, parse_numbers

    if spec.feature_columns:
        raise BrickworkError(
            "layout: wide reads one series from the sub-period columns, so feature_columns "
            "cannot be used with it; drop feature_columns or reshape the file to one row per step."
        )
    given = spec.target_columns
    if given is None:
        cols = [j for j in range(len(header)) if j != time_col]
        summary = [header[j] for j in cols if header[j].strip().lower() in _SUMMARY_NAMES]
        if summary:
            raise BrickworkError(
                f"layout: wide: column '{summary[0][:40]}' of '{path}' looks like a summary of "
                "the others, not a sub-period; list the sub-period columns in order in "
                "target_columns, e.g. target_columns: "
                f"[{', '.join(header[j][:12] for j in cols[:3])}, ...]."
            )
    else:
        given = [given] if isinstance(given, str) else list(given)
        cols = [column_index(header, c, path, "target_columns") for c in given]
    if len(cols) < 2:
        raise BrickworkError(
            f"layout: wide needs at least 2 sub-period columns in '{path}', found "
            f"{len(cols)}; use layout: long for a file with one row per time step."
        )
    grid = parse_numbers(rows, cols, header, path, allow_missing=True)
    flat = grid.reshape(-1, 1)
    lines = [getattr(r, "line", i + 2) for i, r in enumerate(rows) for _ in cols]
    present = np.flatnonzero(~np.isnan(flat[:, 0]))
    if len(present) and present[-1] < len(flat) - 1:
        cut = len(flat) - 1 - present[-1]
        log.info("'%s': the last period stops after %d missing sub-periods; cut there", path, cut)
        flat, lines = flat[: present[-1] + 1], lines[: present[-1] + 1]
    values, report = handle_missing(flat, ["value"], spec.missing, path, lines)
    freq = None
    if time_col is not None and frequency([r[time_col] for r in rows])[0] == "yearly":
        freq = {12: "monthly", 4: "quarterly", 52: "weekly"}.get(len(cols))
    time = {
        "column": None if time_col is None else header[time_col],
        "frequency": freq,
        "season": len(cols),
        "wide_columns": [header[c] for c in cols],
    }
    return {
        "values": values,
        "columns": ["value"],
        "targets": ["value"],
        "missing": report,
        "time": time,
    }


_SUMMARY_NAMES = {"annual", "total", "sum", "mean", "avg", "average", "year total", "ann", "all"}


def _time_column(header, spec, path) -> int | None:
    """The time column: `time_column:` if set, else the first column with a time-like name."""
    from brickwork.data.periods import is_time_name
    from brickwork.data.tabular import column_index

    if spec.time_column is not None:
        return column_index(header, spec.time_column, path, "time_column")
    return next((j for j, name in enumerate(header) if is_time_name(name)), None)


def _only_numeric_column(header, rows, time_col, path) -> int:
    """The one numeric column besides the time column, or an error naming the candidates."""
    from brickwork.data.csvfile import is_missing, to_number

    numeric = []
    for j in range(len(header)):
        cells = [r[j] for r in rows[:500] if not is_missing(r[j])]
        if j != time_col and cells and all(to_number(c) is not None for c in cells):
            numeric.append(j)
    if len(numeric) == 1:
        return numeric[0]
    names = ", ".join(header[j][:30] for j in numeric[:12])
    if not numeric:
        raise BrickworkError(
            f"'{path}' has no numeric column to forecast (columns: "
            f"{', '.join(h[:30] for h in header[:12])}); check `delimiter:` and `header:`."
        )
    raise BrickworkError(
        f"'{path}' has {len(numeric)} numeric columns ({names}) and no target is named; set "
        f"target_columns (e.g. target_columns: {header[numeric[-1]][:30]}) and, for inputs, "
        "feature_columns. If the columns are sub-periods of one series (e.g. a year per row, "
        "a column per month), set layout: wide."
    )


def load_timeseries(spec, seed: int):
    """Read the CSV, handle missing values, split chronologically, scale on train, window."""
    from brickwork.data.bundle import DataBundle, Split
    from brickwork.data.preprocess import make_preprocessing, normalize_step
    from brickwork.data.splits import chronological

    path = Path(spec.path).expanduser()
    table = read_series_table(spec)
    values, names, targets, report = (table[k] for k in ("values", "columns", "targets", "missing"))
    test_fraction = 0.2 if spec.test_split is None else spec.test_split
    tr, va, te = chronological(len(values), spec.validation_split, test_fraction)
    _check_part_lengths(path, spec, {"training": tr, "validation": va, "test": te})
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
            "time": table["time"],
        },
    )


def _check_part_lengths(path: Path, spec, parts: dict[str, slice]) -> None:
    """Every part the spec asks for must hold at least one window (lookback + horizon rows);
    otherwise the error names the part, its rows and the window, here at data time."""
    window = spec.lookback + spec.horizon
    fields = {"validation": "validation_split", "test": "test_split"}
    for name, part in parts.items():
        rows = part.stop - part.start
        if rows >= window or (name != "training" and rows == 0 and _asked_none(spec, name)):
            continue
        fix = (
            f"lower lookback/horizon, use a longer series, or set {fields[name]}: 0 (no "
            f"{name} part)"
            if name in fields
            else "lower lookback/horizon or validation_split/test_split, or use a longer series"
        )
        raise BrickworkError(
            f"the {name} part of '{path}' has {rows} rows, fewer than one window of lookback "
            f"{spec.lookback} + horizon {spec.horizon} = {window} rows; {fix}."
        )


def _asked_none(spec, name: str) -> bool:
    if name == "validation":
        return spec.validation_split == 0
    return spec.test_split == 0
