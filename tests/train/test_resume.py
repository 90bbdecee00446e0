"""A run killed with SIGKILL mid-epoch and resumed ends with exactly the weights of an uninterrupted
run.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from brickwork.train.checkpoint import load_checkpoint

SCRIPT = Path(__file__).with_name("resume_script.py")


def run(*args, **kwargs):
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], **kwargs)


def test_sigkill_mid_epoch_then_resume_is_exact(tmp_path):
    reference = run(tmp_path / "ref", tmp_path / "ref.safetensors")
    killed_dir = tmp_path / "killed"
    victim = run(killed_dir, tmp_path / "never.safetensors", "--slow", "0.04")
    last = killed_dir / "checkpoints" / "last.safetensors"
    deadline = time.time() + 60
    while not last.exists() and time.time() < deadline and victim.poll() is None:
        time.sleep(0.02)
    assert last.exists(), "the first epoch's checkpoint never appeared"
    time.sleep(0.3)  # well inside epoch 2 (16 batches x 0.04 s)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert load_checkpoint(last)["epoch"] == 1, "the kill should land in the second epoch"
    assert reference.wait() == 0
    resumed = run(killed_dir, tmp_path / "resumed.safetensors", "--resume")
    assert resumed.wait() == 0
    a, b = load_file(tmp_path / "ref.safetensors"), load_file(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ref_history = load_checkpoint(tmp_path / "ref" / "checkpoints" / "last.safetensors")["history"]
    assert load_checkpoint(last)["history"] == ref_history
