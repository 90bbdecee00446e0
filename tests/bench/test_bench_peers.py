"""bench/bench_peers.py: one round on a tiny subset, the peers skipped and said so."""

import json

from tests.bench.test_gpu_check import load


def test_one_tiny_round_without_peers_writes_paired_ratios(tmp_path, capsys):
    bench = load("bench_peers")
    out = tmp_path / "peers.json"
    argv = ["--rounds", "1", "--scale", "0.01", "--data-dir", str(tmp_path / "none")]
    assert (
        bench.main([*argv, "--peers-python", str(tmp_path / "no-python"), "--json", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "skipped lightning: no peers Python" in printed and "skipped keras" in printed
    report = json.loads(out.read_text())
    assert report["skipped"] == ["lightning", "keras"]
    assert set(report["models"]) == {"cnn_a", "mlp", "char_lstm"}
    for entry in report["models"].values():
        tools = entry["tools"]
        assert set(tools) == {"raw", "dataloader", "brickwork"}
        assert tools["raw"]["speed_vs_raw_median"] == 1.0
        assert 0 < tools["brickwork"]["speed_vs_raw_median"] < float("inf")
        assert tools["brickwork"]["wall_s_median"] > 0 and tools["brickwork"]["cpu_s_median"] > 0
    assert report["data"]["cnn_a"] == "random images"  # said so, never passed off as MNIST
