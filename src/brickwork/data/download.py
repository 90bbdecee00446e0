"""Fetch dataset files into a cache directory, verified by MD5, never half-written.

Each file is streamed to a temp file beside its destination, checked against the published
MD5, fsynced and renamed into place with os.replace, so a crash or a bad mirror can never
leave a file that looks complete. Mirrors are tried in order; when all fail (or downloads
are off) the error names the exact files and the folder to put them in.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from brickwork.errors import BrickworkError
from brickwork.files import atomic_file

CHUNK = 1 << 20
TIMEOUT_S = 30


@dataclass(frozen=True)
class Resource:
    """One file of a dataset: its name, published MD5, the base URLs that serve it, its size."""

    filename: str
    md5: str
    mirrors: tuple[str, ...]
    size: int | None = None  # bytes, for listings and progress bars


# Mirrors in the order tried; every one serves byte-identical files (checked by MD5 anyway).
# yann.lecun.com is the original MNIST source but often refuses downloads, so it comes last.
_MNIST = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)
_FASHION = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
_CIFAR = ("https://www.cs.toronto.edu/~kriz/",)
_IMDB = ("https://ai.stanford.edu/~amaas/data/sentiment/",)
_SHAKESPEARE = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",)

RESOURCES: dict[str, tuple[Resource, ...]] = {
    "mnist": (
        Resource("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", _MNIST, 9912422),
        Resource("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", _MNIST, 28881),
        Resource("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", _MNIST, 1648877),
        Resource("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", _MNIST, 4542),
    ),
    "fashion_mnist": (
        Resource(
            "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", _FASHION, 26421880
        ),
        Resource("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", _FASHION, 29515),
        Resource(
            "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", _FASHION, 4422102
        ),
        Resource("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", _FASHION, 5148),
    ),
    "cifar10": (
        Resource("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", _CIFAR, 170498071),
    ),
    # The char-rnn corpus (public-domain Shakespeare), as used by char-rnn and nanoGPT.
    "tinyshakespeare": (
        Resource("input.txt", "6fb458f1232090904fb40fe944165e91", _SHAKESPEARE, 1115394),
    ),
    # Large Movie Review Dataset v1.0 (Maas et al., 2011): 25,000 train + 25,000 test reviews.
    "imdb": (Resource("aclImdb_v1.tar.gz", "7c2ac02c03563afcf9b574c7e56c153a", _IMDB, 84125825),),
}
# Small public-domain series shipped inside the package (brickwork/data/embedded/, unchanged
# copies of the statsmodels 0.15.0 CSVs): they need no network and no `data_dir`.
EMBEDDED: dict[str, Resource] = {
    "co2": Resource("co2.csv", "5abd47e6d4435255e0b3ab2c333502ba", (), 33974),
    "sunspots": Resource("sunspots.csv", "59e2e1f967d47313166dc1b035c0b2bd", (), 2944),
}
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"


def cache_dir(dataset: str) -> Path:
    """`$BRICKWORK_DATA/<dataset>`, default `~/.cache/brickwork/data/<dataset>`."""
    root = os.environ.get("BRICKWORK_DATA") or Path.home() / ".cache" / "brickwork" / "data"
    return Path(root).expanduser() / dataset


def md5sum(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fetch(
    url: str,
    dest: Path,
    md5: str | None,
    opener=None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Stream `url` to a temp file in dest's folder, check MD5, fsync, rename onto `dest`
    (brickwork.files.atomic_file: the file gets the umask's usual mode).

    `progress`, when given, is called with the bytes received so far after each chunk.

    A checksum mismatch deletes the temp file and raises BrickworkError; network errors
    (OSError, or http.client.HTTPException such as IncompleteRead when a server cuts off
    mid-file) delete the temp file and propagate so the caller can try the next mirror.
    """
    opener = opener or urllib.request.urlopen
    h = hashlib.md5(usedforsecurity=False)
    with atomic_file(dest) as out, opener(url, timeout=TIMEOUT_S) as response:
        done = 0
        while chunk := response.read(CHUNK):
            h.update(chunk)
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
        if md5 is not None and h.hexdigest() != md5:
            raise BrickworkError(
                f"downloaded '{url}' but its MD5 is {h.hexdigest()}, expected {md5}; the file is "
                "corrupt or the mirror serves a different version. It was deleted; try again, "
                f"or place a good copy at '{dest}'."
            )
    return dest


def verify(path: Path, resource: Resource) -> None:
    """Raise BrickworkError naming the file when its MD5 differs from the published one."""
    got = md5sum(path)
    if got != resource.md5:
        raise BrickworkError(
            f"'{path}' has MD5 {got} but the published {resource.filename} has {resource.md5}; "
            "the file is "
            "truncated or corrupt. Delete it and download again (brickwork download), or replace "
            "it with a good copy."
        )


