"""IDX and CIFAR parsers: valid files load; truncated, wrong-magic, unsafe files fail clearly."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

from brickwork.data import formats
from brickwork.errors import BrickworkError
from tests.data.makefiles import cifar_batch, idx_bytes, write_cifar, write_mnist


def test_idx_roundtrip():
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(formats.parse_idx(idx_bytes(a), "a", ndim=3), a)
    b = np.array([1, -2, 70000], dtype=">i4")
    assert formats.parse_idx(idx_bytes(b), "b").tolist() == [1, -2, 70000]


def test_idx_wrong_magic():
    data = bytearray(idx_bytes(np.zeros((2, 2, 2), np.uint8)))
    data[0] = 0x1F
    with pytest.raises(BrickworkError, match="magic number"):
        formats.parse_idx(bytes(data), "x.idx")


def test_idx_truncated_names_offset():
    data = idx_bytes(np.zeros((5, 28, 28), np.uint8))[:-100]
    with pytest.raises(BrickworkError, match=r"'t.idx' is truncated.*\[5, 28, 28\].*offset"):
        formats.parse_idx(data, "t.idx", ndim=3)


def test_idx_wrong_dimensions():
    with pytest.raises(BrickworkError, match="swapped"):
        formats.parse_idx(idx_bytes(np.zeros(4, np.uint8)), "labels", ndim=3)


def test_truncated_gzip(tmp_path):
    folder = write_mnist(tmp_path)
    f = folder / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-500])
    with pytest.raises(BrickworkError, match="not a complete gzip"):
        formats.read_bytes(f)


def test_idx_pair_count_mismatch(tmp_path):
    folder = write_mnist(tmp_path, n_train=10)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(9, np.uint8)))
    )
    with pytest.raises(BrickworkError, match="10 images but .* 9 labels"):
        formats.load_idx_pair(
            folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
        )


def test_idx_label_out_of_range(tmp_path):
    folder = write_mnist(tmp_path, n_train=10)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.full(10, 12, np.uint8)))
    )
    with pytest.raises(BrickworkError, match="label 12 at index 0"):
        formats.load_idx_pair(
            folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
        )


def test_cifar_tar_and_folder(tmp_path):
    tar = write_cifar(tmp_path / "t", n=7)
    parts = formats.load_cifar10(tar)
    assert parts["train"][0].shape == (35, 3, 32, 32) and parts["test"][1].tolist() == list(
        range(7)
    )
    folder = write_cifar(tmp_path / "f", n=7, tar=False)
    assert np.array_equal(formats.load_cifar10(folder)["train"][0], parts["train"][0])


def test_cifar_python3_bytes_keys():
    batch = {k.encode(): v for k, v in cifar_batch(3, 0).items()}
    x, y = formats.parse_cifar_batch(pickle.dumps(batch), "b")
    assert x.shape == (3, 3, 32, 32) and y.tolist() == [0, 1, 2]


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unsafe_pickle_refused():
    with pytest.raises(BrickworkError, match="refusing to load"):
        formats.parse_cifar_batch(pickle.dumps({"data": Evil()}), "evil_batch")


def test_cifar_missing_key_and_bad_size():
    batch = cifar_batch(3, 0)
    del batch["labels"]
    with pytest.raises(BrickworkError, match="no 'labels' key"):
        formats.parse_cifar_batch(pickle.dumps(batch), "b")
    batch = cifar_batch(3, 0)
    batch["data"] = batch["data"][:, :100]
    with pytest.raises(BrickworkError, match=r"expected uint8 \[N, 3072\]"):
        formats.parse_cifar_batch(pickle.dumps(batch), "b")
    batch = cifar_batch(3, 0)
    batch["labels"] = [0, 1]
    with pytest.raises(
        BrickworkError, match=r"'b' has 3 images \(key 'data'\) but 2 labels \(key 'labels'\)"
    ):
        formats.parse_cifar_batch(pickle.dumps(batch), "b")


def test_cifar_batches_must_agree_in_size(tmp_path):
    short = pickle.dumps(cifar_batch(4, 3), protocol=2)
    tar = write_cifar(tmp_path, n=7, batches={"data_batch_3": short})
    with pytest.raises(
        BrickworkError, match=r"cifar-10-python.tar.gz/data_batch_3' has 4 rows .* has 7"
    ):
        formats.load_cifar10(tar)


def test_cifar_truncated_batch_and_archive(tmp_path):
    blob = pickle.dumps(cifar_batch(3, 0), protocol=2)
    with pytest.raises(BrickworkError, match="truncated or corrupt"):
        formats.parse_cifar_batch(blob[: len(blob) // 2], "data_batch_1")
    tar = write_cifar(tmp_path, n=5)
    tar.write_bytes(tar.read_bytes()[:-200])
    with pytest.raises(BrickworkError, match="cifar-10-python.tar.gz"):
        formats.load_cifar10(tar)


def test_cifar_archive_missing_member(tmp_path):
    import tarfile

    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz"):
        pass
    with pytest.raises(BrickworkError, match="lacks data_batch_1"):
        formats.load_cifar10(path)
