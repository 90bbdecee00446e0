"""Fine-tuning runs end to end on sklearn digits: frozen weights, parameter groups, unfreezing,
CLI.
"""

import json

import pytest
import torch
import yaml

from brickwork.cli.main import main
from brickwork.errors import BrickworkError
from brickwork.finetune import finetune, finetune_from_spec
from brickwork.finetune.run import prepare
from brickwork.models import build_model
from brickwork.models.io import load, save_model
from brickwork.spec.run import parse_run_spec
from brickwork.train.callbacks import Callback
from brickwork.train.optim import make_optimizer

MODEL = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "name": "c1"},
        {"type": "batchnorm", "name": "bn"},
        "relu",
        "flatten",
        {"type": "dense", "units": 16, "activation": "relu", "name": "fc"},
        {"type": "dense", "units": 10, "name": "head"},
    ],
}


@pytest.fixture
def base(tmp_path):
    """A saved brickwork model with non-trivial batch-norm statistics (as a pretrained one has)."""
    torch.manual_seed(0)
    model = build_model(MODEL)
    model.layers["bn"].running_mean.uniform_(-1, 1)
    model.layers["bn"].running_var.uniform_(0.5, 2)
    return save_model(model, tmp_path / "base.safetensors", class_names=[str(i) for i in range(10)])


def spec(**finetune_options):
    return parse_run_spec(
        {
            "name": "ft",
            "data": {"dataset": "digits", "limit": 400},
            "train": {"epochs": 1, "batch_size": 32, "lr": 0.01, "verbose": 0},
            "finetune": finetune_options,
        }
    )


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_frozen_layers_are_bit_identical_after_an_epoch_while_the_head_trains(base, tmp_path):
    before = state(load(base))
    result = finetune_from_spec(
        spec(head=True, freeze={"all_but_last": 1}), base, runs_dir=tmp_path
    )
    after = load(result.run_dir / "model.safetensors").state_dict()
    for key in (
        "layers.c1.weight",
        "layers.c1.bias",
        "layers.bn.weight",
        "layers.bn.running_mean",
        "layers.bn.running_var",
        "layers.bn.num_batches_tracked",
        "layers.fc.weight",
        "layers.fc.bias",
    ):
        assert torch.equal(after[key], before[key]), key
    assert not torch.equal(after["layers.head.weight"], before["layers.head.weight"])
    saved = yaml.safe_load((result.run_dir / "spec.yaml").read_text())
    assert saved["finetune"]["base"] == str(base) and "model" not in saved


class GroupLR(Callback):
    """Records each parameter group's lr and which layers it holds, at the end of the first
    batch.
    """

    def on_batch_end(self, batch, logs):
        if batch == 0:
            params = dict(self.trainer.model.named_parameters())
            names = {id(p): n.split(".")[1] for n, p in params.items()}
            self.groups = [
                (g["lr"], sorted({names[id(p)] for p in g["params"]}))
                for g in self.trainer.optimizer.param_groups
            ]


def test_head_and_backbone_learning_rates_become_parameter_groups(base):
    from brickwork.train.loop import fit

    model, bundle, train, callbacks, _ = prepare(
        spec(head=True, head_lr=0.05, backbone_lr=0.002), base
    )
    probe = GroupLR()
    fit(model, bundle.train, train=train, callbacks=[*callbacks, probe])
    assert probe.groups == [(0.002, ["bn", "c1", "fc"]), (0.05, ["head"])]


def test_param_groups_in_the_train_section_reach_torch():
    """train.optimizer.param_groups by glob; PyTorch's SGD with lr 0 leaves that group exactly as it
    was.
    """
    from brickwork.spec.train import OptimizerSpec
    from brickwork.train.loop import fit

    torch.manual_seed(0)
    model = build_model(MODEL)
    before = state(model)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    fit(
        model,
        x,
        y,
        epochs=1,
        lr=0.1,
        verbose=0,
        optimizer={
            "type": "sgd",
            "momentum": 0.9,
            "param_groups": [
                {"layers": ["c*", "bn"], "lr": 0.0},
                {"layers": "head", "lr": 0.5, "weight_decay": 0.01},
            ],
        },
    )
    after = model.state_dict()
    assert torch.equal(after["layers.c1.weight"], before["layers.c1.weight"])
    assert not torch.equal(after["layers.fc.weight"], before["layers.fc.weight"])
    opt = make_optimizer(
        model,
        OptimizerSpec(
            type="sgd", param_groups=[{"layers": "head", "lr": 0.5, "weight_decay": 0.01}]
        ),
        0.1,
    )
    assert [(g["lr"], g["weight_decay"], len(g["params"])) for g in opt.param_groups] == [
        (0.1, 0, 6),
        (0.5, 0.01, 2),
    ]
    with pytest.raises(BrickworkError, match=r"param_groups\[0\].*match no parameters.*c1, bn"):
        make_optimizer(model, OptimizerSpec(type="sgd", param_groups=[{"layers": "conv*"}]), 0.1)
    with pytest.raises(BrickworkError, match="optimizer 'Adam' has no setting 'momentum'"):
        make_optimizer(
            model,
            OptimizerSpec(type="adam", param_groups=[{"layers": "head", "momentum": 0.9}]),
            0.1,
        )


