"""bench/gpu_check.py runs every part on CPU (--device cpu --quick) and writes its report."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_mnist(folder: Path, n: int) -> None:
    """Random digits in the four idx .gz files, so the check never needs the real download."""
    import gzip

    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        header = np.array([2051, n, 28, 28], ">i4").tobytes()
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(header + images.tobytes())
        )
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        header = np.array([2049, n], ">i4").tobytes()
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(header + labels.tobytes())
        )


def test_every_part_runs_on_cpu_and_writes_json_and_markdown(tmp_path):
    gpu_check = load("gpu_check")
    fake_mnist(tmp_path, 2100)
    out = tmp_path / "out"
    args = ["--device", "cpu", "--quick", "--no-compile", "--data-dir", str(tmp_path)]
    code = gpu_check.main([*args, "--out", str(out)])
    report = json.loads((out / "gpu_check.json").read_text())
    errors = {k: v["error"] for k, v in report["parts"].items() if "error" in v}
    assert code == 0 and not errors, errors
    assert set(report["parts"]) == set(gpu_check.PARTS)
    mnist = report["parts"]["mnist_99"]
    assert mnist["reached_99"] is False and 0 <= mnist["epochs"][0]["test_acc"] <= 1
    assert report["parts"]["char_models"]["lstm_tokens_per_s"] > 0
    assert report["parts"]["fit_vs_hand"]["speed_vs_hand_best"] > 0
    assert report["parts"]["ddp"]["world_size"] == 1
    assert "# GPU check on cpu" in (out / "gpu_check.md").read_text()


def test_missing_mnist_is_reported_not_faked(tmp_path):
    gpu_check = load("gpu_check")
    out = tmp_path / "out"
    code = gpu_check.main(
        [
            "--device",
            "cpu",
            "--quick",
            "--data-dir",
            str(tmp_path),
            "--parts",
            "mnist_99",
            "--out",
            str(out),
        ]
    )
    assert code == 1
    assert (
        "no MNIST at"
        in json.loads((out / "gpu_check.json").read_text())["parts"]["mnist_99"]["error"]
    )


@pytest.fixture(autouse=True)
def _cpu_threads(monkeypatch):
    """The DDP part's torchrun worker takes 2 threads, not one per core of a shared box."""
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
