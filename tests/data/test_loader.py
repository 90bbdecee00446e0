"""InMemoryLoader: seeded per-epoch order, drop_last, sharding across ranks, augmentation replay."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from brickwork.data import Augment, InMemoryLoader
from brickwork.errors import BrickworkError


def data(n=10):
    return torch.arange(n, dtype=torch.float32)[:, None], torch.arange(n)


def ids(loader):
    return [yb.tolist() for _, yb in loader]


def test_unshuffled_in_order_with_partial_last_batch():
    loader = InMemoryLoader(*data(10), 4, shuffle=False)
    assert ids(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(loader) == 3


def test_drop_last():
    loader = InMemoryLoader(*data(10), 4, shuffle=False, drop_last=True)
    assert ids(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(loader) == 2


def test_shuffle_depends_only_on_seed_and_epoch():
    a, b = InMemoryLoader(*data(50), 8, seed=3), InMemoryLoader(*data(50), 8, seed=3)
    first = ids(a)
    assert ids(a) == first  # no hidden state advances between passes
    b.set_epoch(1)
    second = ids(b)
    assert second != first
    a.set_epoch(1)
    assert ids(a) == second
    assert sorted(sum(second, [])) == list(range(50))
    assert ids(InMemoryLoader(*data(50), 8, seed=4)) != first


def test_x_and_y_stay_aligned():
    x, y = data(33)
    for xb, yb in InMemoryLoader(x, y, 5, seed=1):
        assert torch.equal(xb[:, 0].long(), yb)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    world=st.integers(1, 4),
    bs=st.integers(1, 9),
    drop=st.booleans(),
    epoch=st.integers(0, 3),
)
def test_shards_are_disjoint_and_cover_everything(n, world, bs, drop, epoch):
    shards = []
    for rank in range(world):
        loader = InMemoryLoader(*data(n), bs, seed=7, rank=rank, world_size=world, drop_last=drop)
        loader.set_epoch(epoch)
        batches = ids(loader)
        assert len(batches) == len(loader)
        shards.append(sum(batches, []))
    lengths = {len(s) for s in shards}
    if not drop:
        assert len(lengths) == 1  # equal batch counts for DDP
        assert set().union(*map(set, shards)) == set(
            range(n)
        )  # every sample used (padding wraps around)
        if n % world == 0:
            flat = sum(shards, [])
            assert sorted(flat) == list(range(n))  # no padding needed: disjoint and complete
    else:
        flat = sum(shards, [])
        assert len(flat) == len(set(flat))  # trimmed, never duplicated


def test_augmentation_replays_per_epoch():
    x = torch.rand(20, 1, 8, 8)
    aug = Augment(hflip=True, cutout=3, rotate_degrees=10)
    loader = InMemoryLoader(x, torch.arange(20), 6, seed=1, augment=aug)
    loader.set_epoch(2)
    first = [xb.clone() for xb, _ in loader]
    second = [xb for xb, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    loader.set_epoch(3)
    assert not all(torch.equal(a, b) for a, b in zip(first, [xb for xb, _ in loader], strict=True))


def test_device_and_errors():
    loader = InMemoryLoader(*data(5), 2, device="cpu", pin_memory=True)
    xb, _ = next(iter(loader))
    assert xb.device.type == "cpu"
    with pytest.raises(BrickworkError, match="5 samples but y has 4"):
        InMemoryLoader(torch.zeros(5), torch.zeros(4), 2)
    with pytest.raises(BrickworkError, match="rank 2"):
        InMemoryLoader(*data(5), 2, rank=2, world_size=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pinned_copy_ahead_on_gpu():
    x, y = torch.rand(1000, 3, 8, 8), torch.arange(1000)
    cpu = InMemoryLoader(x, y, 64, seed=0)
    gpu = InMemoryLoader(
        x,
        y,
        64,
        seed=0,
        device="cuda",
        pin_memory=True,
        augment=Augment(hflip=True, crop_padding=2),
    )
    cpu.augment = Augment(hflip=True, crop_padding=2)
    for (a, ya), (b, yb) in zip(cpu, gpu, strict=True):
        assert b.is_cuda and torch.equal(ya, yb.cpu()) and torch.allclose(a, b.cpu())
