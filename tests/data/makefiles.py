"""Writers for small files in the real formats (IDX gz, CIFAR batches, PNG folders, CSV)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MNIST_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + array.tobytes()


def write_mnist(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """A tiny MNIST-format dataset: gz IDX files, labels cycling 0..9, 28x28 images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    parts = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        parts[f"{prefix}-images-idx3-ubyte.gz"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        parts[f"{prefix}-labels-idx1-ubyte.gz"] = (np.arange(n) % 10).astype(np.uint8)
    for name, array in parts.items():
        (folder / name).write_bytes(gzip.compress(idx_bytes(array), mtime=0))
    return folder


def cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "batch_label": "batch",
        "labels": [i % 10 for i in range(n)],
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [f"img{i}.png" for i in range(n)],
    }


def write_cifar(folder: Path, n: int = 10, tar: bool = True, batches: dict | None = None) -> Path:
    """cifar-10-python.tar.gz (or the extracted cifar-10-batches-py/) with small batches."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    blobs = {name: pickle.dumps(cifar_batch(n, i), protocol=2) for i, name in enumerate(names)}
    blobs.update(batches or {})
    folder.mkdir(parents=True, exist_ok=True)
    if not tar:
        sub = folder / "cifar-10-batches-py"
        sub.mkdir(exist_ok=True)
        for name, blob in blobs.items():
            (sub / name).write_bytes(blob)
        return sub
    path = folder / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            t.addfile(info, io.BytesIO(blob))
    return path


def write_image_folder(
    root: Path, classes=("cat", "dog"), per_class: int = 6, size=(12, 10), mode="RGB"
) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[0], size[1], 3) if mode == "RGB" else size
            array = np.clip(rng.normal(60 + 120 * c, 20, shape), 0, 255).astype(np.uint8)
            Image.fromarray(array, mode).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def write_imdb(folder: Path, per_label: int = 12) -> Path:
    """A small aclImdb_v1.tar.gz laid out like the real one (train/test x pos/neg, unsup,
    a vocabulary file): positive reviews say "great", negative ones "awful"."""
    import io
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:

        def add(name: str, text: str) -> None:
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("imdb.vocab", "the\ngreat\nawful\n")
        for split in ("train", "test"):
            for i in range(per_label):
                add(f"{split}/pos/{i}_9.txt", f"A great film, truly great. Café {i} <br />")
                add(f"{split}/neg/{i}_2.txt", f'An awful film, so awful, {i}, "bad"')
            add(f"{split}/urls_pos.txt", "http://example.invalid/\n")
        add("train/unsup/0_0.txt", "no label here")
    return path
