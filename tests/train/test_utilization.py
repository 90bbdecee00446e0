"""FLOP/s utilization: the FLOP arithmetic by hand, the cached CPU probe (and a damaged cache
measured again), the GPU table, speed.csv and the epoch line of a short fit."""

import csv
import json

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.models import Sequential, summary
from brickwork.train import utilization
from brickwork.train.run import fit_run
from brickwork.train.utilization import cpu_key, cpu_peak, gpu_peak, model_flops, read_speed
from tests.train.helpers import blobs


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "brickwork" / "cpu_peak.json"


@pytest.fixture
def probes(monkeypatch):
    """Count the probe's runs; each returns 1e11 FLOP/s."""
    calls = []
    monkeypatch.setattr(utilization, "probe_matmul", lambda p: calls.append(p) or 1e11)
    return calls


def test_training_flops_are_six_times_the_forward_macs_of_a_tiny_mlp():
    model = Sequential(
        [{"type": "dense", "units": 32, "activation": "relu"}, {"type": "dense", "units": 3}],
        input_shape=[10],
    )
    macs = 10 * 32 + 32 * 3  # 416 multiply-accumulates per sample
    assert model_flops(model) == {"macs": macs, "forward_flops": 2 * macs, "train_flops": 6 * macs}
    assert summary(model)["train_flops"] == 2496
    assert model_flops(torch.nn.Linear(3, 2)) is None  # no MAC count for your own module


def test_probe_is_cached_and_read_back(cache, probes):
    first = cpu_peak("fp32")
    assert probes == ["fp32"] and first["flops"] == 1e11 and str(cache) in first["what"]
    assert json.loads(cache.read_text())[cpu_key()] == {"fp32": 1e11}
    assert cpu_peak("fp32")["flops"] == 1e11 and probes == ["fp32"]  # read, not measured
    cpu_peak("bf16")
    assert probes == ["fp32", "bf16"]
    assert json.loads(cache.read_text())[cpu_key()] == {"fp32": 1e11, "bf16": 1e11}
    torch.set_num_threads(torch.get_num_threads())  # same key: still cached
    assert cpu_peak("bf16")["flops"] == 1e11 and len(probes) == 2


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xffnot json",
        b"[1, 2]",
        b'{"KEY": {"fp32": -5}}',
        b'{"KEY": {"fp32": "fast"}}',
        b'{"KEY": {"fp32": NaN}}',
        b'{"KEY": "x"}',
        b"",
    ],
)
def test_damaged_cache_is_measured_again_not_trusted(cache, probes, content):
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content.replace(b"KEY", cpu_key().encode()))
    assert cpu_peak("fp32")["flops"] == 1e11 and probes == ["fp32"]
    assert json.loads(cache.read_text())[cpu_key()]["fp32"] == 1e11  # rewritten, valid


def test_other_thread_count_or_torch_is_another_key(cache, probes, monkeypatch):
    cpu_peak("fp32")
    monkeypatch.setattr(utilization, "cpu_key", lambda: "other cpu | threads 64 | torch 9")
    cpu_peak("fp32")
    assert probes == ["fp32", "fp32"] and len(json.loads(cache.read_text())) == 2


def test_real_probe_measures_a_plausible_rate():
    rate = utilization.probe_matmul("fp32", seconds=0.05, n=256)
    assert 1e8 < rate < 1e15


