"""The broken-input table: every command, fed broken specs, files, models and flags, exits with
code 2, prints one error that names the field, file or layer, shows no traceback, and changes
no file that was there before. The cases are in `broken_cases.py`."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from brickwork.cli.main import main
from tests.cli import broken_cases as cases


def make_models(folder: Path) -> Path:
    """A 1-epoch digits MLP run, a char language model, a forecaster and the files the cases
    read: done once for the whole table."""
    import safetensors.torch

    from brickwork.models import build_model
    from brickwork.models.io import MODEL_FORMAT, write_safetensors
    from tests.serve.conftest import char_lm, forecaster

    spec = folder / "digits.yaml"
    spec.write_text(
        "name: digits_mlp\n"
        + cases.MLP % "{type: dense, units: 16}"
        + cases.DATA
        + cases.TRAIN % ""
    )
    assert main(["train", str(spec), "--runs-dir", str(folder / "runs")]) == 0
    char_lm(folder / "lm.safetensors")
    forecaster(folder)
    np.save(folder / "one.npy", np.zeros((1, 8, 8), np.float32))
    np.save(folder / "wrong_shape.npy", np.zeros((3, 5), np.float32))
    np.save(folder / "nan.npy", np.full((1, 8, 8), np.nan, np.float32))
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    run_model = folder / "runs" / "digits_mlp" / "model.safetensors"
    data = run_model.read_bytes()
    (folder / "truncated.safetensors").write_bytes(data[: len(data) - 100])
    # the run's metadata (a 16-unit hidden layer) over the weights of a 32-unit one
    other = build_model(
        {"input_shape": [1, 8, 8], "layers": ["flatten", {"dense": 32}, {"dense": 10}]}
    )
    tensors, _ = safetensors.torch.load(data), None
    from brickwork.models.io import read_safetensors

    _, meta, _ = read_safetensors(run_model)
    assert set(tensors) == set(other.state_dict())
    write_safetensors(folder / "other_arch.safetensors", other.state_dict(), meta, MODEL_FORMAT)
    safetensors.torch.save_file(
        {k: v.contiguous() for k, v in other.state_dict().items()},
        folder / "plain_other.safetensors",
    )
    edited = folder / "runs" / "edited"
    shutil.copytree(folder / "runs" / "digits_mlp", edited)
    spec_file = edited / "spec.yaml"
    spec_file.write_text(spec_file.read_text().replace("units: 16", "units: 24"))
    (folder / "ft.yaml").write_text(cases.FT % "head_lr: 0.01")
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return make_models(tmp_path_factory.mktemp("models"))


def _hashes(*folders: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _fill(text, d: Path, m: Path):
    if isinstance(text, bytes):
        return text
    return text.replace("{d}", str(d)).replace("{m}", str(m))


def run_case(argv, files, expected, tmp_path, models, capsys, monkeypatch):
    """Write the case's files, run the command in-process and check the error."""
    import uvicorn

    def no_serving(*args, **kwargs):
        raise AssertionError("the server started: the broken input was accepted")

    monkeypatch.setattr(uvicorn, "run", no_serving)
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = _fill(content, tmp_path, models)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    before = _hashes(tmp_path, models)
    try:
        rc = main([_fill(a, tmp_path, models) for a in argv])
    except SystemExit as e:  # argparse refuses a flag with usage and exit code 2
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    for word in expected:
        assert _fill(word, tmp_path, models) in err, f"{word!r} not named in: {err}"
    after = _hashes(tmp_path, models)
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"files that were there before changed: {changed}"


def _model_cases():
    for command, argv in cases.MODEL_COMMANDS.items():
        for name, target, files, expected in cases.MODEL_FILES:
            yield pytest.param(
                [target if a == "M" else a for a in argv],
                files,
                cases.MODEL_EXPECTED.get((command, name), expected),
                id=f"{command}-{name}",
            )


def _all_cases():
    for name, argv, files, expected in cases.SUMMARY:
        yield pytest.param(argv, files, expected, id=f"summary-{name}")
    for name, field, expected in cases.TRAIN_CASES:
        yield pytest.param(
            ["train", "{d}/s.yaml"], cases.train(field), ["train", *expected], id=f"train-{name}"
        )
    for name, field, expected in cases.DATA_CASES:
        yield pytest.param(
            ["train", "{d}/s.yaml"], cases.data(field), ["data", *expected], id=f"data-{name}"
        )
    for name, argv, files, expected in cases.TRAIN_OTHER + cases.COMMANDS:
        yield pytest.param(argv, files, expected, id=name)
    yield from _model_cases()


ALL = list(_all_cases())


def test_the_table_is_big_and_covers_every_command():
    commands = {p.values[0][0] for p in ALL}
    assert len(ALL) >= 150
    assert commands >= {
        "summary",
        "train",
        "eval",
        "predict",
        "generate",
        "forecast",
        "finetune",
        "tune",
        "export",
        "serve",
    }


@pytest.mark.parametrize(("argv", "files", "expected"), ALL)
def test_broken_input(argv, files, expected, tmp_path, models, capsys, monkeypatch):
    run_case(argv, files, expected, tmp_path, models, capsys, monkeypatch)


MISSING_EXTRA = """
import sys
sys.modules[{module!r}] = None  # as if the package were not installed
from brickwork.cli.main import main
sys.exit(main({argv!r}))
"""


@pytest.mark.parametrize(
    ("module", "argv", "extra"),
    [
        ("fastapi", ["serve", "{m}/lm.safetensors"], "serve"),
        ("uvicorn", ["serve", "{m}/lm.safetensors"], "serve"),
        ("onnxruntime", ["export", "{m}/lm.safetensors", "-o", "{d}/lm.onnx"], "export"),
        ("onnx", ["export", "{m}/lm.safetensors", "-o", "{d}/lm.onnx"], "export"),
    ],
)
def test_a_missing_optional_part_names_its_pip_command(module, argv, extra, tmp_path, models):
    import subprocess
    import sys

    code = MISSING_EXTRA.format(module=module, argv=[_fill(a, tmp_path, models) for a in argv])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f'pip install "brickwork[{extra}]"' in done.stderr and module in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert not (tmp_path / "lm.onnx").exists()


@pytest.mark.parametrize("case", ["train-lr_nan", "summary-units_true", "eval-meta_deep"])
def test_the_real_command_line_agrees(case, tmp_path, models):
    """A few cases through `python -m brickwork`, as a user runs them."""
    import subprocess
    import sys

    argv, files, expected = next(p.values for p in ALL if p.id == case)
    for name, content in files.items():
        content = _fill(content, tmp_path, models)
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "brickwork", *(_fill(a, tmp_path, models) for a in argv)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert all(_fill(w, tmp_path, models) in done.stderr for w in expected), done.stderr
