"""CSV tables: strict reading, label encoding, and the `csv` dataset.

A table has a header row. Every error names the file, the line number and the column:
a blank or ragged row, a value that is not a number, a label outside the known classes.
Nothing is skipped silently: missing feature values are an error unless `missing: drop`,
which drops those rows with a logged warning (interpolation is for time series only).
"""

from __future__ import annotations

import codecs
import csv
import logging
from pathlib import Path

import numpy as np
import torch

from brickwork.errors import BrickworkError, did_you_mean

log = logging.getLogger("brickwork.data")
MISSING = {"", "na", "nan", "null", "none", "?"}


def check_encoding(encoding: str, path: Path) -> None:
    """Raise BrickworkError for a spec `encoding:` Python does not know (instead of a
    LookupError).
    """
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise BrickworkError(
            f"cannot read '{path}': `encoding: {encoding}` is not a text encoding Python knows; "
            "set `encoding:` to the file's encoding, e.g. utf-8, latin-1 or cp1252."
        ) from None


def read_table(path: Path, encoding: str = "utf-8") -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV file; blank or ragged rows raise an error naming the line."""
    if not path.is_file():
        raise BrickworkError(f"CSV file '{path}' does not exist; set `path:` to your file.")
    check_encoding(encoding, path)
    try:
        with open(path, newline="", encoding=encoding) as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise BrickworkError(
            f"'{path}' is not valid {encoding} (byte offset {e.start}); set `encoding:` to the "
            "file's encoding."
        ) from None
    except csv.Error as e:
        raise BrickworkError(f"'{path}' is not a valid CSV file: {e}.") from None
    while rows and not rows[-1]:
        rows.pop()  # trailing blank lines
    if not rows:
        raise BrickworkError(f"'{path}' is empty; expected a header row, then one row per sample.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise BrickworkError(f"'{path}' has a header but no data rows.")
    for i, row in enumerate(body):
        if not row:
            raise BrickworkError(
                f"'{path}' line {i + 2} is blank; remove blank lines between rows."
            )
        if len(row) != len(header):
            raise BrickworkError(
                f"'{path}' line {i + 2} has {len(row)} fields but the header has {len(header)} "
                f"({', '.join(header)}); fix the row (a stray comma or an unquoted text field?)."
            )
    return header, body


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
    """float64 [rows, cols]; missing cells become NaN when allowed, else name line and column."""
    out = np.empty((len(rows), len(cols)), dtype=np.float64)
    for j, c in enumerate(cols):
        column = [r[c].strip() for r in rows]
        for i, value in enumerate(column):
            try:
                out[i, j] = float(value)
            except ValueError:
                if value.lower() in MISSING:
                    if allow_missing:
                        out[i, j] = np.nan
                        continue
                    raise BrickworkError(
                        f"'{path}' line {i + 2}, column '{header[c]}' is empty (missing value); "
                        "fill it, "
                        f"or set `missing: drop` to drop rows with missing values."
                    ) from None
                raise BrickworkError(
                    f"'{path}' line {i + 2}, column '{header[c]}' holds '{value}', which is not a "
                    "number; "
                    f"list only numeric columns in feature_columns."
                ) from None
    return out


def check_labels(rows: list[list[str]], col: int, header: list[str], path: Path) -> None:
    """Raise BrickworkError naming the line of the first row whose label cell is blank.

    Without this check a blank cell would silently become a class named ''.
    """
    for i, row in enumerate(rows):
        if not row[col].strip():
            raise BrickworkError(
                f"'{path}' line {i + 2} has an empty label (column '{header[col]}'); every row "
                "needs a label. "
                "Fill in the label or delete the row."
            )


def encode_labels(raw: list[str], raw_test: list[str] | None, spec, path: Path):
    """(y, class_names, y_test): class ids for classification, floats for regression.

    Classes are `class_names` if given, else the training file's distinct labels (sorted
    numerically when they are all integers). A label outside them names file and line.
    """
    raw = [r.strip() for r in raw]
    task = spec.task or _guess_task(raw)
    if task == "regression":
        y = parse_numbers([[v] for v in raw], [0], ["label"], path)[:, 0]
        y_test = (
            None
            if raw_test is None
            else parse_numbers(
                [[v.strip()] for v in raw_test], [0], ["label"], Path(spec.test_path)
            )[:, 0]
        )
        return y.astype(np.float32), None, None if y_test is None else y_test.astype(np.float32)
    names = list(spec.class_names) if spec.class_names else _sorted_labels(set(raw))
    if task == "binary" and len(names) != 2:
        raise BrickworkError(
            f"task binary needs exactly 2 label values, but '{path}' has {len(names)}: "
            f"{', '.join(names[:10])}; "
            "use task: classification for more classes."
        )
    index = {n: i for i, n in enumerate(names)}

    def ids(values, where):
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            v = v.strip()
            if v not in index:
                raise BrickworkError(
                    f"'{where}' line {i + 2} has label '{v}'{did_you_mean(v, names)}, which is "
                    "not one of "
                    f"the classes {', '.join(names[:20])}; fix the label or list it in class_names."
                )
            out[i] = index[v]
        return out

    y = ids(raw, path)
    y_test = None if raw_test is None else ids(raw_test, spec.test_path)
    return y, names, y_test


def _guess_task(labels: list[str]) -> str:
    try:
        values = [float(v) for v in labels]
    except ValueError:
        return "classification"
    return "classification" if all(v.is_integer() for v in values) else "regression"


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
    from brickwork.data.preprocess import apply_steps, make_preprocessing, normalize_step

    path = Path(spec.path).expanduser()
    header, rows = read_table(path, spec.encoding)
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
        theader, test_rows = read_table(tpath, spec.encoding)
        if theader != header:
            raise BrickworkError(
                f"'{tpath}' has columns {theader} but '{path}' has {header}; the test file needs "
                "the same header."
            )
        check_labels(test_rows, label, header, tpath)
        x_test, test_rows = _features(test_rows, feats, header, tpath, spec.missing)
    y, class_names, y_test = encode_labels(
        [r[label] for r in rows],
        None if test_rows is None else [r[label] for r in test_rows],
        spec,
        path,
    )
    idx = classification_split(len(y), y, spec, seed, has_test=test_rows is not None)
    train_x = torch.from_numpy(x[idx["train"]].astype(np.float32))
    steps = []
    if spec.scale:
        lo, hi = train_x.min(0).values, train_x.max(0).values
        steps.append(
            normalize_step(
                lo.tolist(), torch.where(hi > lo, hi - lo, torch.ones_like(hi)).tolist(), -1
            )
        )
    if spec.normalize:
        from brickwork.data.preprocess import image_steps

        steps += image_steps(apply_steps(train_x, steps), None, spec.normalize, axis=-1)
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
            "feature_columns": [header[i] for i in feats],
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