class Snapshots(Callback):
    def __init__(self):
        self.states = []

    def on_epoch_end(self, epoch, logs):
        self.states.append(state(self.trainer.model))


def test_gradual_unfreezing_on_schedule_with_batchnorm_statistics(base):
    from brickwork.train.loop import fit

    s = spec(
        freeze={"all_but_last": 1}, unfreeze=[{"epoch": 2, "last": 2}, {"epoch": 3, "layers": "*"}]
    )
    model, bundle, train, callbacks, _ = prepare(s, base)
    start = state(model)
    snaps = Snapshots()
    fit(
        model,
        bundle.train,
        train=train.model_copy(update={"epochs": 3}),
        callbacks=[*callbacks, snaps],
    )
    one, two, three = snaps.states
    same = lambda a, b, key: torch.equal(a[key], b[key])  # noqa: E731
    assert (
        same(start, one, "layers.fc.weight")
        and same(start, one, "layers.c1.weight")
        and same(start, one, "layers.bn.running_mean")
    )
    assert not same(start, one, "layers.head.weight")
    assert (
        not same(one, two, "layers.fc.weight")
        and same(one, two, "layers.c1.weight")
        and same(one, two, "layers.bn.running_var")
    )
    assert not same(two, three, "layers.c1.weight") and not same(
        two, three, "layers.bn.running_mean"
    )


def test_resume_reapplies_unfreezing(base, tmp_path):
    """Two epochs in one go equal one epoch, then a resume for the second (unfreezing at epoch
    2).
    """
    s = spec(freeze={"layers": ["c1", "bn"]}, unfreeze=[{"epoch": 2, "layers": ["c1", "bn"]}])
    whole = finetune_from_spec(
        s.model_copy(update={"train": s.train.model_copy(update={"epochs": 2})}),
        base,
        runs_dir=tmp_path / "a",
    )
    part = finetune_from_spec(s, base, runs_dir=tmp_path / "b")
    run = part.run_dir
    spec_file = yaml.safe_load((run / "spec.yaml").read_text())
    spec_file["train"]["epochs"] = 2
    (run / "spec.yaml").write_text(yaml.safe_dump(spec_file))
    assert main(["train", "--resume", str(run)]) == 0

    a, b = (
        load(whole.run_dir / "model.safetensors").state_dict(),
        load(run / "model.safetensors").state_dict(),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["layers.c1.weight"], load(base).state_dict()["layers.c1.weight"])


