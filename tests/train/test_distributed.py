"""Distributed data-parallel training: 2 Gloo processes on CPU through `brickwork train --nproc 2`.

The oracle is a single-process run with the same global batch and seed: the sharded epoch
order puts exactly the samples of each single-process batch on the two ranks, and DDP
averages their gradients, so the weights must agree up to float summation order.
"""

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from brickwork.cli.main import main
from brickwork.spec.run import load_run_spec
from brickwork.train.checkpoint import load_checkpoint
from brickwork.train.runner import train_from_spec

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this PyTorch has no torch.distributed"
)

# digits limited to 1200 rows: 960 training rows, 15 batches of 64; no dropout or batch norm.
SPEC = {
    "name": "ddp",
    "model": {
        "input_shape": [1, 8, 8],
        "layers": ["flatten", {"dense": 32, "activation": "tanh"}, {"dense": 10}],
    },
    "data": {"dataset": "digits", "limit": 1200, "validation_split": 0.1, "test_split": 0.1},
    "train": {
        "epochs": 2,
        "batch_size": 64,
        "optimizer": {"type": "sgd", "momentum": 0.9},
        "lr": 0.05,
        "verbose": 0,
    },
}


@pytest.fixture
def brickwork():
    """Start `python -m brickwork ARGS` in its own session; every job and its workers are killed at
    teardown.
    """
    jobs = []

    def start(*args: str, cwd: Path) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        job = subprocess.Popen(
            [sys.executable, "-m", "brickwork", *args],
            cwd=cwd,
            env=env,
            text=True,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        jobs.append(job)
        return job

    yield start
    for job in jobs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)


def write_spec(tmp_path: Path, **train) -> Path:
    spec = {**SPEC, "train": {**SPEC["train"], **train}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "model.safetensors")


def assert_same_weights(a: dict, b: dict, atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(
            a[key], b[key], atol=atol, rtol=0, msg=f"parameter {key} differs"
        )


def test_two_processes_match_one_and_resume_with_another_count(tmp_path, brickwork):
    spec_path = write_spec(tmp_path)
    job = brickwork("train", str(spec_path), "--nproc", "2", "--runs-dir", "ddp_runs", cwd=tmp_path)
    out, err = job.communicate(timeout=240)
    assert job.returncode == 0, err
    assert [p.name for p in (tmp_path / "ddp_runs").iterdir()] == [
        "ddp"
    ]  # rank 0 alone wrote a run directory
    ddp_dir = tmp_path / "ddp_runs" / "ddp"

    single = train_from_spec(load_run_spec(spec_path), runs_dir=tmp_path / "single_runs")
    assert_same_weights(weights(ddp_dir), weights(single.run_dir))
    # validation metrics are summed over ranks: the same figures a single process prints
    ddp_rows = list(csv.DictReader((ddp_dir / "metrics.csv").open()))
    one_rows = list(csv.DictReader((single.run_dir / "metrics.csv").open()))
    for ddp_logs, one_logs in zip(ddp_rows, one_rows, strict=True):
        assert float(ddp_logs["val_accuracy"]) == float(one_logs["val_accuracy"])
        assert float(ddp_logs["val_loss"]) == pytest.approx(float(one_logs["val_loss"]), abs=1e-5)

    # continue the 2-process run in one process for a third epoch: same as 3 epochs in one go
    assert main(["train", "--resume", str(ddp_dir), "--set", "train.epochs=3"]) == 0
    longer = train_from_spec(
        load_run_spec(write_spec(tmp_path, epochs=3)), runs_dir=tmp_path / "single_runs"
    )
    assert_same_weights(weights(ddp_dir), weights(longer.run_dir))


def test_gradient_accumulation_over_two_processes_matches_one(tmp_path, brickwork):
    """accumulate: 4 over 30 batches an epoch: micro-batches skip the all-reduce (no_sync) until
    a group ends, the epoch's partial last group (2 batches) syncs too; the weights still
    equal those of one process."""
    spec_path = write_spec(tmp_path, batch_size=32, accumulate=4, epochs=2)
    job = brickwork("train", str(spec_path), "--nproc", "2", "--runs-dir", "ddp_runs", cwd=tmp_path)
    out, err = job.communicate(timeout=240)
    assert job.returncode == 0, err
    single = train_from_spec(load_run_spec(spec_path), runs_dir=tmp_path / "single_runs")
    assert_same_weights(weights(tmp_path / "ddp_runs" / "ddp"), weights(single.run_dir))


def test_batch_size_must_divide_over_processes(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                str(write_spec(tmp_path)),
                "--nproc",
                "3",
                "--runs-dir",
                str(tmp_path / "runs"),
            ]
        )
        == 2
    )
    assert "batch_size 64 does not divide over --nproc 3" in capsys.readouterr().err


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _worker(launcher: int, rank: int) -> int | None:
    for pid in _descendants(launcher):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            f"RANK={rank}".encode() in env
            and b"BRICKWORK_RUN_DIR" in b" ".join(env)
            and f"LOCAL_RANK={rank}".encode() in env
        ):
            return pid
    return None


