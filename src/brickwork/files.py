"""The one atomic writer: every file brickwork writes appears whole or not at all.

Models, checkpoints, metrics.csv, plots, specs, exports and downloads are first written to
a temp file beside the target (`.NAME.PID.RANDOM.tmp`), flushed and fsynced, given the
mode a plain `open(path, "w")` would give (0666 minus the umask), then renamed over the
target, and the folder is fsynced. A reader, a crash or a SIGKILL sees the old file or the
new one, never a mix or an empty file.

A kill between the temp write and the rename leaves a temp file behind; the next write of
the same file, and `remove_stale_temps(folder)` (run when a run resumes), delete the temp
files of writers that are no longer running.

    atomic_write("out/report.json", data)          # bytes in memory
    with atomic_file("data/big.tar.gz") as f:      # streamed
        f.write(chunk)
    with atomic_path("model.onnx") as tmp:         # a library that wants a file name
        torch.onnx.export(model, x, str(tmp))
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from brickwork.errors import BrickworkError

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp(\.[A-Za-z0-9_]+)?$")


@functools.cache
def file_mode() -> int:
    """0666 minus the process umask: the mode `open(path, "w")` gives a new file.

    Read once: reading the umask means setting it, which is not thread-safe.
    """
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """0777 minus the process umask: the mode `os.mkdir` gives a new folder."""
    return 0o777 & ~_umask()


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp(path: Path, keep_suffix: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, name=path.name)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent,
        prefix=f".{path.name}.{os.getpid()}.",
        suffix=".tmp" + (path.suffix if keep_suffix else ""),
    )
    os.close(fd)
    return Path(tmp)


def _commit(tmp: Path, path: Path) -> None:
    """fsync the finished temp file, give it the usual mode and rename it over `path`."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, file_mode())
    os.replace(tmp, path)
    fsync_dir(path.parent)


@contextmanager
def atomic_path(path: str | Path, keep_suffix: bool = True) -> Iterator[Path]:
    """A temp file name for a writer that needs a path; renamed to `path` when the block ends
    without an error, deleted otherwise. The temp name keeps `path`'s suffix, for libraries
    that look at it."""
    path = Path(path)
    tmp = _temp(path, keep_suffix)
    try:
        yield tmp
        _commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to stream into; it becomes `path` when the block ends without an error."""
    with atomic_path(path, keep_suffix=False) as tmp, open(tmp, "wb") as f:
        yield f
        f.flush()


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` so readers see the old file or the new one, never a mix."""
    path = Path(path)
    with atomic_file(path) as f:
        f.write(data)
    return path


def is_temp(path: Path) -> bool:
    """Whether `path` is a temp file of this writer."""
    return _TEMP.match(path.name) is not None


def remove_stale_temps(folder: str | Path, name: str | None = None, recursive=False) -> list[Path]:
    """Delete the temp files under `folder` whose writer process is gone (killed mid-write);
    only those of target `name` if given. Returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for tmp in folder.rglob(".*.tmp*") if recursive else folder.glob(".*.tmp*"):
        found = _TEMP.match(tmp.name)
        if not found or (name is not None and found["name"] != name) or not tmp.is_file():
            continue
        if not _alive(int(found["pid"])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    """Whether process `pid` may still be writing; when unsure, yes (the temp file stays)."""
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would signal it
        return True  # (and in this process another thread may be writing it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # someone else's process, or cannot tell: keep the file
    return True


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (a crash right after it could otherwise lose it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms (Windows) cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def refuse_to_overwrite(output: str | Path, inputs, option: str, force: bool = False) -> None:
    """Raise unless writing `output` leaves every one of `inputs` alone (a folder among them
    covers the files inside it); `force` (the CLI's --force) allows it.

    A command must not replace what it reads: `export RUN -o RUN/model.safetensors` would
    otherwise swap the trained model for the export.
    """
    if force:
        return
    out = Path(output).resolve()
    for item in inputs:
        item = Path(item)
        if not item.exists():
            continue
        inside = item.is_dir() and out.is_relative_to(item.resolve())
        if inside or out == item.resolve() or (out.exists() and os.path.samefile(out, item)):
            raise BrickworkError(
                f"{option} '{str(output)[:200]}' would overwrite "
                f"{'a file in ' if inside else ''}'{str(item)[:200]}', which this command reads; "
                f"choose another {option} path, or add --force to replace it."
            )
