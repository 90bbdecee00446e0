"""Batches from tensors held in memory: index the whole tensor, no per-sample Python.

    loader = InMemoryLoader(x, y, 64, shuffle=True, seed=0)
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for xb, yb in loader: ...

The shuffle order and the augmentation randomness are functions of (seed, epoch) only (plus
rank for augmentation), so restarting an epoch after a crash replays the same batches.
`position()` and `resume_at(...)` let a mid-epoch checkpoint continue at the exact next batch:
the consumed batches are skipped (not gathered) and the augmentation generator's state is
restored.

Distributed: every rank draws the same permutation and takes every world_size-th index
of it (rank, rank + world_size, ...). Without drop_last the permutation is padded by
wrapping around to a multiple of world_size, as DistributedSampler does, so all ranks get
the same number of batches (DDP needs that); with drop_last it is trimmed instead.

On a CUDA device with pin_memory, batches are gathered into pinned buffers and copied with
non_blocking=True one batch ahead, so the next copy overlaps the current step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from brickwork.errors import BrickworkError


def epoch_generator(seed: int, epoch: int, stream: int, rank: int = 0) -> torch.Generator:
    """A CPU generator seeded from (seed, epoch, stream, rank) through numpy's SeedSequence."""
    state = np.random.SeedSequence(
        [int(seed) & 0xFFFFFFFF, int(epoch), int(stream), int(rank)]
    ).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def shard_samples(n: int, world_size: int = 1, drop_last: bool = False) -> int:
    """Samples each rank gets per epoch: n on one rank, else n / world_size rounded up (padded) or
    down
    (drop_last).
    """
    if world_size == 1:
        return n
    return n // world_size if drop_last else -(-n // world_size)


