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