@pytest.mark.skipif(
    not Path("/proc/self/environ").exists(), reason="finds the worker through /proc"
)
def test_killed_worker_stops_the_job_and_keeps_the_last_checkpoint(tmp_path, brickwork):
    job = brickwork(
        "train",
        str(write_spec(tmp_path, epochs=10_000)),
        "--nproc",
        "2",
        "--runs-dir",
        "runs",
        cwd=tmp_path,
    )
    last = tmp_path / "runs" / "ddp" / "checkpoints" / "last.safetensors"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.2)
    assert last.exists(), (
        job.communicate()[1] if job.poll() is not None else "no checkpoint within 120 s"
    )
    victim = _worker(job.pid, rank=1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    _, err = job.communicate(timeout=120)
    assert job.returncode != 0
    assert "a worker process failed" in err and "--resume" in err
    state = load_checkpoint(last)  # written atomically by rank 0: never half a file
    assert state["epoch"] >= 1 and "model" in state


def test_launcher_restart_resumes_from_the_last_checkpoint(tmp_path, monkeypatch, brickwork):
    monkeypatch.setenv("BRICKWORK_MAX_RESTARTS", "1")  # torchrun --max-restarts 1
    spec_path = write_spec(tmp_path, epochs=60, verbose=2)
    job = brickwork("train", str(spec_path), "--nproc", "2", "--runs-dir", "runs", cwd=tmp_path)
    last = tmp_path / "runs" / "ddp" / "checkpoints" / "last.safetensors"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.1)
    victim = _worker(job.pid, rank=1)
    assert victim is not None, "the job ended before a worker could be stopped"
    os.kill(victim, signal.SIGKILL)
    out, err = job.communicate(timeout=240)
    assert job.returncode == 0, err
    assert "resumed from" in out and "continuing at epoch" in out  # not started over
    rows = list(csv.DictReader((tmp_path / "runs" / "ddp" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 61))
    single = train_from_spec(load_run_spec(spec_path), runs_dir=tmp_path / "single_runs")
    assert_same_weights(weights(tmp_path / "runs" / "ddp"), weights(single.run_dir), atol=1e-4)


def test_restarted_workers_continue_this_jobs_run_not_an_older_one(tmp_path, monkeypatch):
    """Under a user's own torchrun --max-restarts, runs/NAME already holding an older run."""
    from brickwork.train import distributed

    for name in ("ddp", "ddp-2"):  # an older finished run, and this job's run
        (tmp_path / name / "checkpoints").mkdir(parents=True)
        (tmp_path / name / "checkpoints" / "last.safetensors").write_bytes(b"x")
    monkeypatch.delenv("BRICKWORK_RUN_DIR", raising=False)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job1")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    distributed.remember_run_dir(tmp_path, tmp_path / "ddp-2")  # the first attempt made ddp-2
    assert distributed.restart_checkpoint_dir(tmp_path) is None  # a first attempt starts fresh
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert distributed.restart_checkpoint_dir(tmp_path) == (tmp_path / "ddp-2").resolve()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job2")  # another job: nothing recorded for it
    assert distributed.restart_checkpoint_dir(tmp_path) is None


def test_your_own_pieces_under_ddp_match_one_process(tmp_path):
    """Python door under torchrun: the user's SGD + OneCycleLR, two-loss step with accumulation
    and torchmetrics train in 2 processes to the weights and figures of one."""
    script = Path(__file__).with_name("ddp_objects_script.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    for cmd, out in [(ddp, "two"), ([sys.executable], "one")]:
        done = subprocess.run(
            [*cmd, str(script), str(tmp_path / out)], env=env, capture_output=True, timeout=240
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert_same_weights(
        load_file(tmp_path / "two.safetensors"), load_file(tmp_path / "one.safetensors")
    )
    two, one = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("two", "one"))
    assert (two["world"], one["world"]) == (2, 1)
    assert two["history"]["val_accuracy"] == one["history"]["val_accuracy"]
    for key in ("ce", "mse", "val_mse", "lr"):
        assert two["history"][key] == pytest.approx(one["history"][key], abs=1e-5), key
    if "val_multiclass_accuracy" in one["history"]:
        assert two["history"]["val_multiclass_accuracy"] == one["history"]["val_accuracy"]
