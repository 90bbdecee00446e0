"""`brickwork download`: the listing, --all, names that need no download, the progress bar.

Mirrors are file:// URLs in a temp folder; the network is never used.
"""

from __future__ import annotations

import hashlib

import pytest
from rich.console import Console

from brickwork.cli.main import main
from brickwork.data import download as dl


@pytest.fixture
def toy_resources(tmp_path, monkeypatch):
    """Two small fake downloadable datasets served from a file:// mirror."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    resources = {}
    for name, payload in (("alpha", b"a" * 3000), ("beta", b"b" * 10)):
        (mirror / f"{name}.bin").write_bytes(payload)
        md5 = hashlib.md5(payload).hexdigest()
        resources[name] = (dl.Resource(f"{name}.bin", md5, (mirror.as_uri() + "/",), len(payload)),)
    monkeypatch.setattr(dl, "RESOURCES", resources)
    monkeypatch.setenv("BRICKWORK_DATA", str(tmp_path / "cache"))
    return resources


def test_no_name_lists_every_dataset_and_where_it_is(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BRICKWORK_DATA", str(tmp_path / "cache"))
    (tmp_path / "cache" / "tinyshakespeare").mkdir(parents=True)
    (tmp_path / "cache" / "tinyshakespeare" / "input.txt").write_text("x")
    assert main(["download"]) == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in capsys.readouterr().out.splitlines()}
    assert set(rows) == {"digits", "co2", "sunspots", *dl.RESOURCES}
    assert rows["mnist"][1:] == ["11.6 MB", str(tmp_path / "cache" / "mnist"), "missing"]
    assert rows["tinyshakespeare"][3] == "present" and rows["co2"][3] == "built in"
    assert main(["download", "--list", "mnist"]) == 2


def test_all_fetches_every_dataset_into_its_own_folder(tmp_path, toy_resources, capsys):
    assert main(["download", "--all", "--data-dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "d" / "alpha" / "alpha.bin").read_bytes() == b"a" * 3000
    assert (tmp_path / "d" / "beta" / "beta.bin").read_bytes() == b"b" * 10
    assert "downloading alpha.bin (3 KB)" in out and "beta: all files verified" in out
    assert main(["download", "--data-dir", str(tmp_path / "d")]) == 0  # the listing finds them
    assert capsys.readouterr().out.count("present") == 2
    assert main(["download", "alpha"]) == 0  # one name, no --data-dir: the cache
    assert (tmp_path / "cache" / "alpha" / "alpha.bin").is_file()


def test_progress_bar_on_a_terminal(tmp_path, toy_resources, monkeypatch, capsys):
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    assert main(["download", "alpha", "beta", "--data-dir", str(tmp_path / "t")]) == 0
    captured = capsys.readouterr()
    assert "alpha.bin" in captured.err and "3.0/3.0 kB" in captured.err
    assert "downloading" not in captured.out and (tmp_path / "t" / "beta" / "beta.bin").is_file()


def test_built_in_names_need_nothing_and_typos_suggest(capsys):
    assert main(["download", "co2", "sunspots", "digits"]) == 0
    out = capsys.readouterr().out
    assert "co2: ships inside brickwork" in out and "digits: ships with scikit-learn" in out
    assert main(["download", "tinyshakespear"]) == 2
    assert "did you mean 'tinyshakespeare'" in capsys.readouterr().err


def test_offline_download_names_the_dataset(tmp_path, monkeypatch, capsys):
    def offline(url, timeout):
        raise OSError("no network")

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    monkeypatch.setenv("BRICKWORK_DATA", str(tmp_path))
    assert main(["download", "tinyshakespeare"]) == 2
    err = capsys.readouterr().err
    assert "dataset 'tinyshakespeare' needs input.txt" in err and "Traceback" not in err


def test_all_fetches_what_it_can_then_names_every_failure(tmp_path, toy_resources, capsys):
    broken = dl.Resource("gamma.bin", "0" * 32, ("file:///nonexistent/",), 5)
    toy_resources["gamma"] = (broken,)
    toy_resources["delta"] = (dl.Resource("delta.bin", "0" * 32, ("file:///nonexistent/",), 5),)
    assert main(["download", "--all", "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "2 datasets could not be fetched (gamma, delta)" in err and "[gamma] dataset" in err
    assert (tmp_path / "d" / "beta" / "beta.bin").is_file()  # the others were fetched
