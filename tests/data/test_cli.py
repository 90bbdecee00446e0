"""`brickwork download`: registered through register(subparsers), verifies, reports the folder."""

from __future__ import annotations

import argparse

import pytest

from brickwork.cli import data_cmds
from brickwork.errors import BrickworkError


def parser():
    p = argparse.ArgumentParser()
    data_cmds.register(p.add_subparsers(dest="command"))
    return p


def test_download_verifies_present_files(real_data, capsys):
    args = parser().parse_args(["download", "mnist", "--data-dir", str(real_data / "mnist")])
    assert args.func(args) == 0
    assert "all files verified" in capsys.readouterr().out


def test_download_offline_message(tmp_path, monkeypatch):
    from brickwork.data import download

    def offline(url, timeout):
        raise OSError("no network")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    args = parser().parse_args(["download", "fashion_mnist", "--data-dir", str(tmp_path)])
    with pytest.raises(BrickworkError, match=r"train-images-idx3-ubyte.gz.*every mirror failed"):
        args.func(args)


def test_unknown_and_digits(capsys):
    with pytest.raises(BrickworkError, match="did you mean 'mnist'"):
        args = parser().parse_args(["download", "mnsit"])
        args.func(args)
    args = parser().parse_args(["download", "digits"])
    assert args.func(args) == 0 and "nothing to download" in capsys.readouterr().out


def test_train_data_dir_flag_uses_local_files_without_network(tmp_path, monkeypatch, capsys):
    from brickwork.cli.main import main
    from brickwork.data import download
    from tests.data.makefiles import write_mnist

    def no_network(url, timeout):
        raise AssertionError(f"tried the network: {url}")

    monkeypatch.setattr(download.urllib.request, "urlopen", no_network)
    monkeypatch.setenv("BRICKWORK_DATA", str(tmp_path / "empty-cache"))
    data = write_mnist(tmp_path / "my mnist", n_train=40, n_test=10)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "model:\n  input_shape: [1, 28, 28]\n  layers: [flatten, {type: dense, units: 10}]\n"
        "data: {dataset: mnist, download: false, verify_checksums: false}\n"
        "train: {epochs: 1, batch_size: 16}\n"
    )
    runs = str(tmp_path / "runs")
    assert (
        main(["train", str(spec), "--runs-dir", runs]) == 2
    )  # the empty cache: names the files, no network
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err
    assert (
        main(["train", str(spec), "--data-dir", str(data), "--runs-dir", runs, "--name", "local"])
        == 0
    )
    assert f"data_dir: {data}" in (tmp_path / "runs" / "local" / "spec.yaml").read_text()
