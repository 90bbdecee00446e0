"""The one atomic writer: whole files or none, the umask's mode, no temp files left behind."""

import os
import stat
import subprocess
import sys

import pytest

from brickwork.errors import BrickworkError
from brickwork.files import (
    atomic_file,
    atomic_path,
    atomic_write,
    file_mode,
    is_temp,
    refuse_to_overwrite,
    remove_stale_temps,
)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_write_replaces_whole_and_follows_the_umask(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    assert file_mode() == 0o666 & ~umask
    path = atomic_write(tmp_path / "sub" / "a.bin", b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two" and mode(path) == file_mode()
    with atomic_path(tmp_path / "model.onnx") as tmp:
        assert tmp.suffix == ".onnx" and is_temp(tmp)
        tmp.write_bytes(b"exported")
    assert mode(tmp_path / "model.onnx") == file_mode()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.bin", "model.onnx", "sub"]


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path):
    path = atomic_write(tmp_path / "data.csv", b"old")
    with pytest.raises(RuntimeError), atomic_file(path) as f:
        f.write(b"half of the new")
        raise RuntimeError("killed")
    with pytest.raises(ValueError), atomic_path(tmp_path / "x.onnx") as tmp:
        tmp.write_bytes(b"partial")
        raise ValueError
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.csv"]


def test_stale_temps_of_dead_writers_are_removed(tmp_path):
    stale = tmp_path / f".metrics.csv.{dead_pid()}.abc123.tmp"
    stale.write_bytes(b"half")
    live = tmp_path / f".metrics.csv.{os.getppid()}.def456.tmp"  # a running process: kept
    live.write_bytes(b"in progress")
    other = tmp_path / f".model.safetensors.{dead_pid()}.zz.tmp.safetensors"
    other.write_bytes(b"half")
    user = tmp_path / ".notes.tmp"  # not a brickwork temp name: never touched
    user.write_bytes(b"mine")
    atomic_write(tmp_path / "metrics.csv", b"epoch\n")  # the next write of the same file
    assert not stale.exists() and live.exists() and other.exists()
    nested = tmp_path / "checkpoints" / f".last.safetensors.{dead_pid()}.q1.tmp"
    nested.parent.mkdir()
    nested.write_bytes(b"")
    removed = remove_stale_temps(tmp_path, recursive=True)
    assert set(removed) == {other, nested}
    assert live.exists() and user.exists()


def test_refuse_to_overwrite_inputs(tmp_path):
    model = atomic_write(tmp_path / "run" / "model.safetensors", b"weights")
    data = tmp_path / "images"
    data.mkdir()
    os.link(model, tmp_path / "hardlink.bin")
    inputs = [model, data, tmp_path / "missing.csv"]
    for out in (model, tmp_path / "run" / ".." / "run" / "model.safetensors", data / "x.png"):
        with pytest.raises(BrickworkError, match=r"-o .* would overwrite .*--force"):
            refuse_to_overwrite(out, inputs, "-o")
    with pytest.raises(BrickworkError, match="would overwrite"):
        refuse_to_overwrite(tmp_path / "hardlink.bin", inputs, "-o")
    refuse_to_overwrite(model, inputs, "-o", force=True)
    refuse_to_overwrite(tmp_path / "run" / "model.onnx", inputs, "-o")
    refuse_to_overwrite(tmp_path / "missing.csv", inputs, "-o")
