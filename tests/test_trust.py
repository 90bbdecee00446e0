"""Safe loading: a file that names code runs none of it unless the user opts in.

Each test writes its own package whose import writes a marker file, saves a model or run
that names it, forgets the import, then loads the file: no marker without opt-in.
"""

import sys
import uuid

import pytest
import torch
import yaml

from brickwork.cli.main import main
from brickwork.errors import BrickworkError
from brickwork.models import build_model
from brickwork.models.io import load, save_model
from brickwork.train.checkpoint import save_checkpoint
from brickwork.trust import allowed, loading, trusting

LAYER = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
import torch

class Twice(torch.nn.Module):
    def forward(self, x):
        return 2 * x
"""
CALLBACK = """
import pathlib
pathlib.Path({marker!r}).write_text("imported")
from brickwork.train import Callback

class Hello(Callback):
    pass
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    """(package name, marker path): `NAME.mod` writes the marker when imported."""
    name = f"pkg_{uuid.uuid4().hex[:10]}"
    marker = tmp_path / "marker"
    folder = tmp_path / "site" / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "mod.py").write_text(LAYER.format(marker=str(marker)))
    (folder / "cb.py").write_text(CALLBACK.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv("BRICKWORK_TRUST_CODE", raising=False)
    yield name, marker
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def forget(name: str, marker) -> None:
    """As if in a fresh process: the module is not imported and the marker is gone."""
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    marker.unlink(missing_ok=True)


def custom_model(name: str, nested: bool = False):
    layer = {"type": f"{name}.mod:Twice"}
    layers = [{"dense": 3}, {"residual": [layer]} if nested else layer]
    return build_model({"input_shape": [4], "layers": layers})


def test_model_file_naming_code_is_refused_and_runs_nothing(package, tmp_path):
    name, marker = package
    path = save_model(custom_model(name), tmp_path / "m.safetensors")
    forget(name, marker)
    with pytest.raises(BrickworkError, match=rf"names code.*{name}\.mod:Twice.*--trust-module"):
        load(path)
    with pytest.raises(BrickworkError, match=r"allowed: other"):
        load(path, trust_code=["other"])
    with pytest.raises(BrickworkError, match="names code"):
        load(path, trust_code=[f"{name}_evil", f"{name}.modx"])  # prefixes, not substrings
    assert not marker.exists() and f"{name}.mod" not in sys.modules


@pytest.mark.parametrize("trust", [True, "package", "submodule", "env", "ambient"])
def test_opting_in_loads_the_file(package, tmp_path, monkeypatch, trust):
    name, marker = package
    path = save_model(custom_model(name), tmp_path / "m.safetensors")
    forget(name, marker)
    if trust == "env":
        monkeypatch.setenv("BRICKWORK_TRUST_CODE", f"other, {name}")
        model = load(path)
    elif trust == "ambient":
        with trusting([name]):
            model = load(path)
    else:
        code = {True: True, "package": [name], "submodule": f"{name}.mod"}[trust]
        model = load(path, trust_code=code)
    assert marker.exists()
    assert torch.equal(model(torch.ones(1, 4)), 2 * model.layers["dense_1"](torch.ones(1, 4)))


def test_checkpoint_and_nested_custom_layers_are_refused(package, tmp_path):
    name, marker = package
    model = custom_model(name, nested=True)
    meta = {"model_spec": model.spec, "input_shape": [4]}
    path = save_checkpoint(tmp_path / "last.safetensors", {"model": model.state_dict()}, meta)
    forget(name, marker)
    with pytest.raises(BrickworkError, match="names code"):
        load(path)
    assert not marker.exists()
    assert load(path, trust_code=True).spec == model.spec


def test_every_loading_command_refuses_without_trust(package, tmp_path, capsys):
    name, marker = package
    path = save_model(custom_model(name), tmp_path / "m.safetensors")
    forget(name, marker)
    commands = [
        ["predict", path, tmp_path / "x.csv"],
        ["eval", path],
        ["export", path, "-o", tmp_path / "m.onnx", "--no-data"],
        ["serve", path, "--port", "0"],
        ["generate", path, "--prompt", "a"],
        ["forecast", path, "--steps", "2"],
        ["finetune", path, tmp_path / "ft.yaml", "--runs-dir", tmp_path / "runs"],
    ]
    (tmp_path / "ft.yaml").write_text(
        yaml.safe_dump({"data": {"dataset": "digits"}, "finetune": {}})
    )
    for argv in commands:
        assert main([str(a) for a in argv]) == 2, argv
        err = capsys.readouterr().err
        assert "names code" in err and "Traceback" not in err, (argv, err)
    assert not marker.exists() and not (tmp_path / "m.onnx").exists()
    assert not (tmp_path / "runs").exists()


def test_cli_trust_module_opts_in(package, tmp_path, capsys):
    name, marker = package
    path = save_model(custom_model(name), tmp_path / "m.safetensors")
    forget(name, marker)
    out = tmp_path / "m.onnx"
    assert main(["export", str(path), "-o", str(out), "--no-data", "--trust-module", name]) == 0
    assert marker.exists() and out.is_file()
    assert main(["export", str(path), "--trust-module", "runs/x", "-o", str(out)]) == 2
    assert "not a module prefix" in capsys.readouterr().err


def test_code_in_a_resumed_runs_stored_spec_is_refused(package, tmp_path, capsys):
    from brickwork.spec.run import parse_run_spec
    from brickwork.train.runner import train_from_spec

    name, marker = package
    spec = {
        "name": "r",
        "model": {"input_shape": [1, 8, 8], "layers": ["flatten", {"dense": 10}]},
        "data": {"dataset": "digits", "validation_split": 0.1, "limit": 300},
        "train": {"epochs": 1, "batch_size": 64, "verbose": 0, "device": "cpu"},
    }
    run = train_from_spec(parse_run_spec(spec), runs_dir=tmp_path / "runs").run_dir
    stored = yaml.safe_load((run / "spec.yaml").read_text())
    stored["train"]["callbacks"] = [{"type": f"{name}.cb:Hello"}]
    (run / "spec.yaml").write_text(yaml.safe_dump(stored))
    forget(name, marker)
    argv = ["train", "--resume", str(run), "--set", "train.epochs=2"]
    assert main(argv) == 2
    assert "names code" in capsys.readouterr().err and not marker.exists()
    assert (run / "checkpoints" / "last.safetensors").is_file()  # the run is kept as it was
    assert main([*argv, "--trust-module", f"{name}.cb"]) == 0
    assert marker.exists()


def test_a_users_own_spec_imports_by_design(package):
    name, marker = package
    forget(name, marker)
    custom_model(name)
    assert marker.exists()
    with loading(None):  # the user's own spec: no source, no check
        custom_model(name)


def test_allowed_parses_and_rejects():
    assert allowed(None) is False and allowed(True) is True
    assert allowed("a.b, c.") == ("a.b", "c")
    for bad in ("runs/x", "1abc", "", "a..b"):
        with pytest.raises(BrickworkError, match="not a module prefix"):
            allowed([bad])
