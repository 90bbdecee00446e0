"""The real MNIST, Tiny Shakespeare and CO2 series from ../shared/data (skipped when absent)."""

from __future__ import annotations

import numpy as np
import torch

from brickwork.data import inverse_targets, load_data

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist(real_data):
    b = load_data(
        {
            "dataset": "mnist",
            "data_dir": str(real_data / "mnist"),
            "download": False,
            "validation_split": 0.0,
        }
    )
    assert b.train.x.shape == (60000, 1, 28, 28) and len(b.test) == 10000 and b.val is None
    assert np.bincount(b.test.y.numpy()).tolist() == MNIST_TEST_COUNTS
    assert float(b.train.x.max()) == 1.0 and float(b.train.x.min()) == 0.0
    v = load_data(
        {
            "dataset": "mnist",
            "data_dir": str(real_data / "mnist"),
            "download": False,
            "normalize": True,
        }
    )
    assert len(v.train) + len(v.val) == 60000 and abs(len(v.val) - 6000) <= 10
    assert v.preprocessing["steps"][1]["mean"][0] == pytest_approx(0.1307, 1e-3)


def pytest_approx(value, tol):
    import pytest

    return pytest.approx(value, abs=tol)


def test_real_tiny_shakespeare(real_data):
    b = load_data(
        {
            "dataset": "text",
            "path": str(real_data / "tinyshakespeare" / "input.txt"),
            "seq_len": 256,
        }
    )
    assert len(b.vocab) == 65 + 2  # 65 distinct characters plus <pad> and <unk>
    tokens = b.extra["tokens"]
    assert tokens == 1115394 and len(b.train) == (int(tokens * 0.9) - 1) // 256
    assert b.vocab.decode(b.train.x[0])[:14] == "First Citizen:"
    assert torch.equal(b.train.x[1:, 0], b.train.y[:-1, -1])


def test_real_co2_missing_values(real_data, caplog):
    path = real_data / "timeseries" / "co2.csv"
    b = load_data(
        {
            "dataset": "timeseries",
            "path": str(path),
            "target_columns": "co2",
            "lookback": 52,
            "horizon": 4,
        }
    )
    assert b.extra["missing"]["count"] == 59 and "59 missing values" in caplog.text
    values = inverse_targets(b.extra, b.train.y)
    assert float(values.min()) > 300  # never silently zero: CO2 stays above 300 ppm
    import pytest

    from brickwork.errors import BrickworkError

    with pytest.raises(BrickworkError, match="59 missing values"):
        load_data({"dataset": "timeseries", "path": str(path), "missing": "error"})
    s = load_data(
        {
            "dataset": "timeseries",
            "path": str(real_data / "timeseries" / "sunspots.csv"),
            "lookback": 10,
        }
    )
    assert s.extra["missing"]["count"] == 0 and s.extra["columns"] == ["SUNACTIVITY"]
