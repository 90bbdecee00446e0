"""Parsers for the published file formats: IDX (MNIST family) and CIFAR-10 python batches.

Both validate everything they read (magic numbers, dimensions, sizes, keys) and raise
BrickworkError naming the file and the offset or key at fault, so a truncated download or a
wrong file is never loaded halfway. CIFAR batches are pickles: they are read with a
restricted unpickler that can only build dicts, lists, bytes, str, numbers and numpy
arrays, so a hostile file cannot run code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from brickwork.data.sources import read_input
from brickwork.errors import BrickworkError

# IDX type codes (third byte of the magic number) -> numpy big-endian dtype.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_bytes(path: Path) -> bytes:
    """A file's bytes, decompressed when its first bytes say gzip/bzip2/xz/zip (see sources)."""
    return read_input(path)


def parse_idx(data: bytes, name: str, ndim: int | None = None) -> np.ndarray:
    """Decode an IDX array: magic 0x0000 <type> <ndim>, big-endian uint32 dims, then the data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise BrickworkError(
            f"'{name}' is not an IDX file: its magic number is {data[:4].hex() or 'missing'}, "
            "expected "
            "00 00 <type> <ndim> (e.g. 00000803 for images, 00000801 for labels). Check that "
            "this is the right file."
        )
    dtype, dims = np.dtype(IDX_TYPES[data[2]]), data[3]
    if ndim is not None and dims != ndim:
        raise BrickworkError(
            f"'{name}' holds a {dims}-dimensional IDX array but a {ndim}-dimensional one is "
            "expected "
            f"({'images' if ndim == 3 else 'labels'}); the image and label files may be swapped."
        )
    header = 4 + 4 * dims
    if len(data) < header:
        raise BrickworkError(
            f"'{name}' is truncated inside its header ({len(data)} bytes, header needs {header}); "
            "download it again."
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    need = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != need:
        what = "truncated" if len(data) < need else "longer than its header says"
        raise BrickworkError(
            f"'{name}' is {what}: its header declares shape {list(shape)} ({need} bytes) but it "
            "has "
            f"{len(data)} bytes (data ends at offset {len(data)}). Delete it and download it again."
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def load_idx_pair(
    images: Path, labels: Path, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [N, 1, H, W], int64 labels [N]) from an IDX image file and its label file."""
    x = parse_idx(read_bytes(images), str(images), ndim=3)
    y = parse_idx(read_bytes(labels), str(labels), ndim=1)
    if len(x) != len(y):
        raise BrickworkError(
            f"'{images}' has {len(x)} images but '{labels}' has {len(y)} labels; the files belong "
            "to different splits."
        )
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if len(bad):
        raise BrickworkError(
            f"'{labels}' has label {int(y[bad[0]])} at index {bad[0]}, outside "
            f"0..{num_classes - 1}; the file is corrupt."
        )
    return x[:, None].astype(np.uint8), y.astype(np.int64)


# --- CIFAR-10 ---------------------------------------------------------------------------

CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = ["test_batch"]
CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
_ALLOWED = {
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "bytes"),
    ("builtins", "str"),
    ("builtins", "int"),
    ("builtins", "bytearray"),
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class Refused(pickle.UnpicklingError):
    """A pickle asked for a class or function outside the allowed set."""


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only plain containers and numpy array reconstruction."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise Refused(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def safe_unpickle(data: bytes, name: str):
    """Unpickle `data` with SafeUnpickler (latin1, as the python-2 CIFAR batches need)."""
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Refused as e:
        raise BrickworkError(
            f"'{name}' is not a CIFAR batch brickwork can read safely: {e}. Only plain dicts, "
            "lists, "
            "bytes and numpy arrays are allowed; re-download the official cifar-10-python.tar.gz."
        ) from None
    except Exception as e:  # truncated or garbled pickles raise many types
        raise BrickworkError(
            f"'{name}' is truncated or corrupt ({type(e).__name__}: {e}); delete it and download "
            "it again."
        ) from None


def parse_cifar_batch(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, 3, 32, 32], int64 [N]) from one pickled CIFAR-10 batch, every key checked."""
    batch = safe_unpickle(data, name)
    if not isinstance(batch, dict):
        raise BrickworkError(
            f"'{name}' holds a {type(batch).__name__}, expected a CIFAR batch dict with 'data' "
            "and 'labels'."
        )
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise BrickworkError(
                f"'{name}' has no '{key}' key (keys: {sorted(map(str, batch))}); expected a "
                "CIFAR-10 python batch."
            )
    x, y = batch["data"], np.asarray(batch["labels"])
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        shape = getattr(x, "shape", type(x).__name__)
        raise BrickworkError(
            f"'{name}': 'data' is {shape} {getattr(x, 'dtype', '')}, expected uint8 [N, 3072] "
            "(32x32x3 images)."
        )
    if y.ndim != 1 or len(y) != len(x):
        raise BrickworkError(
            f"'{name}' has {len(x)} images (key 'data') but {y.size} labels (key 'labels'), "
            "expected one "
            "label per image; the batch is corrupt. Delete it and download cifar-10-python.tar.gz "
            "again."
        )
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise BrickworkError(
            f"'{name}' has label {int(y.max() if y.max() > 9 else y.min())}, outside 0..9; the "
            "batch is corrupt."
        )
    return x.reshape(-1, 3, 32, 32), y.astype(np.int64)


def load_cifar10(source: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'train': ..., 'test': ...} from cifar-10-python.tar.gz or its cifar-10-batches-py/
    folder.
    """
    if source.is_dir():
        blobs = {}
        for member in CIFAR_TRAIN + CIFAR_TEST:
            blobs[member] = read_bytes(source / member)
        where = str(source)
    else:
        blobs, where = _read_tar(source), str(source)
    parts = {m: parse_cifar_batch(blobs[m], f"{where}/{m}") for m in CIFAR_TRAIN + CIFAR_TEST}
    first = len(parts[CIFAR_TRAIN[0]][1])
    for m, (_, y) in parts.items():
        if len(y) != first:
            raise BrickworkError(
                f"'{where}/{m}' has {len(y)} rows (keys 'data' and 'labels') but "
                f"'{where}/{CIFAR_TRAIN[0]}' has "
                f"{first}; every CIFAR-10 batch has the same number (10,000 in the official "
                "files). The batch "
                "is corrupt or from another dataset; delete it and download "
                "cifar-10-python.tar.gz again."
            )
    train = [parts[m] for m in CIFAR_TRAIN]
    return {
        "train": (np.concatenate([p[0] for p in train]), np.concatenate([p[1] for p in train])),
        "test": parts["test_batch"],
    }


def _read_tar(path: Path) -> dict[str, bytes]:
    """The batch files inside a CIFAR tarball, by base name; no member is extracted to disk."""
    wanted, out = set(CIFAR_TRAIN + CIFAR_TEST), {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    out[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise BrickworkError(
            f"'{path}' is not a complete tar.gz archive ({e}); it is truncated or corrupt. Delete "
            "it and download again."
        ) from None
    missing = sorted(wanted - set(out))
    if missing:
        raise BrickworkError(
            f"'{path}' lacks {', '.join(missing)}; expected the CIFAR-10 python version "
            "(cifar-10-python.tar.gz)."
        )
    return out
