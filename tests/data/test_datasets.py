"""load_data on digits, generated MNIST/Fashion-MNIST/CIFAR files, and spec validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brickwork.data import apply_preprocessing, load_data
from brickwork.errors import BrickworkError
from brickwork.spec.data import DataSpec
from tests.data.makefiles import write_cifar, write_mnist


def test_digits_offline_default():
    b = load_data({}, seed=0)
    assert b.input_shape == [1, 8, 8] and b.num_classes == 10 and b.task == "classification"
    assert len(b.train) + len(b.val) + len(b.test) == 1797
    assert b.train.x.dtype == torch.float32 and b.train.y.dtype == torch.int64
    assert 0 <= float(b.train.x.min()) and float(b.train.x.max()) <= 1
    # stratified: every class in every split, in close proportion
    for split in (b.train, b.val, b.test):
        counts = np.bincount(split.y.numpy(), minlength=10)
        assert counts.min() > 0 and counts.max() - counts.min() <= max(3, 0.1 * counts.mean())


def test_splits_are_seeded_and_disjoint():
    a, b, c = load_data({}, seed=1), load_data({}, seed=1), load_data({}, seed=2)
    assert torch.equal(a.val.x, b.val.x) and not torch.equal(a.val.x, c.val.x)
    rows = lambda s: {tuple(r) for r in s.x.flatten(1).tolist()}  # noqa: E731
    assert (
        not rows(a.train) & rows(a.test) or len(rows(a.train) & rows(a.test)) < 5
    )  # digits has a few duplicate images
    assert len(a.train) + len(a.val) + len(a.test) == 1797


def test_test_split_unchanged_by_validation_split():
    a = load_data({"validation_split": 0.1})
    b = load_data({"validation_split": 0.3})
    assert torch.equal(a.test.x, b.test.x)


def test_normalize_uses_train_only_and_apply_preprocessing_matches():
    b = load_data({"normalize": True, "validation_split": 0.2})
    x = b.train.x
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-2
    from sklearn.datasets import load_digits

    raw = load_digits().images[:5][:, None]
    out = apply_preprocessing(b.preprocessing, raw)
    step = b.preprocessing["steps"]
    expect = (torch.tensor(raw, dtype=torch.float32) / 16 - step[1]["mean"][0]) / step[1]["std"][0]
    assert torch.allclose(out, expect, atol=1e-5)
    assert apply_preprocessing(raw[0], b.preprocessing).shape == (
        1,
        8,
        8,
    )  # either argument order, one sample


def test_fixed_normalize_and_no_scale():
    b = load_data({"normalize": {"mean": [0.5], "std": [0.25]}, "scale": False})
    assert b.preprocessing["steps"] == [
        {"op": "normalize", "mean": [0.5], "std": [0.25], "axis": 0}
    ]
    assert float(b.train.x.max()) == pytest.approx((16 - 0.5) / 0.25)


def test_limit_is_stratified_subset():
    b = load_data({"limit": 200, "validation_split": 0.1})
    assert len(b.train) + len(b.val) + len(b.test) == 200
    assert len(np.unique(b.train.y.numpy())) == 10


def test_augment_only_on_train():
    b = load_data({"augment": {"hflip": True, "cutout": 2}})
    assert b.train.augment is not None and b.val.augment is None and b.test.augment is None
    assert b.extra["augment"]["hflip"] is True
    assert b.train.loader(32, shuffle=False).augment is None  # evaluation passes see raw images


def test_mnist_from_generated_idx(tmp_path):
    folder = write_mnist(tmp_path / "m", n_train=100, n_test=30)
    with pytest.raises(BrickworkError, match="MD5"):  # not the published files
        load_data({"dataset": "mnist", "data_dir": str(folder), "download": False})
    b = load_data(
        {
            "dataset": "mnist",
            "data_dir": str(folder),
            "download": False,
            "validation_split": 0.2,
            "verify_checksums": False,
        }
    )
    assert (len(b.train), len(b.val), len(b.test)) == (80, 20, 30)
    assert b.input_shape == [1, 28, 28] and b.class_names == [str(i) for i in range(10)]
    assert np.bincount(b.val.y.numpy()).tolist() == [2] * 10


def test_fashion_mnist_md5_checked(tmp_path):
    folder = write_mnist(tmp_path / "f")
    with pytest.raises(BrickworkError, match="MD5"):
        load_data({"dataset": "fashion_mnist", "data_dir": str(folder), "download": False})


def test_mnist_missing_files_message(tmp_path):
    with pytest.raises(BrickworkError, match=r"train-images-idx3-ubyte.gz.*in '.*empty'"):
        load_data({"dataset": "mnist", "data_dir": str(tmp_path / "empty"), "download": False})


@pytest.mark.parametrize("nested", [False, True])  # DIR, or DIR/cifar10 (download --all)
@pytest.mark.parametrize("tar", [True, False])
def test_cifar10_tar_or_extracted(tmp_path, tar, nested):
    # a tiny archive, not the published one: skip its checksum
    write_cifar(tmp_path / "cifar10" if nested else tmp_path, n=20, tar=tar)
    b = load_data(
        {
            "dataset": "cifar10",
            "data_dir": str(tmp_path),
            "download": False,
            "verify_checksums": False,
        },
        seed=0,
    )
    assert b.input_shape == [3, 32, 32] and len(b.test) == 20 and len(b.train) + len(b.val) == 100
    assert b.class_names[0] == "airplane"


def test_cifar10_corrupt_archive_checksum(tmp_path):
    write_cifar(tmp_path, n=5)
    with pytest.raises(BrickworkError, match="MD5"):
        load_data({"dataset": "cifar10", "data_dir": str(tmp_path), "download": False})


def test_spec_errors():
    with pytest.raises(BrickworkError, match="did you mean 'mnist'"):
        load_data({"dataset": "mnsit"})
    with pytest.raises(BrickworkError, match="validation_spilt.*did you mean 'validation_split'"):
        load_data({"validation_spilt": 0.1})
    with pytest.raises(BrickworkError, match="validation_split"):
        load_data({"validation_split": 1.5})
    with pytest.raises(BrickworkError, match="set `path:`"):
        load_data({"dataset": "csv"})
    assert DataSpec(dataset="Fashion-MNIST").dataset == "fashion_mnist"


def test_augment_rejected_for_non_images(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n1,1,0\n2,2,1\n")
    with pytest.raises(BrickworkError, match="augment"):
        load_data(
            {
                "dataset": "csv",
                "path": str(tmp_path / "t.csv"),
                "augment": {"hflip": True},
                "validation_split": 0,
            }
        )
