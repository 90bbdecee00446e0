"""Data-parallel training on PyTorch's own engine: torchrun starts the processes, DDP syncs them.

    brickwork train spec.yaml --nproc 4                       # one machine, 4 processes
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d \\
        --rdzv-endpoint HOST:29400 -m brickwork train spec.yaml   # several machines

Every process runs the same `fit`. It joins the process group that torchrun describes in
its environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), wraps the model in
DistributedDataParallel, trains on its shard of each epoch, and sums the metric counters of
all ranks, so every rank sees the figures a single process would. Only rank 0 writes files.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from brickwork.errors import BrickworkError


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env(device: torch.device) -> torch.device:
    """Join the process group torchrun describes (NCCL for CUDA, else Gloo), once per process;
    the device to train on (this process's own GPU under CUDA)."""
    if not launched_by_torchrun():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        rank_, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            store=_store(rank_, world),
            rank=rank_,
            world_size=world,
        )
        atexit.register(_leave)
    return device


def _store(rank_: int, world: int) -> dist.Store:
    """The launcher's key-value store, under a prefix for this restart attempt.

    After `--max-restarts` relaunches the workers, the store still holds the previous
    attempt's addresses; without the prefix the new workers may dial dead peers.
    """
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":  # torchrun's agent hosts it
        base = dist.TCPStore(host, port, world, is_master=False)
    else:  # launched some other way: rank 0 hosts it
        base = dist.TCPStore(host, port, world, is_master=rank_ == 0, multi_tenant=True)
    return dist.PrefixStore(
        f"brickwork/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", base
    )


def _leave() -> None:
    """Leave the process group at exit, all ranks together, while the interpreter is whole.

    Without it a rank that finished first (rank 1, while rank 0 still writes the run
    directory) tore its Gloo pairs down under a live peer, and the group's C++ worker threads,
    still held by the DDP wrapper, could outlive destroy_process_group into interpreter
    finalization: the likely way a worker aborted now and then after a successful run
    ("terminate called without an active exception"). The barrier is bounded, so a rank
    whose peer crashed still exits; the collection frees the wrapper's hold on the group
    before Python tears itself down.
    """
    if not dist.is_initialized():
        return
    with contextlib.suppress(Exception):  # a peer that died: nothing left to wait for
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=60))
        else:
            dist.barrier()
    dist.destroy_process_group()
    gc.collect()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """True in a single process, and in rank 0 of a distributed job: the one that writes files."""
    return rank() == 0


def per_rank_batch(batch_size: int) -> int:
    """The global batch split evenly over the ranks; the spec's batch size stays the global one."""
    w = world_size()
    if batch_size % w:
        raise BrickworkError(
            f"train.batch_size {batch_size} does not divide over {w} processes; the batch size is "
            "global "
            f"(each process takes batch_size / {w}), so choose a multiple of {w}, e.g. "
            f"{batch_size - batch_size % w or w}."
        )
    return batch_size // w


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`model` in DistributedDataParallel (the model itself stays what callbacks and saving see)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if device.type == "cuda"
        else None
    )
    return DistributedDataParallel(model, device_ids=ids)


def shard(data, rank_: int, world: int):
    """Rank `rank_`'s share of evaluation data (every world-th sample, no padding) for a Split or
    (x, y); other iterables are the user's to shard and pass through unchanged."""
    if hasattr(data, "loader") and hasattr(data, "x"):
        import dataclasses

        return dataclasses.replace(data, x=data.x[rank_::world], y=data.y[rank_::world])
    if (
        isinstance(data, tuple | list)
        and len(data) == 2
        and hasattr(data[0], "__getitem__")
        and not isinstance(data[0], tuple | list)
    ):
        x, y = torch.as_tensor(data[0]), torch.as_tensor(data[1])
        return x[rank_::world], y[rank_::world]
    return data


def restart_checkpoint_dir(runs_dir) -> Path | None:
    """After torchrun restarted the workers (`--max-restarts`), the run directory to continue
    from: the one `--nproc` chose, else the one this job's first attempt recorded (see
    `remember_run_dir`); None when there is none or it has no checkpoint yet."""
    if int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0:
        return None
    given = os.environ.get("BRICKWORK_RUN_DIR")
    pointer = _pointer(runs_dir)
    run_dir = (
        Path(given)
        if given
        else Path(pointer.read_text())
        if pointer and pointer.is_file()
        else None
    )
    return (
        run_dir
        if run_dir is not None and (run_dir / "checkpoints" / "last.safetensors").is_file()
        else None
    )


def remember_run_dir(runs_dir, run_dir: Path) -> None:
    """Under a user's own torchrun, record the run directory the first attempt created, keyed
    by the job's rendezvous id, so restarted workers continue that run and not an older one."""
    pointer = _pointer(runs_dir)
    if pointer is not None and "BRICKWORK_RUN_DIR" not in os.environ:
        from brickwork.models.io import atomic_write

        pointer.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(pointer, str(run_dir.resolve()).encode())


def _pointer(runs_dir) -> Path | None:
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    return Path(runs_dir) / ".torchrun" / run_id if run_id and "/" not in run_id else None


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (e.g. downloads), the other ranks after it finished."""
    if world_size() > 1 and not is_main():
        dist.barrier()
    yield
    if world_size() > 1 and is_main():
        dist.barrier()


def all_true(flag: bool, device: torch.device) -> bool:
    """True only if `flag` holds on every rank (so all ranks take the same branch)."""
    if world_size() == 1:
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def sum_metrics(metrics) -> None:
    """Replace a Metrics' counters by their sums over all ranks (exact, not a mean of means)."""
    if world_size() == 1:
        return
    gathered: list = [None] * world_size()
    dist.all_gather_object(
        gathered, ({k: v.detach().cpu() for k, v in metrics.state.items()}, metrics.count)
    )
    total: dict[str, torch.Tensor] = {}
    for state, _ in gathered:
        for key, value in state.items():
            total[key] = total[key] + value if key in total else value.clone()
    metrics.state, metrics.count = total, sum(count for _, count in gathered)


def launch(argv: list[str], nproc: int, run_dir: str) -> int:
    """Run `brickwork ARGV` in `nproc` processes through torch.distributed.run; its exit code.

    The launcher stops every worker when one fails (no restarts unless BRICKWORK_MAX_RESTARTS
    is set), so a crash ends the job instead of leaving the others waiting.
    """
    restarts = os.environ.get("BRICKWORK_MAX_RESTARTS", "0")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        f"--max-restarts={restarts}",
        "-m",
        "brickwork",
        *argv,
    ]
    env = {
        **os.environ,
        "BRICKWORK_RUN_DIR": run_dir,
        "OMP_NUM_THREADS": os.environ.get(
            "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc))
        ),
    }
    code = subprocess.call(cmd, env=env)
    if code:
        print(
            f"error: a worker process failed (launcher exit code {code}), so the distributed job "
            "was stopped; its last good "
            f"checkpoint is {run_dir}/checkpoints/last.safetensors (if an epoch finished). "
            "Continue with: "
            f"brickwork train --resume {run_dir} --nproc {nproc}",
            file=sys.stderr,
        )
    return code
