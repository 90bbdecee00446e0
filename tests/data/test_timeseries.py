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
