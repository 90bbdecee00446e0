"""A run with the user's own pieces (loss module, SGD + OneCycleLR objects, torchmetrics, a
two-loss train_step) stopped after two epochs and resumed in a fresh process ends with exactly
(`torch.equal`) the weights and history of a run never interrupted."""

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from brickwork.train.checkpoint import load_checkpoint

SCRIPT = Path(__file__).with_name("objects_resume_script.py")


def run(*args):
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)])


def test_stop_then_resume_in_a_fresh_process_is_exact(tmp_path):
    reference = run(tmp_path / "ref", tmp_path / "ref.safetensors")
    first = run(tmp_path / "split", tmp_path / "half.safetensors", "--stop-after", 2)
    assert first.wait() == 0 and reference.wait() == 0
    last = tmp_path / "split" / "checkpoints" / "last.safetensors"
    state = load_checkpoint(last)
    assert state["epoch"] == 2 and state["scheduler_class"].endswith("OneCycleLR")
    assert state["scheduler"]["last_epoch"] == 8  # 2 epochs x 8 batches / accumulate 2
    resumed = run(tmp_path / "split", tmp_path / "resumed.safetensors", "--resume")
    assert resumed.wait() == 0
    a, b = load_file(tmp_path / "ref.safetensors"), load_file(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ref = load_checkpoint(tmp_path / "ref" / "checkpoints" / "last.safetensors")
    assert load_checkpoint(last)["history"] == ref["history"]
    assert {"ce", "mse", "val_ce", "accuracy"} <= set(ref["history"]["history"])
