"""timeseries: chronological splits, windows inside each part, train-only scaling, missing
values.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from brickwork.data import inverse_targets, load_data
from brickwork.data.timeseries import windows
from brickwork.errors import BrickworkError


def series(tmp_path, n=100, gaps=()):
    lines = ["t,value,temp"] + [f"{i},{'' if i in gaps else i * 1.0},{i % 7}" for i in range(n)]
    p = tmp_path / "s.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_windows_shapes_and_targets():
    s = torch.arange(10.0)[:, None].repeat(1, 2)
    x, y = windows(s, 1, lookback=3, horizon=2)
    assert x.shape == (6, 3, 2) and y.shape == (6, 2)
    assert x[0, :, 0].tolist() == [0, 1, 2] and y[0].tolist() == [3, 4] and y[-1].tolist() == [8, 9]
    x, y = windows(s, 2, 3, 2)
    assert y.shape == (6, 2, 2)


def test_chronological_split_no_crossing_and_train_scaling(tmp_path):
    spec = {
        "dataset": "timeseries",
        "path": str(series(tmp_path)),
        "target_columns": "value",
        "feature_columns": ["temp"],
        "lookback": 5,
        "horizon": 3,
        "validation_split": 0.2,
        "test_split": 0.2,
    }
    b = load_data(spec)
    assert b.input_shape == [5, 2] and b.train.y.shape[1:] == (3,) and b.task == "regression"
    back = {
        name: inverse_targets(b.extra, s.y)
        for name, s in (("train", b.train), ("val", b.val), ("test", b.test))
    }
    assert float(back["train"].max()) == pytest.approx(59, abs=1e-3)  # train = steps 0..59
    assert float(back["val"].min()) == pytest.approx(65, abs=1e-3) and float(
        back["val"].max()
    ) == pytest.approx(79, abs=1e-3)
    assert float(back["test"].min()) == pytest.approx(85, abs=1e-3)
    assert b.extra["target_scaler"]["mean"][0] == pytest.approx(
        29.5
    )  # mean of the training part only
    assert len(b.train) == 60 - 5 - 3 + 1
    raw = np.stack([np.arange(5.0), np.arange(5) % 7], 1)
    assert torch.allclose(
        __import__("brickwork.data", fromlist=["x"]).apply_preprocessing(b.preprocessing, raw),
        b.train.x[0],
        atol=1e-5,
    )


def test_missing_policies(tmp_path, caplog):
    p = series(tmp_path, gaps=(10, 11, 50))
    base = {
        "dataset": "timeseries",
        "path": str(p),
        "target_columns": "value",
        "lookback": 4,
        "validation_split": 0.1,
    }
    with pytest.raises(BrickworkError, match="3 missing values.*value: 3; first at line 12"):
        load_data({**base, "missing": "error"})
    with caplog.at_level(logging.WARNING, logger="brickwork.data"):
        b = load_data(base)
    assert "3 missing values" in caplog.text and b.extra["missing"]["count"] == 3
    filled = inverse_targets(b.extra, b.train.x[:, :, 0])
    assert (
        torch.isfinite(filled).all() and 0 not in filled[10:20].tolist()
    )  # interpolated, never zero-filled
    assert pytest.approx(10.0, abs=1e-3) in filled.flatten().tolist()
    d = load_data({**base, "missing": "drop"})
    assert d.extra["missing"]["rows_dropped"] == 3


def test_too_short_series(tmp_path):
    with pytest.raises(BrickworkError, match=r"training part .* has 14 rows.*lookback 30 \+"):
        load_data(
            {
                "dataset": "timeseries",
                "path": str(series(tmp_path, n=20)),
                "target_columns": "value",
                "lookback": 30,
            }
        )


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def wide_file(tmp_path, years=12, last_months=12, annual=False):
    lines = ["Year," + ",".join(MONTHS) + (",Annual" if annual else "")]
    for y in range(years):
        n = 12 if y < years - 1 else last_months
        cells = [f"{100 * y + m}" if m < n else "" for m in range(12)]
        lines.append(f"{1990 + y}," + ",".join(cells) + (",0" if annual else ""))
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_wide_layout_reads_periods_row_by_row(tmp_path):
    spec = {"dataset": "timeseries", "layout": "wide", "lookback": 6, "horizon": 2}
    b = load_data({**spec, "path": str(wide_file(tmp_path, last_months=5))})
    steps = b.extra["steps"]
    assert steps["train"] + steps["val"] + steps["test"] == 11 * 12 + 5  # last year cut at May
    assert b.extra["time"] == {
        "column": "Year",
        "frequency": "monthly",
        "season": 12,
        "wide_columns": MONTHS,
    }
    first = inverse_targets(b.extra, b.train.x[0, :, 0])
    assert first.tolist() == pytest.approx([0, 1, 2, 3, 4, 5])  # Jan..Jun of the first year
    assert inverse_targets(b.extra, b.train.y[6]).tolist() == pytest.approx([100, 101])
    with pytest.raises(BrickworkError, match="'Annual' .* looks like a summary"):
        load_data({**spec, "path": str(wide_file(tmp_path, annual=True))})
    b = load_data({**spec, "path": str(wide_file(tmp_path, annual=True)), "target_columns": MONTHS})
    assert b.extra["time"]["season"] == 12


def test_several_numeric_columns_need_a_named_target(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(80)))
    with pytest.raises(BrickworkError, match=r"2 numeric columns \(a, b\) and no target.*wide"):
        load_data({"dataset": "timeseries", "path": str(path), "lookback": 4})
    path.write_text("date,sales\n" + "".join(f"2020-01-{1 + i % 28:02d},{i}\n" for i in range(28)))
    b = load_data(
        {"dataset": "timeseries", "path": str(path), "lookback": 3, "validation_split": 0.2}
    )
    assert b.extra["target_columns"] == ["sales"] and b.extra["time"]["column"] == "date"
    assert b.extra["time"]["frequency"] == "daily" and b.extra["time"]["season"] == 7


def test_split_shorter_than_a_window_is_an_error_naming_it(tmp_path):
    base = {
        "dataset": "timeseries",
        "path": str(series(tmp_path, n=100)),
        "target_columns": "value",
    }
    with pytest.raises(
        BrickworkError, match=r"validation part .* has 10 rows.*lookback 12 \+ horizon 1 = 13"
    ):
        load_data({**base, "lookback": 12})
    b = load_data({**base, "lookback": 12, "validation_split": 0})
    assert b.val is None and len(b.test) == 20 - 13 + 1
    with pytest.raises(BrickworkError, match=r"test part .* has 20 rows.*test_split: 0"):
        load_data({**base, "lookback": 20, "validation_split": 0})


def test_gzipped_semicolon_series_with_yearly_time_column(tmp_path):
    import gzip

    path = tmp_path / "spots.csv.gz"
    text = "YEAR;SUNACTIVITY\r\n" + "".join(f"{1700 + i};{i % 11}\r\n" for i in range(120))
    path.write_bytes(gzip.compress(text.encode()))
    b = load_data({"dataset": "timeseries", "path": str(path), "lookback": 8})
    assert b.extra["target_columns"] == ["SUNACTIVITY"]
    assert b.extra["time"] == {"column": "YEAR", "frequency": "yearly", "season": None}