def test_plain_state_dict_base_with_key_map_via_cli(tmp_path, capsys):
    torch.manual_seed(1)
    plain = {
        k.replace("layers.", "backbone."): v for k, v in build_model(MODEL).state_dict().items()
    }
    torch.save(plain, tmp_path / "weights.pt")
    path = tmp_path / "ft.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "plain",
                "model": MODEL,
                "data": {"dataset": "digits", "limit": 300},
                "train": {"epochs": 1, "verbose": 0},
                "finetune": {
                    "pretrained": {"key_map": {"backbone.": "layers."}},
                    "freeze": ["c1", "bn"],
                },
            }
        )
    )
    assert main(["finetune", str(tmp_path / "weights.pt"), str(path), "--summary"]) == 0
    out = capsys.readouterr().out
    assert (
        "frozen layers: c1, bn (48 of 4,330 parameters)" in out and "11 matched, 0 missing" in out
    )
    assert (
        main(
            [
                "finetune",
                str(tmp_path / "weights.pt"),
                str(path),
                "--runs-dir",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "runs" / "plain" / "pretrained_report.json").read_text())
    assert len(report["matched"]) == 11 and not report["unexpected"]


def test_errors_name_the_problem(base, tmp_path, capsys):
    with pytest.raises(
        BrickworkError, match=r"takes inputs of shape \[1, 8, 8\] but the data gives \[2\]"
    ):
        prepare(
            parse_run_spec(
                {"data": {"dataset": "csv", "path": str(_two_class_csv(tmp_path))}, "finetune": {}}
            ),
            base,
        )
    three = save_model(
        build_model({**MODEL, "layers": [*MODEL["layers"][:-1], {"type": "dense", "units": 3}]}),
        tmp_path / "three.safetensors",
    )
    with pytest.raises(
        BrickworkError, match="3 outputs but the data has 10 classes; add `head: true`"
    ):
        prepare(spec(), three)
    with pytest.raises(BrickworkError, match="plain state dict with no architecture"):
        torch.save({"w": torch.zeros(1)}, tmp_path / "w.pt")
        prepare(spec(), tmp_path / "w.pt")
    with pytest.raises(BrickworkError, match=r"unfreeze\[0\]: no layer matches 'conv9'"):
        prepare(spec(unfreeze=[{"epoch": 2, "layers": "conv9"}]), base)
    assert main(["finetune", str(tmp_path / "missing.safetensors"), "spec.yaml"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(BrickworkError, match="needs a base model"):
        finetune_from_spec(spec())


def _two_class_csv(tmp_path):
    rows = ["a,b,label"] + [f"{i % 7},{i % 5},{i % 2}" for i in range(40)]
    path = tmp_path / "two.csv"
    path.write_text("\n".join(rows))
    return path


def test_python_finetune_from_a_dict_with_overrides(base, tmp_path):
    result = finetune(
        base,
        {
            "data": {"dataset": "digits", "limit": 200},
            "train": {"epochs": 1, "verbose": 0},
            "finetune": {"head": True},
        },
        ["finetune.head_lr=0.02"],
        runs_dir=tmp_path,
    )
    assert 0 <= result.test_metrics["accuracy"] <= 1
    assert yaml.safe_load((result.run_dir / "spec.yaml").read_text())["finetune"]["head_lr"] == 0.02


class ZooBackbone(torch.nn.Module):
    """Stands in for a torchvision model used as a custom layer, its classifier dropped."""

    def __init__(self):
        super().__init__()
        self.net = zoo_model()
        self.net.fc = torch.nn.Identity()

    def forward(self, x):
        return self.net(x)


def zoo_model():
    from collections import OrderedDict

    return torch.nn.Sequential(
        OrderedDict(
            conv=torch.nn.Conv2d(1, 4, 3), flat=torch.nn.Flatten(), fc=torch.nn.Linear(144, 1000)
        )
    )


def test_zoo_style_backbone_as_a_custom_layer_takes_its_state_dict(tmp_path):
    torch.manual_seed(0)
    zoo = zoo_model()
    torch.save(zoo.state_dict(), tmp_path / "zoo.pth")
    model_spec = {
        "input_shape": [1, 8, 8],
        "layers": [
            {"type": "tests.finetune.test_finetune_run:ZooBackbone", "name": "backbone"},
            {"type": "dense", "units": 10, "name": "head"},
        ],
    }
    s = parse_run_spec(
        {
            "model": model_spec,
            "data": {"dataset": "digits", "limit": 100},
            "finetune": {
                "pretrained": {"key_map": {"": "layers.backbone.net."}},
                "freeze": "backbone",
            },
        }
    )
    model, _, _, _, report = prepare(s, tmp_path / "zoo.pth")
    assert report["matched"] == ["layers.backbone.net.conv.weight", "layers.backbone.net.conv.bias"]
    assert report["unexpected"] == ["layers.backbone.net.fc.weight", "layers.backbone.net.fc.bias"]
    assert torch.equal(model.layers["backbone"].net.conv.weight, zoo.conv.weight)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "layers.head.weight",
        "layers.head.bias",
    ]


def test_torchvision_backbone_needs_torchvision_or_works_with_it():
    layer = {
        "input_shape": [3, 64, 64],
        "layers": [
            {
                "type": "brickwork.finetune.zoo:TorchvisionBackbone",
                "arch": "resnet18",
                "name": "backbone",
            },
            {"type": "dense", "units": 5, "name": "head"},
        ],
    }
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(BrickworkError, match="needs torchvision, which is not installed"):
            build_model(layer)
        return
    model = build_model(layer)
    assert model.layer_info[0]["output_shape"] == [512]
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 5)


def test_base_can_be_a_run_directory_or_its_checkpoint(tmp_path):
    """`brickwork finetune runs/NAME SPEC`: the run's final model; a checkpoint file works too."""
    from brickwork.train.runner import train_from_spec

    pretrain = parse_run_spec(
        {
            "name": "pre",
            "model": MODEL,
            "data": {"dataset": "digits", "limit": 300},
            "train": {"epochs": 1, "batch_size": 32, "verbose": 0},
        }
    )
    run = train_from_spec(pretrain, runs_dir=tmp_path / "runs").run_dir
    trained = load(run / "model.safetensors").state_dict()
    for base in (run, run / "checkpoints" / "last.safetensors"):
        before = state(prepare(spec(freeze={"all_but_last": 1}), base)[0])
        assert all(torch.equal(before[k], trained[k]) for k in trained), base
