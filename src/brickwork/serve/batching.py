"""Micro-batching: requests that arrive while the model is busy run together in one forward pass.

One worker task owns the model. It takes every request waiting in the queue (up to
`max_batch` samples), concatenates them, runs the forward pass in a thread (so the event
loop keeps accepting connections and streaming), and hands each request its rows. Under no
load a request runs alone at once (no timer adds latency); under load the batch grows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import torch


async def _next_batch(queue: asyncio.Queue, max_batch: int) -> list:
    """The first waiting request, plus any others already queued, up to `max_batch` samples."""
    items = [await queue.get()]
    rows = len(items[0][0])
    while not queue.empty() and rows < max_batch:
        x, future = queue.get_nowait()
        items.append((x, future))
        rows += len(x)
    return items


async def batch_worker(
    queue: asyncio.Queue, forward: Callable[[torch.Tensor], torch.Tensor], max_batch: int
) -> None:
    """Serve `queue` of (inputs [n, ...], future) forever; each future gets its n output rows."""
    while True:
        items = await _next_batch(queue, max_batch)
        items = [(x, f) for x, f in items if not f.cancelled()]  # the client went away
        if not items:
            continue
        groups: dict[tuple, list] = {}
        for x, future in items:  # variable-length inputs: one forward pass per sample shape
            groups.setdefault(tuple(x.shape[1:]), []).append((x, future))
        for group in groups.values():
            await _run(group, forward)


async def _run(items: list, forward: Callable[[torch.Tensor], torch.Tensor]) -> None:
    sizes = [len(x) for x, _ in items]
    try:
        out = await asyncio.to_thread(forward, torch.cat([x for x, _ in items]))
    except Exception as e:  # noqa: BLE001 - every waiting request gets the error
        for _, future in items:
            if not future.done():
                future.set_exception(e)
        return
    for (_, future), rows in zip(items, out.split(sizes), strict=True):
        if not future.done():
            future.set_result(rows)


async def submit(queue: asyncio.Queue, x: torch.Tensor) -> torch.Tensor:
    """Queue inputs [n, ...] for the worker and wait for their outputs."""
    future = asyncio.get_running_loop().create_future()
    await queue.put((x, future))
    return await future