def ensure_files(
    dataset: str,
    data_dir: str | Path | None = None,
    download: bool = True,
    opener=None,
    resources: tuple[Resource, ...] | None = None,
    verify_present: bool = True,
    progress: Callable[[Resource, int], None] | None = None,
) -> Path:
    """The folder holding every file of `dataset`, downloading what is missing.

    With `data_dir` the files must already be there, directly or in `data_dir/<dataset>/`
    (the layout `brickwork download --all --data-dir` writes); nothing is downloaded into a
    user's own folder unless `download` is on. Otherwise the cache dir is used. Present files
    are checked against their MD5 once and a marker is written, so later runs skip the
    hashing; `verify_present=False` skips that check for files you made yourself in the same
    format (downloads are always verified). `progress(resource, bytes_so_far)` follows each
    download.
    """
    resources = resources if resources is not None else RESOURCES[dataset]
    folder = dataset_folder(dataset, data_dir, resources)
    missing = [r for r in resources if not (folder / r.filename).is_file()]
    if missing and not download:
        raise BrickworkError(
            _missing_message(dataset, folder, missing, "downloads are off (download: false)")
        )
    for r in missing:
        failures: list[str] = []
        on_chunk = None if progress is None else (lambda done, r=r: progress(r, done))
        for base in r.mirrors:
            url = base + r.filename
            try:
                fetch(url, folder / r.filename, r.md5, opener=opener, progress=on_chunk)
                break
            except BrickworkError:
                raise
            except (OSError, ValueError, http.client.HTTPException) as e:
                failures.append(f"{url}: {e}")
        else:
            still = [m for m in missing if not (folder / m.filename).is_file()]
            raise BrickworkError(
                _missing_message(
                    dataset, folder, still, "every mirror failed (" + "; ".join(failures) + ")"
                )
            )
    for r in resources if verify_present else ():
        _verify_once(folder / r.filename, r)
    return folder


def dataset_folder(
    dataset: str, data_dir: str | Path | None, resources: tuple[Resource, ...] | None = None
) -> Path:
    """Where `dataset`'s files are read from: `data_dir`, or `data_dir/<dataset>` when that
    one has every file and `data_dir` itself does not, else the cache dir."""
    if not data_dir:
        return cache_dir(dataset)
    root = Path(data_dir).expanduser()
    resources = resources if resources is not None else RESOURCES[dataset]

    def complete(folder: Path) -> bool:
        return all((folder / r.filename).is_file() for r in resources)

    return root / dataset if not complete(root) and complete(root / dataset) else root


def embedded_file(dataset: str) -> Path:
    """The data file shipped inside the package for `dataset`, checked against its MD5."""
    resource = EMBEDDED[dataset]
    path = EMBEDDED_DIR / resource.filename
    if not path.is_file():
        raise BrickworkError(
            f"dataset '{dataset}' ships inside brickwork as '{path}', but that file is missing; "
            "the installation is incomplete. Reinstall brickwork (pip install --force-reinstall)."
        )
    got = md5sum(path)
    if got != resource.md5:
        raise BrickworkError(
            f"dataset '{dataset}': the copy shipped inside brickwork ('{path}') has MD5 {got}, "
            f"expected {resource.md5}; the installation is damaged. Reinstall brickwork."
        )
    return path


def _verify_once(path: Path, resource: Resource) -> None:
    """MD5-check a file unless a marker records it was checked at this size and mtime."""
    stat = path.stat()
    marker = path.with_name(f".{path.name}.md5ok")
    stamp = f"{resource.md5} {stat.st_size} {stat.st_mtime_ns}"
    try:
        if marker.read_text() == stamp:
            return
    except OSError:
        pass
    verify(path, resource)
    try:
        marker.write_text(stamp)
    except OSError:
        pass  # a read-only data_dir: check again next time


def _missing_message(dataset: str, folder: Path, missing, why: str) -> str:
    """One paragraph naming every missing file, the folder they belong in and how to get them."""
    names = ", ".join(r.filename for r in missing)
    urls = " or ".join(dict.fromkeys(base for r in missing for base in r.mirrors))
    one = len(missing) == 1
    return (
        f"dataset '{dataset}' needs {names} in '{folder}', but {'it is' if one else 'they are'} "
        f"not there and {why}. Run `brickwork download {dataset}` on a machine with network "
        f"(it prints where the files went), or download {'it' if one else 'them'} from {urls}; "
        "then train with `--data-dir DIR` (data_dir) pointing at the folder that has "
        f"{'it' if one else 'them'}, or place {'it' if one else 'them'} in '{folder}' (the "
        "cache; BRICKWORK_DATA moves it)."
    )
