"""image_folder: class-per-folder PNG/JPEG, in memory or streamed by DataLoader workers."""

from __future__ import annotations

import pytest
import torch

from brickwork.data import FolderSplit, Split, load_data
from brickwork.errors import BrickworkError
from tests.data.makefiles import write_image_folder


def test_in_memory_folder(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=10)
    b = load_data(
        {
            "dataset": "image_folder",
            "path": str(root),
            "normalize": True,
            "validation_split": 0.2,
            "test_split": 0.2,
        }
    )
    assert (
        isinstance(b.train, Split)
        and b.class_names == ["cat", "dog"]
        and b.input_shape == [3, 12, 10]
    )
    assert len(b.train) + len(b.val) + len(b.test) == 20
    assert b.train.x[b.train.y == 0].mean() < b.train.x[b.train.y == 1].mean()


def test_official_train_test_folders_grayscale_resize(tmp_path):
    write_image_folder(tmp_path / "d" / "train", per_class=4, mode="L")
    write_image_folder(tmp_path / "d" / "test", per_class=2, mode="L", size=(20, 20))
    b = load_data(
        {
            "dataset": "image_folder",
            "path": str(tmp_path / "d"),
            "image_size": [8, 8],
            "validation_split": 0,
        }
    )
    assert b.input_shape == [1, 8, 8] and len(b.test) == 4 and len(b.train) == 8


def test_streamed_folder_matches_in_memory(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=6)
    spec = {
        "dataset": "image_folder",
        "path": str(root),
        "validation_split": 0.0,
        "test_split": 0.0,
        "num_workers": 0,
    }
    mem = load_data(spec)
    disk = load_data({**spec, "in_memory": False, "augment": {"hflip": True}})
    assert isinstance(disk.train, FolderSplit) and len(disk.train) == 12
    loader = disk.train.loader(5, shuffle=False)
    xs = torch.cat([xb for xb, _ in loader])
    assert len(loader) == 3 and torch.allclose(xs, mem.train.x)
    shuffled = disk.train.loader(4, seed=1)
    shuffled.set_epoch(2)
    a = [yb.tolist() for _, yb in shuffled]
    assert a == [yb.tolist() for _, yb in shuffled] and sorted(sum(a, [])) == sorted(
        mem.train.y.tolist()
    )
    assert sum(1 for _ in disk.train) == 1  # direct iteration: batch_size 32


def test_worker_processes(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=4)
    b = load_data(
        {
            "dataset": "image_folder",
            "path": str(root),
            "in_memory": False,
            "num_workers": 2,
            "validation_split": 0,
            "test_split": 0,
        }
    )
    assert sum(len(yb) for _, yb in b.train.loader(3)) == 8


def sample_ids(batches, reference: torch.Tensor) -> list[int]:
    """Which row of `reference` each image of the batches is (the generated images are all
    distinct).
    """
    flat = reference.flatten(1)
    return [int((flat == row.flatten()).all(1).nonzero().item()) for xb, _ in batches for row in xb]


@pytest.mark.parametrize("world", [2, 3, 5])
def test_streamed_folder_shards_across_ranks(tmp_path, world):
    root = write_image_folder(tmp_path / "pets", per_class=6)
    spec = {
        "dataset": "image_folder",
        "path": str(root),
        "validation_split": 0.0,
        "test_split": 0.0,
        "num_workers": 0,
    }
    mem, disk = load_data(spec), load_data({**spec, "in_memory": False})
    shards = []
    for rank in range(world):
        loader = disk.train.loader(2, seed=3, rank=rank, world_size=world)
        loader.set_epoch(1)
        batches = list(loader)
        assert len(batches) == len(loader)
        shards.append(sample_ids(batches, mem.train.x))
    assert len({len(s) for s in shards}) == 1  # equal batch counts, as DDP needs
    flat = sum(shards, [])
    assert set(flat) == set(range(12))  # every sample of the epoch is seen
    if 12 % world == 0:
        assert sorted(flat) == list(range(12))  # and exactly once
    with pytest.raises(BrickworkError, match="rank 2 is outside"):
        disk.train.loader(2, rank=2, world_size=2)


def test_corrupt_image_in_worker_gives_the_original_message(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=2)
    b = load_data(
        {
            "dataset": "image_folder",
            "path": str(root),
            "in_memory": False,
            "num_workers": 1,
            "validation_split": 0,
            "test_split": 0,
        }
    )
    (root / "dog" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")  # corrupted after loading
    with pytest.raises(BrickworkError) as e:
        list(b.train.loader(4, shuffle=False))
    message = str(e.value)
    assert message.startswith("cannot decode image '") and "1.png" in message
    assert "Caught" not in message and "Traceback" not in message and "\n" not in message


def test_corrupt_image_and_layout_errors(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=3)
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(BrickworkError, match=r"cannot decode image '.*broken.png'"):
        load_data({"dataset": "image_folder", "path": str(root)})
    (root / "dog" / "broken.png").unlink()
    (root / "bird").mkdir()
    with pytest.raises(BrickworkError, match="bird' has no PNG/JPEG images"):
        load_data({"dataset": "image_folder", "path": str(root)})
    with pytest.raises(BrickworkError, match="does not exist"):
        load_data({"dataset": "image_folder", "path": str(tmp_path / "nope")})


def test_mixed_sizes_need_image_size(tmp_path):
    root = write_image_folder(tmp_path / "p", per_class=2)
    write_image_folder(tmp_path / "p", classes=("dog",), per_class=1, size=(5, 5))
    with pytest.raises(BrickworkError, match="set image_size"):
        load_data({"dataset": "image_folder", "path": str(root)})