def test_gpu_table_matches_names_and_precisions(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    assert gpu_peak("NVIDIA H200", "bf16")["flops"] == 989e12
    assert gpu_peak("NVIDIA H100 PCIe", "bf16")["flops"] == 756e12
    assert gpu_peak("NVIDIA H100 80GB HBM3", "fp32")["flops"] == 67e12
    assert gpu_peak("NVIDIA A100-SXM4-80GB", "bf16")["flops"] == 312e12
    assert gpu_peak("NVIDIA L40S", "fp32")["flops"] == 91.6e12
    assert gpu_peak("NVIDIA L4", "bf16")["flops"] == 121e12
    assert gpu_peak("Tesla T4", "bf16") is None  # no bf16 tensor cores: no peak claimed
    assert gpu_peak("NVIDIA A10G", "bf16") is None  # not the A10 (nor an A100)
    assert gpu_peak("Some Future GPU", "fp32") is None
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # torch's default
    assert gpu_peak("NVIDIA A100-SXM4-80GB", "fp32", convolutions=True)["flops"] == 156e12
    assert "tf32" in gpu_peak("NVIDIA A100-SXM4-80GB", "fp32", convolutions=True)["what"]
    # cuDNN's TF32 speeds convolutions only: an MLP in fp32 is held to the fp32 peak
    assert gpu_peak("NVIDIA A100-SXM4-80GB", "fp32")["flops"] == 19.5e12


def _mlp():
    return Sequential(
        [{"type": "dense", "units": 256, "activation": "relu"}, {"type": "dense", "units": 3}],
        input_shape=[64],
    )


def test_short_fit_reports_a_fraction_between_0_and_1(tmp_path, cache, capsys):
    x, y = blobs(n=1024, features=64)
    run = tmp_path / "run"
    fit_run(_mlp(), x, y, run_dir=run, epochs=2, batch_size=64, verbose=2, device="cpu")
    line = capsys.readouterr().out
    assert "FLOP/s" in line and "% of peak" in line
    rows = list(csv.DictReader((run / "speed.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for r in rows:
        achieved = float(r["samples_per_s"]) * 6 * (64 * 256 + 256 * 3)
        assert float(r["flops_per_s"]) == pytest.approx(achieved, rel=1e-4)
        assert 0 < float(r["utilization"]) <= 1
        assert float(r["peak_flops_per_s"]) == pytest.approx(cpu_peak("fp32")["flops"], rel=1e-5)
    assert "GFLOP/s" in line or "MFLOP/s" in line
    fit_run(_mlp(), x, y, run_dir=run, resume=True, epochs=3, verbose=0, device="cpu")
    assert [r["epoch"] for r in csv.DictReader((run / "speed.csv").open())] == ["1", "2", "3"]
    assert read_speed(run)["epoch"] == 3


def test_read_speed_of_a_run_without_speed_csv_is_a_user_error(tmp_path):
    with pytest.raises(BrickworkError, match="speed.csv"):
        read_speed(tmp_path)
    (tmp_path / "speed.csv").write_text("epoch,seconds\n1,fast\n")
    with pytest.raises(BrickworkError, match="not a number"):
        read_speed(tmp_path)


def test_a_language_model_counts_sequences_for_flops_and_shows_tokens_per_s(tmp_path, capsys):
    """MACs are per sample (a whole sequence); the metrics of a language model count tokens.
    Counting tokens as samples once gave an LSTM 37x its device's peak."""
    steps, vocab = 20, 11
    model = Sequential(
        [
            {"type": "embedding", "input_dim": vocab, "output_dim": 8},
            {"type": "lstm", "units": 16, "return_sequences": True},
            {"type": "dense", "units": vocab},
        ],
        input_shape=[steps],
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (256, steps), generator=g)
    y = torch.randint(0, vocab, (256, steps), generator=g)
    run = tmp_path / "run"
    fit_run(model, x, y, run_dir=run, epochs=1, batch_size=16, verbose=2, device="cpu")
    line = capsys.readouterr().out
    assert "tokens/s" in line and "samples/s" not in line
    row = next(csv.DictReader((run / "speed.csv").open()))
    per_sequence = 6 * summary(model)["total_macs"]
    achieved = float(row["samples_per_s"]) * per_sequence  # speed.csv holds 6 digits
    assert float(row["flops_per_s"]) == pytest.approx(achieved, rel=1e-4)
    assert float(row["samples_per_s"]) < 256 / float(row["seconds"]) * 1.2  # sequences, not tokens
    assert 0 < float(row["utilization"]) <= 1
