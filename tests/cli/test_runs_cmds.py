"""`brickwork runs` and `brickwork compare` on real runs of the main job, plus damaged run dirs."""

import json
import os
import shutil

import pytest
from PIL import Image

from brickwork.cli.main import main
from brickwork.errors import BrickworkError
from brickwork.runs import MAX_MODE, flatten, list_runs, recording, spec_differences
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two one-epoch runs of examples/digits_cnn.yaml that differ only in train.lr."""
    runs = tmp_path_factory.mktemp("runs")
    for lr, name in (("0.001", "slow"), ("0.01", "fast")):
        args = ["train", str(EXAMPLES / "digits_cnn.yaml"), "--set", "train.epochs=1"]
        args += ["--set", f"train.lr={lr}", "--runs-dir", str(runs), "--name", name]
        assert main(args) == 0
    return runs


def test_runs_lists_status_epochs_time_and_metrics(two_runs, capsys):
    assert main(["runs", str(two_runs), "--json"]) == 0
    runs = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(runs) == {"slow", "fast"}
    for run in runs.values():
        assert run["status"] == "finished" and run["epochs"] == 1
        assert run["seconds"] > 0 and run["started"]
        assert run["best"]["val_loss"]["epoch"] == 1
        assert run["final"]["val_accuracy"] == run["best"]["val_accuracy"]["value"]
        assert 0 < run["test"]["accuracy"] <= 1
    assert main(["runs", str(two_runs)]) == 0
    table = capsys.readouterr().out
    assert "slow" in table and "fast" in table and "best val_loss" in table and "finished" in table


def test_compare_names_the_differing_field_and_overlays_curves(two_runs, tmp_path, capsys):
    out = tmp_path / "cmp.png"
    args = ["compare", str(two_runs / "slow"), "fast", "--runs-dir", str(two_runs)]
    assert main([*args, "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["differences"] == {"train.lr": [0.001, 0.01]}
    assert Image.open(out).size[0] > 400
    assert main(args) == 0  # the table, and the default plot beside the runs
    text = capsys.readouterr().out
    assert "train.lr" in text and "0.01" in text
    assert (two_runs / "compare" / "slow-vs-fast.png").is_file()


def test_compare_refuses_fewer_than_two_runs_and_non_runs(two_runs, tmp_path, capsys):
    assert main(["compare", str(two_runs / "slow")]) == 2
    assert main(["compare", str(two_runs / "slow"), str(two_runs / "slow")]) == 2
    assert main(["compare", str(two_runs / "slow"), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "two or more different runs" in err and "is not a run directory" in err
    assert "Traceback" not in err


def _copy_run(two_runs, tmp_path, name):
    shutil.copytree(two_runs / "slow", tmp_path / name)
    return tmp_path / name


def test_status_of_killed_unfinished_and_damaged_runs(two_runs, tmp_path, capsys):
    killed = _copy_run(two_runs, tmp_path, "killed")
    status = json.loads((killed / "status.json").read_text())
    status.update(status="running", pid=2**22 + 12345)  # above any live pid on this host
    (killed / "status.json").write_text(json.dumps(status))
    bare = _copy_run(two_runs, tmp_path, "bare")
    (bare / "status.json").unlink()
    (bare / "model.safetensors").unlink()
    damaged = _copy_run(two_runs, tmp_path, "damaged")
    (damaged / "metrics.csv").write_text("epoch,loss\n1,0.5,0.4,0.3\n")
    (tmp_path / "not_a_run").mkdir()
    runs = {r["name"]: r for r in list_runs(tmp_path)}
    assert set(runs) == {"killed", "bare", "damaged"}
    assert runs["killed"]["status"] == "interrupted"
    assert runs["bare"]["status"] == "incomplete"
    assert runs["damaged"]["status"] == "unreadable" and "line 2" in runs["damaged"]["error"]
    assert main(["runs", str(tmp_path)]) == 0
    assert "damaged" in capsys.readouterr().err
    assert main(["runs", str(tmp_path / "missing")]) == 2


def test_recording_writes_how_a_run_ended(tmp_path):
    with recording(tmp_path) as status:
        assert json.loads((tmp_path / "status.json").read_text())["status"] == "running"
        status["stop_reason"] = "nan"
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "diverged"
    before = (tmp_path / "status.json").read_bytes()
    with pytest.raises(BrickworkError), recording(tmp_path):  # a refused resume: run unchanged
        raise BrickworkError("the checkpoint is from another architecture")
    assert (tmp_path / "status.json").read_bytes() == before
    new = tmp_path / "new"
    new.mkdir()
    with pytest.raises(BrickworkError), recording(new):
        raise BrickworkError("bad data " + "x" * 1000)
    ended = json.loads((new / "status.json").read_text())
    assert ended["status"] == "failed" and len(ended["error"]) < 400
    with pytest.raises(KeyboardInterrupt), recording(tmp_path):
        raise KeyboardInterrupt
    ended = json.loads((tmp_path / "status.json").read_text())
    assert ended["status"] == "interrupted" and ended["pid"] == os.getpid()


def test_spec_differences_flatten_lists_and_missing_fields():
    a = {"model": {"layers": [{"type": "dense", "units": 8}]}, "train": {"lr": 0.1}}
    b = {"model": {"layers": [{"type": "dense", "units": 16}, "flatten"]}, "data": {"x": []}}
    assert flatten(a) == {
        "model.layers.0.type": "dense",
        "model.layers.0.units": 8,
        "train.lr": 0.1,
    }
    assert spec_differences([a, b]) == {
        "data.x": ["(not set)", []],
        "model.layers.0.units": [8, 16],
        "model.layers.1": ["(not set)", "flatten"],
        "train.lr": [0.1, "(not set)"],
    }
    assert spec_differences([a, a]) == {}


def test_listing_uses_the_same_better_when_larger_rule_as_the_callbacks():
    from brickwork.train.callbacks import MAX_MODE as CALLBACKS_MAX_MODE

    assert MAX_MODE == CALLBACKS_MAX_MODE
