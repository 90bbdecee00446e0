"""Models made in the test run, and the real server started on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from brickwork.models.io import save_model

TEXT = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer\n" * 8


def digits_model(path: Path) -> Path:
    """A small CNN fitted for a few epochs on scikit-learn's 8x8 digits (about 95% test
    accuracy).
    """
    from brickwork.data import load_data
    from brickwork.models import build_model
    from brickwork.train import evaluate, fit

    bundle = load_data({"dataset": "digits", "validation_split": 0.1, "test_split": 0.2}, seed=0)
    model = build_model(
        {
            "name": "digits_test_cnn",
            "input_shape": [1, 8, 8],
            "layers": [
                {
                    "type": "conv2d",
                    "filters": 16,
                    "kernel_size": 3,
                    "padding": "same",
                    "activation": "relu",
                },
                {"type": "maxpool2d", "pool_size": 2},
                "flatten",
                {"type": "dense", "units": 10},
            ],
        }
    )
    fit(
        model,
        bundle.train.x,
        bundle.train.y,
        epochs=6,
        batch_size=32,
        lr=0.01,
        task="classification",
        verbose=0,
    )
    metrics = evaluate(model, bundle.test)
    save_model(
        model,
        path,
        name="digits_test_cnn",
        task="classification",
        preprocessing=bundle.preprocessing,
        class_names=bundle.class_names,
        test_metrics={k: v for k, v in metrics.items() if isinstance(v, float)},
    )
    return path


def char_lm(path: Path) -> Path:
    """An untrained character LSTM language model with its vocabulary in the metadata."""
    from brickwork.data.preprocess import make_preprocessing
    from brickwork.data.text import Vocab
    from brickwork.models import build_model

    vocab = Vocab.build([list(TEXT)])
    model = build_model(
        {
            "name": "tiny_char_lstm",
            "input_shape": [16],
            "layers": [
                {"type": "embedding", "input_dim": len(vocab), "output_dim": 8},
                {"type": "lstm", "units": 16, "return_sequences": True},
                {"type": "dense", "units": len(vocab)},
            ],
        }
    )
    save_model(
        model,
        path,
        name="tiny_char_lstm",
        task="language_model",
        vocab=vocab.to_json(),
        preprocessing=make_preprocessing([16], [], kind="tokens"),
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, *options: str, timeout: float = 90.0):
    """`brickwork serve MODEL` in a child process on a free loopback port: (process, base url)."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "brickwork",
            "serve",
            str(model),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--threads",
            "1",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the server exited with code {proc.returncode}:\n{proc.stdout.read()}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not answer /health within {timeout} s")


def stop_server(proc: subprocess.Popen) -> str:
    """Stop the server (Ctrl-C) and return what it printed."""
    proc.send_signal(2)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.fixture(scope="session")
def digits_file(tmp_path_factory) -> Path:
    return digits_model(tmp_path_factory.mktemp("digits") / "digits.safetensors")


@pytest.fixture(scope="session")
def lm_file(tmp_path_factory) -> Path:
    return char_lm(tmp_path_factory.mktemp("lm") / "lm.safetensors")


@pytest.fixture(scope="module")
def digits_server(digits_file):
    proc, url = start_server(digits_file, "--max-body-mb", "0.5")
    yield url
    out = stop_server(proc)
    assert "Traceback" not in out, out


@pytest.fixture(scope="module")
def lm_server(lm_file):
    proc, url = start_server(lm_file, "--max-prompt", "50", "--max-length", "100")
    yield url
    out = stop_server(proc)
    assert "Traceback" not in out, out


def forecaster(folder: Path) -> Path:
    """An untrained dense forecaster on a generated seasonal series, with its data section
    recorded.
    """
    import numpy as np

    from brickwork.data import load_data
    from brickwork.models import build_model
    from brickwork.spec.data import DataSpec

    t = np.arange(200)
    (folder / "series.csv").write_text(
        "t,value\n" + "".join(f"{i},{10 + np.sin(i / 4) + i / 50:.4f}\n" for i in t)
    )
    data = DataSpec(
        dataset="timeseries",
        path=str(folder / "series.csv"),
        target_columns="value",
        lookback=8,
        horizon=2,
    )
    bundle = load_data(data, seed=0)
    model = build_model(
        {
            "name": "tiny_forecaster",
            "input_shape": [8, 1],
            "layers": ["flatten", {"type": "dense", "units": 2}],
        }
    )
    return save_model(
        model,
        folder / "forecaster.safetensors",
        name="tiny_forecaster",
        task="regression",
        preprocessing=bundle.preprocessing,
        data=data.model_dump(mode="json"),
    )


@pytest.fixture(scope="module")
def forecast_file(tmp_path_factory) -> Path:
    return forecaster(tmp_path_factory.mktemp("series"))


@pytest.fixture(scope="module")
def forecast_server(forecast_file):
    proc, url = start_server(forecast_file)
    yield url
    out = stop_server(proc)
    assert "Traceback" not in out, out
