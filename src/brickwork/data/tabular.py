"""CSV tables: strict reading, label encoding, and the `csv` dataset.

A table has a header row. Every error names the file, the line number and the column:
a blank or ragged row, a value that is not a number, a label outside the known classes.
Nothing is skipped silently: missing feature values are an error unless `missing: drop`,
which drops those rows with a logged warning (interpolation is for time series only).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import torch

from brickwork.data.csvfile import (
    Row,
    excerpt,
    is_missing,
    read_table,
    table_options,
    to_number,
)
from brickwork.errors import BrickworkError, did_you_mean

__all__ = ["column_index", "encode_labels", "load_csv", "parse_numbers", "read_table"]
log = logging.getLogger("brickwork.data")
_GROUPED = re.compile(r"[+-]?\d{1,3}([,.' ]\d{3})+([.,]\d+)?|[+-]?\d+,\d+")


def column_index(header: list[str], name, path: Path, field: str) -> int:
    """Position of a column given by name or integer index (negative counts from the end)."""
    if isinstance(name, int) or (
        isinstance(name, str) and name.lstrip("-").isdigit() and name not in header
    ):
        i = int(name)
        if -len(header) <= i < len(header):
            return i % len(header)
        raise BrickworkError(
            f"{field}: column index {i} is outside the {len(header)} columns of '{path}'."
        )
    if name not in header:
        raise BrickworkError(
            f"{field}: '{path}' has no column '{name}'{did_you_mean(name, header)}; its columns "
            f"are {', '.join(header)}."
        )
    return header.index(name)


def parse_numbers(
    rows: list[list[str]],
    cols: list[int],
    header: list[str],
    path: Path,
    allow_missing: bool = False,
) -> np.ndarray:
    """float64 [rows, cols]; missing cells become NaN when allowed, else name line and column.

    Anything but a plain number or a missing marker (empty, NA, ?, ...) is an error naming the
    line, the column and an excerpt: never NaN, never inf, never a half-read number."""
    out = np.empty((len(rows), len(cols)), dtype=np.float64)
    for j, c in enumerate(cols):
        try:  # fast path: numpy parses a clean column at once; odd cells are re-read below
            column = np.array([row[c] for row in rows], dtype=np.float64)
        except ValueError:
            column = np.full(len(rows), np.nan)
        out[:, j] = column
        for i in np.flatnonzero(~np.isfinite(column)):
            row = rows[i]
            value = row[c]
            number = to_number(value)
            if number is not None:
                out[i, j] = number
            elif is_missing(value) and allow_missing:
                out[i, j] = np.nan
            else:
                raise BrickworkError(
                    _not_a_number(value, getattr(row, "line", i + 2), header[c], path)
                )
    return out


def _not_a_number(value: str, line: int, column: str, path: Path) -> str:
    where = f"'{path}' line {line}, column {excerpt(column, 30)}"
    if is_missing(value):
        what = "is empty" if not value.strip() else f"holds {excerpt(value.strip())}"
        return (
            f"{where} {what} (a missing value); fill it, or set "
            "`missing: drop` to drop rows with missing values."
        )
    if _GROUPED.fullmatch(value.strip()):
        return (
            f"{where} holds {excerpt(value)}, a number written with a thousands separator or a "
            "decimal comma; brickwork reads plain numbers such as 1234.5. Convert the column "
            "(and check `delimiter:`)."
        )
    return (
        f"{where} holds {excerpt(value)}, which is not a number; list only numeric columns in "
        "feature_columns (or fix the cell)."
    )


def check_labels(rows: list[list[str]], col: int, header: list[str], path: Path) -> None:
    """Raise BrickworkError naming the line of the first row whose label cell is blank or a
    missing marker (NA, ?, ...): it would otherwise silently become a class of its own."""
    for i, row in enumerate(rows):
        value = row[col].strip()
        if is_missing(value) and value.lower() != "none":
            what = "an empty label" if not value else f"a missing label {excerpt(value)}"
            raise BrickworkError(
                f"'{path}' line {getattr(row, 'line', i + 2)} has {what} (column "
                f"'{header[col][:40]}'); every row needs a label. Fill in the label or delete "
                "the row."
            )


def label_cells(rows: list[list[str]], col: int) -> list[Row]:
    """The label column as one-cell rows that keep their file line (for encode_labels)."""
    out = []
    for i, row in enumerate(rows):
        cell = Row([row[col].strip()])
        cell.line = getattr(row, "line", i + 2)
        out.append(cell)
    return out


def encode_labels(raw: list[Row], raw_test: list[Row] | None, spec, path: Path, column="label"):
    """(y, class_names, y_test) from label cells (see label_cells): class ids for
    classification, floats for regression.

    Classes are `class_names` if given, else the training file's distinct labels (sorted
    numerically when they are all integers). A label outside them names file and line. With
    no `task:`, integer labels mean classification, unless there are so many distinct ones
    that they may be counts or prices: then `task:` must say which.
    """
    raw = [c if isinstance(c, Row) else Row([str(c).strip()]) for c in raw]
    task = spec.task or _guess_task([c[0] for c in raw], path, column)
    if task == "regression":
        y = parse_numbers(raw, [0], [column], path)[:, 0]
        tpath = Path(spec.test_path or path)
        y_test = None if raw_test is None else parse_numbers(raw_test, [0], [column], tpath)[:, 0]
        return y.astype(np.float32), None, None if y_test is None else y_test.astype(np.float32)
    names = list(spec.class_names) if spec.class_names else _sorted_labels({c[0] for c in raw})
    if task == "binary" and len(names) != 2:
        raise BrickworkError(
            f"task binary needs exactly 2 label values, but '{path}' has {len(names)}: "
            f"{', '.join(n[:30] for n in names[:10])}; use task: classification for more classes."
        )
    if len(names) < 2:
        raise BrickworkError(
            f"label column '{column[:40]}' of '{path}' holds a single value "
            f"({excerpt(names[0] if names else '')}) in every row, so there is nothing to "
            "classify; check `label_column:` (default: the last column) or set `task: regression`."
        )
    index = {n: i for i, n in enumerate(names)}

    def ids(cells, where):
        out = np.empty(len(cells), dtype=np.int64)
        for i, cell in enumerate(cells):
            v = cell[0].strip()
            if v not in index:
                raise BrickworkError(
                    f"'{where}' line {cell.line} has label {excerpt(v)}"
                    f"{did_you_mean(v, names)}, which is not one of the classes "
                    f"{', '.join(n[:30] for n in names[:20])}; fix the label or list it in "
                    "class_names."
                )
            out[i] = index[v]
        return out

    y = ids(raw, path)
    y_test = None if raw_test is None else ids(raw_test, spec.test_path)
    return y, names, y_test


MAX_GUESSED_CLASSES = 50


def _guess_task(labels: list[str], path: Path, column: str) -> str:
    values = [to_number(v) for v in labels]
    if any(v is None for v in values):
        return "classification"
    if not all(v.is_integer() for v in values):
        return "regression"
    distinct = len(set(values))
    if distinct > MAX_GUESSED_CLASSES:
        raise BrickworkError(
            f"label column '{column[:40]}' of '{path}' holds {distinct} distinct whole numbers; "
            "that may be classes or a quantity to predict. Set `task: classification` or "
            "`task: regression`."
        )
    return "classification"


def _sorted_labels(labels: set[str]) -> list[str]:
    try:
        return sorted(labels, key=lambda v: int(v))
    except ValueError:
        return sorted(labels)


def classification_split(
    n: int, y: np.ndarray, spec, seed: int, has_test: bool
) -> dict[str, np.ndarray]:
    """Index arrays train/val/test over n rows: limit, then test holdout, then validation."""
    from brickwork.data.splits import holdout, subset

    classify = y.dtype.kind == "i" and spec.stratify
    pool = subset(n, spec.limit, seed, y if classify else None)
    labels = y[pool] if classify else None
    test_fraction = 0.0 if has_test else (0.2 if spec.test_split is None else spec.test_split)
    keep, test = holdout(len(pool), test_fraction, seed + 1, labels)
    val_fraction = (
        spec.validation_split / (1 - test_fraction) if test_fraction else spec.validation_split
    )
    keep_labels = labels[keep] if labels is not None else None
    train, val = holdout(len(keep), min(val_fraction, 0.99), seed + 2, keep_labels)
    return {"train": pool[keep[train]], "val": pool[keep[val]], "test": pool[test]}


def load_csv(spec, seed: int):
    """The `csv` dataset: numeric feature columns and one label column -> [F] float rows."""
    from brickwork.data.bundle import DataBundle, Split
    from brickwork.data.preprocess import apply_steps, make_preprocessing, table_steps

    path = Path(spec.path).expanduser()
    header, rows = read_table(path, **table_options(spec))
    label = column_index(
        header, spec.label_column if spec.label_column is not None else -1, path, "label_column"
    )
    feats = (
        [column_index(header, c, path, "feature_columns") for c in spec.feature_columns]
        if spec.feature_columns
        else [i for i in range(len(header)) if i != label]
    )
    if label in feats:
        raise BrickworkError(
            f"column '{header[label]}' is both the label and a feature; remove it from "
            "feature_columns."
        )
    check_labels(rows, label, header, path)
    x, rows = _features(rows, feats, header, path, spec.missing)
    test_rows = None
    if spec.test_path:
        tpath = Path(spec.test_path).expanduser()
        theader, test_rows = read_table(tpath, **table_options(spec))
        if theader != header:
            raise BrickworkError(
                f"'{tpath}' has columns {theader} but '{path}' has {header}; the test file needs "
                "the same header."
            )
        check_labels(test_rows, label, header, tpath)
        x_test, test_rows = _features(test_rows, feats, header, tpath, spec.missing)
    y, class_names, y_test = encode_labels(
        label_cells(rows, label),
        None if test_rows is None else label_cells(test_rows, label),
        spec,
        path,
        header[label],
    )
    idx = classification_split(len(y), y, spec, seed, has_test=test_rows is not None)
    names = [header[i] for i in feats]
    steps = table_steps(
        torch.from_numpy(x[idx["train"]].astype(np.float32)), spec.scale, spec.normalize, names
    )
    task = spec.task or ("regression" if class_names is None else "classification")

    def make(xs, ys):
        t = torch.from_numpy(ys)
        return Split(
            apply_steps(torch.from_numpy(xs.astype(np.float32)), steps),
            t.float() if task in ("binary", "regression") else t.long(),
        )

    train = make(x[idx["train"]], y[idx["train"]])
    val = make(x[idx["val"]], y[idx["val"]]) if len(idx["val"]) else None
    test = (
        make(x_test, y_test)
        if test_rows is not None
        else (make(x[idx["test"]], y[idx["test"]]) if len(idx["test"]) else None)
    )
    return DataBundle(
        train=train,
        val=val,
        test=test,
        task=task,
        input_shape=[len(feats)],
        num_classes=None if class_names is None else len(class_names),
        class_names=class_names,
        preprocessing=make_preprocessing([len(feats)], steps),
        vocab=None,
        extra={
            "feature_columns": names,
            "label_column": header[label],
            "source": str(path),
        },
    )


def _features(rows, feats, header, path, missing: str):
    """Feature matrix and the rows kept; rows with missing values are dropped only on request."""
    x = parse_numbers(rows, feats, header, path, allow_missing=missing == "drop")
    bad = np.isnan(x).any(1)
    if bad.any():
        log.warning(
            "'%s': dropped %d rows with missing values (missing: drop)", path, int(bad.sum())
        )
        keep = np.flatnonzero(~bad)
        return x[keep], [rows[i] for i in keep]
    return x, rows