def shard_order(
    n: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    drop_last: bool = False,
) -> torch.Tensor | None:
    """This rank's sample indices for one epoch (None: all n in order, nothing to reorder).

    Every rank draws the same (seed, epoch) permutation, pads it by wrapping around (or trims
    it with drop_last) to a multiple of world_size, and takes every world_size-th index from
    `rank`, so the ranks' shards are disjoint whenever world_size divides n.
    """
    if not shuffle and world_size == 1:
        return None
    order = (
        torch.randperm(n, generator=epoch_generator(seed, epoch, 0)) if shuffle else torch.arange(n)
    )
    if world_size > 1:
        total = shard_samples(n, world_size, drop_last) * world_size
        if total > n:
            order = torch.cat([order, order.repeat(-(-total // n))[: total - n]])
        order = order[:total][rank::world_size]
    return order


def check_rank(rank: int, world_size: int) -> None:
    """Raise BrickworkError unless 0 <= rank < world_size."""
    if not 0 <= rank < world_size:
        raise BrickworkError(
            f"rank {rank} is outside 0..{world_size - 1} for world_size {world_size}."
        )


class InMemoryLoader:
    """Iterable of (xb, yb) batches over in-memory tensors `x` and `y` (same first dim)."""

    def __init__(
        self,
        x: torch.Tensor | np.ndarray,
        y: torch.Tensor | np.ndarray,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        device: str | torch.device | None = None,
        pin_memory: bool = False,
        augment: Callable | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        if len(x) != len(y):
            raise BrickworkError(
                f"x has {len(x)} samples but y has {len(y)}; give one target per sample."
            )
        if batch_size < 1:
            raise BrickworkError(f"batch_size must be at least 1, got {batch_size}.")
        check_rank(rank, world_size)
        self.x, self.y, self.batch_size = x, y, int(batch_size)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.device = torch.device(device) if device is not None else None
        self.augment, self.rank, self.world_size = augment, rank, world_size
        self.epoch = 0
        self._start: tuple[int, torch.Tensor | None] = (0, None)  # where the next pass begins
        self._done, self._gen = 0, None  # batches yielded this pass; its augmentation generator
        self.pin = (
            bool(pin_memory)
            and self.device is not None
            and self.device.type == "cuda"
            and x.device.type == "cpu"
        )

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle order and augmentation the next iteration replays."""
        self.epoch = int(epoch)

    def position(self) -> dict:
        """Where the current pass stands: batches yielded so far and the augmentation
        generator's state (None without augmentation), for a mid-epoch checkpoint."""
        gen = self._gen
        return {"batch": self._done, "augment_rng": gen.get_state() if gen is not None else None}

    def resume_at(self, batch: int, augment_rng: torch.Tensor | None = None) -> None:
        """Make the next pass start at `batch` of the current epoch's order (the batches before
        it are skipped, not gathered), with the augmentation generator in the state `position()`
        reported there."""
        if not 0 <= int(batch) <= len(self):
            raise BrickworkError(
                f"cannot resume at batch {batch}: this loader has {len(self)} batches per epoch; "
                "the checkpoint was written for other data or another batch_size."
            )
        if (augment_rng is None) != (self.augment is None):
            raise BrickworkError(
                "cannot resume mid-epoch: the checkpoint was written "
                f"{'without' if augment_rng is None else 'with'} augmentation but this loader "
                f"has {'some' if augment_rng is None else 'none'}; resume with the same data "
                "settings."
            )
        self._start = (int(batch), augment_rng)

    def _samples(self) -> int:
        return shard_samples(len(self.x), self.world_size, self.drop_last)

    def __len__(self) -> int:
        m = self._samples()
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)

    def indices(self) -> torch.Tensor | None:
        """This rank's sample order for the current epoch (None: all samples in order)."""
        return shard_order(
            len(self.x),
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            rank=self.rank,
            world_size=self.world_size,
            drop_last=self.drop_last,
        )

    def __iter__(self):
        first, augment_rng = self._start
        self._start, self._done = (0, None), first
        for done, batch in enumerate(self._batches(first, augment_rng), first + 1):
            self._done = done
            yield batch

    def _batches(self, first: int, augment_rng: torch.Tensor | None):
        order = self.indices()
        m, bs = self._samples(), self.batch_size
        gen = (
            epoch_generator(self.seed, self.epoch, 1, self.rank)
            if self.augment is not None
            else None
        )
        if gen is not None and augment_rng is not None:
            gen.set_state(augment_rng)
        self._gen = gen
        x, y = self.x, self.y
        if order is not None and x.device.type != "cpu":
            order = order.to(x.device)
        stops = range(first * bs, len(self) * bs, bs)
        if self.pin:
            yield from self._pinned(order, stops, m, gen)
            return
        for start in stops:
            end = min(start + bs, m)
            if order is None:
                xb, yb = x[start:end], y[start:end]
            else:
                idx = order[start:end]
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            if self.device is not None:
                xb, yb = (
                    xb.to(self.device, non_blocking=True),
                    yb.to(self.device, non_blocking=True),
                )
            if gen is not None:
                xb = self.augment(xb, gen)
            yield xb, yb

    def _pinned(self, order, stops, m, gen):
        """Gather into two alternating pinned buffers; copy batch i+1 while batch i is used."""
        bs, dev = self.batch_size, self.device
        buffers = [
            (
                torch.empty((bs, *self.x.shape[1:]), dtype=self.x.dtype).pin_memory(),
                torch.empty((bs, *self.y.shape[1:]), dtype=self.y.dtype).pin_memory(),
            )
            for _ in range(2)
        ]
        events = [None, None]

        def copy(i: int, start: int):
            end = min(start + bs, m)
            k = i % 2
            if events[k] is not None:
                events[
                    k
                ].synchronize()  # the buffer's previous copy must finish before it is refilled
            bx, by = buffers[k][0][: end - start], buffers[k][1][: end - start]
            if order is None:
                bx.copy_(self.x[start:end])
                by.copy_(self.y[start:end])
            else:
                idx = order[start:end]
                torch.index_select(self.x, 0, idx, out=bx)
                torch.index_select(self.y, 0, idx, out=by)
            xb, yb = bx.to(dev, non_blocking=True), by.to(dev, non_blocking=True)
            events[k] = torch.cuda.Event()
            events[k].record()
            return xb, yb

        pending = copy(0, stops[0]) if len(stops) else None
        for i in range(len(stops)):
            xb, yb = pending
            pending = copy(i + 1, stops[i + 1]) if i + 1 < len(stops) else None
            if gen is not None:
                xb = self.augment(xb, gen)
            yield xb, yb
