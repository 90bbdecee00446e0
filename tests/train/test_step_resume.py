"""Step-exact checkpoints: `checkpoint_every_steps` writes checkpoints/last between batches, and
a resume continues at the exact next batch, ending bit-identical to an uninterrupted run."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from brickwork.data import InMemoryLoader
from brickwork.data.augment import Augment
from brickwork.errors import BrickworkError
from brickwork.train import Callback, fit
from brickwork.train.checkpoint import load_checkpoint
from brickwork.train.run import fit_run

SCRIPT = Path(__file__).with_name("step_resume_script.py")
sys.path.insert(0, str(SCRIPT.parent))
import step_resume_script as script  # noqa: E402


class Crash(Exception):
    pass


class CrashAt(Callback):
    """Raises after the `at`-th batch of the whole run (a crash between two batches)."""

    def __init__(self, at: int):
        self.at, self.seen = at, 0

    def on_batch_end(self, batch, logs):
        self.seen += 1
        if self.seen == self.at:
            raise Crash


def _train(run_dir, *, resume=False, callbacks=(), **options):
    x, y = script.data()
    loader = InMemoryLoader(
        x[:96], y[:96], 8, shuffle=True, seed=5, augment=Augment(crop_padding=2, hflip=True)
    )
    net = script.model()
    result = fit_run(
        net,
        loader,
        validation_data=(x[96:], y[96:]),
        epochs=2,
        device="cpu",
        verbose=0,
        lr=0.01,
        accumulate=2,
        run_dir=run_dir,
        resume=resume,
        callbacks=list(callbacks),
        **{"checkpoint_every_steps": 1, **options},
    )
    return net, result.history


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("crash_at", [5, 13, 22])  # epoch 1 mid, epoch 1 end, epoch 2 mid
def test_crash_between_batches_then_resume_is_bit_identical(tmp_path, crash_at):
    reference, ref_history = _train(tmp_path / "ref")
    with pytest.raises(Crash):
        _train(tmp_path / "run", callbacks=[CrashAt(crash_at)])
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    done = (crash_at - 1) // 2 * 2  # the crash comes before the crashed batch's checkpoint
    assert state["epoch"] == done // 12
    assert (state["position"] or {"batch": 0})["batch"] == done % 12
    resumed, history = _train(tmp_path / "run", resume=True)
    assert _same(reference, resumed)
    assert history.history == ref_history.history  # the epoch's running sums were restored


def test_loader_resume_at_skips_exactly_the_consumed_batches():
    x, y = torch.arange(40.0).reshape(10, 1, 2, 2).repeat(1, 1, 2, 2), torch.arange(10)
    loader = InMemoryLoader(x, y, 3, shuffle=True, seed=1, augment=Augment(hflip=True))
    loader.set_epoch(2)
    full, states = [], []
    for xb, yb in loader:
        full.append((xb, yb))
        states.append(loader.position())
    loader.resume_at(states[1]["batch"], states[1]["augment_rng"])
    tail = list(loader)
    assert len(tail) == 2
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for a, b in zip(tail, full[2:], strict=True)
    )
    assert len(list(loader)) == 4  # the next pass starts at the beginning again
    with pytest.raises(BrickworkError, match="batch 9"):
        loader.resume_at(9, states[0]["augment_rng"])


def test_data_that_cannot_skip_batches_is_refused_before_training(tmp_path):
    x, y = script.data()
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 96, 8)]
    with pytest.raises(BrickworkError, match="checkpoint_every_steps"):
        fit(script.model(), batches, epochs=1, device="cpu", verbose=0, checkpoint_every_steps=2)


def test_a_checkpoint_inside_an_accumulation_group_is_refused(tmp_path):
    class SaveAt(Callback):
        def on_batch_end(self, batch, logs):
            if batch == 2:
                self.trainer.save_checkpoint(tmp_path / "mid.safetensors")

    x, y = script.data()
    with pytest.raises(BrickworkError, match="accumulation group"):
        fit(
            script.model(),
            x,
            y,
            epochs=1,
            batch_size=8,
            device="cpu",
            verbose=0,
            accumulate=2,
            callbacks=[SaveAt()],
        )
    assert not (tmp_path / "mid.safetensors").exists()


def _spawn(*args):
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)])


def test_sigkill_at_a_random_batch_then_resume_gives_equal_weights(tmp_path):
    reference = _spawn(tmp_path / "ref", tmp_path / "ref.safetensors")
    victim = _spawn(tmp_path / "run", tmp_path / "never.safetensors", "--slow", "0.05")
    last = tmp_path / "run" / "checkpoints" / "last.safetensors"
    deadline = time.time() + 60
    while not last.exists() and time.time() < deadline and victim.poll() is None:
        time.sleep(0.01)
    assert last.exists(), "no checkpoint appeared"
    time.sleep(random.uniform(0.0, 1.2))  # 36 batches x 0.05 s: somewhere in epochs 1-2
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert reference.wait() == 0
    resumed = _spawn(tmp_path / "run", tmp_path / "resumed.safetensors", "--resume")
    assert resumed.wait() == 0
    a, b = load_file(tmp_path / "ref.safetensors"), load_file(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ref_history = load_checkpoint(tmp_path / "ref" / "checkpoints" / "last.safetensors")["history"]
    assert load_checkpoint(last)["history"] == ref_history


def test_save_top_k_keeps_the_k_best_files_across_a_resume(tmp_path):
    from brickwork.train import ModelCheckpoint

    losses = [0.9, 0.5, 0.7, 0.6, 0.4, 0.8]

    class FakeVal(Callback):  # sets the monitored value before ModelCheckpoint reads it
        def on_epoch_end(self, epoch, logs):
            logs["val_score"] = losses[epoch]

    def train(epochs, ckpt, resume=None):
        x, y = script.data()
        net = script.model()
        fit(
            net,
            x,
            y,
            epochs=epochs,
            batch_size=32,
            device="cpu",
            verbose=0,
            callbacks=[FakeVal(), ckpt],
            resume=resume,
        )

    pattern = str(tmp_path / "best-{epoch:02d}.safetensors")
    first = ModelCheckpoint(pattern, monitor="val_score", mode="min", save_top_k=2)
    train(3, first)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best-02.safetensors",
        "best-03.safetensors",
    ]
    second = ModelCheckpoint(pattern, monitor="val_score", mode="min", save_top_k=2)
    train(6, second, resume=tmp_path / "best-03.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best-02.safetensors",
        "best-05.safetensors",
    ]
    assert [k[0] for k in second.kept] == [0.4, 0.5] and second.best_epoch == 4
    with pytest.raises(BrickworkError, match="epoch"):
        ModelCheckpoint(str(tmp_path / "best.safetensors"), save_top_k=2)
