"""The run directory: contained names, no half-empty runs, and files that survive SIGKILL."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from brickwork.cli.main import main
from brickwork.errors import BrickworkError
from brickwork.files import is_temp
from brickwork.models.io import read_safetensors
from brickwork.train.checkpoint import load_checkpoint
from brickwork.train.rundir import check_name, new_run_dir

SCRIPT = Path(__file__).with_name("kill_script.py")
SPEC = {
    "name": "tiny",
    "model": {"input_shape": [1, 8, 8], "layers": ["flatten", {"dense": 10}]},
    "data": {"dataset": "digits", "limit": 200},
    "train": {"epochs": 1, "batch_size": 64, "verbose": 0, "device": "cpu"},
}


@pytest.mark.parametrize(
    "name",
    ["..", ".", "", " ", "../escape", "a/b", "/tmp/abs", "a\\b", "-rf", "~x", "a\nb", "x" * 121],
)
def test_run_names_that_would_leave_the_runs_folder_are_refused(tmp_path, name):
    with pytest.raises(BrickworkError, match="not a plain folder name"):
        new_run_dir(tmp_path / "runs", name)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_plain_names_and_collisions(tmp_path):
    assert check_name("mnist_cnn-2.v1") == "mnist_cnn-2.v1"
    first = new_run_dir(tmp_path, "a")
    assert first.name == "a" and new_run_dir(tmp_path, "a").name == "a-2"


def write_spec(tmp_path, **changes) -> Path:
    import yaml

    spec = {**SPEC, **changes}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_cli_refuses_an_escaping_name_from_flag_or_spec(tmp_path, capsys):
    runs = tmp_path / "work" / "runs"
    spec = write_spec(tmp_path)
    assert main(["train", str(spec), "--runs-dir", str(runs), "--name", "../../evil"]) == 2
    assert "not a plain folder name" in capsys.readouterr().err
    spec = write_spec(tmp_path, name="../outside")
    assert main(["train", str(spec), "--runs-dir", str(runs)]) == 2
    assert not (tmp_path / "work" / "outside").exists() and not (tmp_path / "outside").exists()


def test_a_run_failing_before_its_first_epoch_leaves_no_directory(tmp_path, capsys):
    runs = tmp_path / "runs"
    bad = write_spec(tmp_path, data={"dataset": "csv", "path": str(tmp_path / "missing.csv")})
    assert main(["train", str(bad), "--runs-dir", str(runs)]) == 2
    bad_model = {"input_shape": [64], "layers": [{"dense": 10}]}  # found after the data loads
    assert main(["train", str(write_spec(tmp_path, model=bad_model)), "--runs-dir", str(runs)]) == 2
    capsys.readouterr()
    assert not runs.exists() or list(runs.iterdir()) == []
    assert main(["train", str(write_spec(tmp_path)), "--runs-dir", str(runs)]) == 0
    assert [p.name for p in runs.iterdir()] == ["tiny"]  # not tiny-2


def assert_complete(run_dir: Path) -> list[Path]:
    """Every file under its real name is whole and readable; returns the temp files."""
    temps = []
    for path in sorted(run_dir.rglob("*")):
        if not path.is_file() or "tensorboard" in path.parts:
            continue
        if is_temp(path):
            temps.append(path)
        elif path.suffix == ".safetensors":
            _, meta, _ = read_safetensors(path)
            if path.parent.name == "checkpoints":
                assert load_checkpoint(path)["epoch"] >= 1
        elif path.suffix == ".csv":
            rows = list(csv.reader(path.open()))
            assert rows and rows[0][0] == "epoch" and len({len(r) for r in rows}) == 1, path
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".png":
            Image.open(path).verify()
        else:
            raise AssertionError(f"unexpected file {path}")
    return temps


def script(*args):
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)])


def metric_rows(run_dir: Path) -> int:
    try:
        return len((run_dir / "metrics.csv").read_text().splitlines())
    except OSError:
        return 0


def test_sigkill_mid_write_and_at_random_leaves_whole_files_and_resumes_exactly(tmp_path):
    reference = script(tmp_path / "ref", tmp_path / "ref.safetensors")
    run = tmp_path / "run"
    # worst moment: the 6th rename (epoch 2's writes), after the temp file is complete
    victim = script(run, tmp_path / "never.safetensors", "--die-at-write", 6)
    assert victim.wait() == -signal.SIGKILL
    assert assert_complete(run), "the kill should leave a temp file behind"
    # then a kill at a random moment of a resumed run
    rows = metric_rows(run)
    victim = script(run, tmp_path / "never.safetensors", "--resume", "--slow", "0.02")
    deadline = time.time() + 60
    while metric_rows(run) <= rows and time.time() < deadline and victim.poll() is None:
        time.sleep(0.01)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.3))
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert_complete(run)
    assert script(run, tmp_path / "resumed.safetensors", "--resume").wait() == 0
    assert assert_complete(run) == []  # no temp file survives the resume
    assert reference.wait() == 0
    a, b = load_file(tmp_path / "ref.safetensors"), load_file(tmp_path / "resumed.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ref = load_checkpoint(tmp_path / "ref" / "checkpoints" / "last.safetensors")
    assert load_checkpoint(run / "checkpoints" / "last.safetensors")["history"] == ref["history"]
    assert (run / "metrics.csv").read_text() == (tmp_path / "ref" / "metrics.csv").read_text()
