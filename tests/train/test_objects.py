"""Your own PyTorch pieces in fit/evaluate: losses, optimizers, schedulers, metrics, steps.

Where a piece has a spec-name twin, the two must train to exactly the same weights.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR, StepLR

from brickwork.errors import BrickworkError
from brickwork.spec.train import parse_train_spec
from brickwork.train import Callback, evaluate, fit

from .helpers import blobs, mlp

SHORT = {"epochs": 2, "batch_size": 64, "verbose": 0, "shuffle": True, "device": "cpu"}


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_loss_module_or_function_trains_like_the_spec_name():
    x, y = blobs(500)
    ref, by_module, by_function = mlp(), mlp(), mlp()
    fit(ref, x, y, loss="cross_entropy", **SHORT)
    h = fit(by_module, x, y, loss=nn.CrossEntropyLoss(), **SHORT)
    fit(
        by_function,
        x,
        y,
        loss=lambda out, t: F.cross_entropy(out, t),
        task="classification",
        **SHORT,
    )
    assert same(weights(ref), weights(by_module)) and same(weights(ref), weights(by_function))
    assert "accuracy" in h.history  # a torch loss class says what the outputs are


def test_an_unknown_loss_logs_only_the_loss_unless_the_task_is_given():
    x, y = blobs(300)
    h = fit(mlp(), x, y, loss=lambda out, t: F.cross_entropy(out, t), **SHORT)
    assert set(h.history) == {"loss", "lr"}
    with pytest.raises(BrickworkError, match="task='classification'"):
        fit(mlp(), x, y, loss=lambda out, t: F.cross_entropy(out, t), metrics=["f1"], **SHORT)


def test_an_optimizer_instance_or_factory_trains_like_the_spec():
    x, y = blobs(500)
    ref, inst, fact = mlp(), mlp(), mlp()
    fit(ref, x, y, optimizer={"type": "SGD", "momentum": 0.9}, lr=0.05, **SHORT)
    # the spec's SGD takes fused steps (a fast path; the same arithmetic as fused=True here)
    sgd = {"lr": 0.05, "momentum": 0.9, "fused": True}
    fit(inst, x, y, optimizer=torch.optim.SGD(inst.parameters(), **sgd), **SHORT)
    fit(fact, x, y, optimizer=lambda p: torch.optim.SGD(p, **sgd), **SHORT)
    assert same(weights(ref), weights(inst)) and same(weights(ref), weights(fact))


def test_optimizer_mistakes_are_errors():
    x, y = blobs(100)
    model = mlp()
    with pytest.raises(BrickworkError, match="do not belong to the model"):
        fit(model, x, y, optimizer=torch.optim.SGD(mlp().parameters(), lr=0.1), **SHORT)
    with pytest.raises(BrickworkError, match="optimizer object and train.lr"):
        fit(model, x, y, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), lr=0.5, **SHORT)
    with pytest.raises(BrickworkError, match="factory returned a"):
        fit(model, x, y, optimizer=lambda p: "sgd", **SHORT)


@pytest.mark.parametrize(
    "optimizer",
    ["NAdam", {"type": "torch.optim.AdamW", "weight_decay": 0.1}, {"type": "rprop"}, "asgd"],
)
def test_any_torch_optim_class_by_name_trains(optimizer):
    x, y = blobs(300)
    h = fit(mlp(), x, y, optimizer=optimizer, lr=0.01, **{**SHORT, "epochs": 3})
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_spec_optimizer_settings_are_checked_against_the_signature():
    with pytest.raises(BrickworkError, match=r"no setting 'momentun' \(did you mean 'momentum'"):
        parse_train_spec({"optimizer": {"type": "sgd", "momentun": 0.9}})
    with pytest.raises(BrickworkError, match=r"unknown optimizer 'adamx' \(did you mean"):
        parse_train_spec({"optimizer": "adamx"})
    with pytest.raises(BrickworkError, match="needs a closure"):
        parse_train_spec({"optimizer": "LBFGS"})
    with pytest.raises(BrickworkError, match="train.lr, not a setting"):
        parse_train_spec({"optimizer": {"type": "sgd", "lr": 0.1}})
    assert parse_train_spec({"optimizer": "torch.optim.SGD"}).optimizer.type == "sgd"


def test_default_optimizer_hyperparameters_are_torch_defaults():
    from brickwork.spec.train import OptimizerSpec
    from brickwork.train.optim import make_optimizer

    model = mlp()
    for name, cls in [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)]:
        made = make_optimizer(model, OptimizerSpec(type=name), 1e-3).defaults
        # the same hyperparameters; only the execution differs (fused kernels, a fast path)
        assert made == cls(mlp().parameters(), lr=1e-3, fused=True).defaults


def test_a_users_optimizer_class_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_optim.py").write_text(
        "import torch\n"
        "class HalfSGD(torch.optim.SGD):\n"
        "    def __init__(self, params, lr=0.1, shrink=0.5):\n"
        "        super().__init__(params, lr=lr * shrink)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    x, y = blobs(200)
    h = fit(mlp(), x, y, optimizer={"type": "my_optim:HalfSGD", "shrink": 0.5}, lr=0.2, **SHORT)
    assert h.history["lr"] == [0.1, 0.1]
    with pytest.raises(BrickworkError, match="'HalfSGD' has no setting 'shrunk'"):
        fit(mlp(), x, y, optimizer={"type": "my_optim:HalfSGD", "shrunk": 0.5}, **SHORT)


class LRs(Callback):
    def __init__(self):
        self.lrs = []

    def on_batch_begin(self, batch, logs):
        self.lrs.append(self.trainer.optimizer.param_groups[0]["lr"])


def test_a_per_batch_scheduler_object_follows_torch():
    x, y = blobs(256)
    model, seen = mlp(), LRs()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = OneCycleLR(opt, max_lr=0.5, total_steps=8)
    fit(
        model,
        x,
        y,
        optimizer=opt,
        scheduler=sched,
        scheduler_interval="batch",
        callbacks=[seen],
        **{**SHORT, "epochs": 2},
    )
    expected_opt = torch.optim.SGD(mlp().parameters(), lr=0.1, momentum=0.9)
    expected = OneCycleLR(expected_opt, max_lr=0.5, total_steps=8)
    want = []
    for _ in range(8):
        want.append(expected_opt.param_groups[0]["lr"])
        expected_opt.step()
        expected.step()
    assert seen.lrs == want


def test_an_epoch_scheduler_factory_and_its_mistakes():
    x, y = blobs(256)
    model = mlp()
    h = fit(
        model,
        x,
        y,
        optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
        scheduler=lambda o: StepLR(o, step_size=1, gamma=0.5),
        scheduler_interval="epoch",
        **{**SHORT, "epochs": 3},
    )
    assert h.history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(BrickworkError, match="scheduler_interval='batch'"):
        fit(model, x, y, optimizer=opt, scheduler=StepLR(opt, 1), **SHORT)
    other = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(BrickworkError, match="another optimizer"):
        fit(
            model,
            x,
            y,
            optimizer=opt,
            scheduler=StepLR(other, 1),
            scheduler_interval="epoch",
            **SHORT,
        )
    with pytest.raises(BrickworkError, match="scheduler object and train.schedule"):
        fit(
            model,
            x,
            y,
            scheduler=lambda o: StepLR(o, 1),
            scheduler_interval="epoch",
            schedule="cosine",
            **SHORT,
        )


def test_torchmetrics_give_the_built_in_figures():
    tm = pytest.importorskip("torchmetrics")
    x, y = blobs(530)  # 530 / 64: a short last batch
    h = fit(
        mlp(),
        x[:430],
        y[:430],
        validation_data=(x[430:], y[430:]),
        metrics=[
            "accuracy",
            "f1",
            tm.classification.MulticlassAccuracy(num_classes=3, average="micro"),
            tm.classification.MulticlassF1Score(num_classes=3, average="macro"),
        ],
        **{**SHORT, "epochs": 3, "lr": 0.003},
    )
    for prefix in ("", "val_"):
        assert h[f"{prefix}multiclass_accuracy"] == pytest.approx(h[f"{prefix}accuracy"], abs=1e-6)
        assert h[f"{prefix}multiclass_f1_score"] == pytest.approx(h[f"{prefix}f1"], abs=1e-6)
    metric = tm.classification.MulticlassAccuracy(num_classes=3, average="micro")
    result = evaluate(mlp(), x, y, metrics={"acc": metric, "builtin": "accuracy"})
    assert result["acc"] == pytest.approx(result["accuracy"], abs=1e-6)


def test_a_metric_function_is_averaged_over_samples():
    x, y = blobs(530)

    def hits(out, target):
        return (out.argmax(-1) == target).float().mean()

    h = fit(mlp(), x, y, metrics=["accuracy", hits], **{**SHORT, "batch_size": 100})
    assert h["hits"] == pytest.approx(h["accuracy"], abs=1e-6)
    with pytest.raises(BrickworkError, match="name it"):
        fit(mlp(), x, y, metrics=[lambda o, t: o.mean()], **SHORT)


def plain_step(batch, trainer):
    x, y = batch
    out = trainer.step_model(x)
    return {"loss": trainer.loss_fn(out, y), "output": out}


@pytest.mark.parametrize("precision, accumulate", [("fp32", 1), ("bf16", 2)])
def test_a_custom_step_equals_the_built_in_one(precision, accumulate):
    x, y = blobs(400)
    ref, custom = mlp(dropout=0.2), mlp(dropout=0.2)
    opts = {**SHORT, "precision": precision, "accumulate": accumulate, "batch_size": 30}
    a = fit(ref, x[:300], y[:300], validation_data=(x[300:], y[300:]), **opts)
    b = fit(
        custom,
        x[:300],
        y[:300],
        validation_data=(x[300:], y[300:]),
        train_step=plain_step,
        eval_step=plain_step,
        metrics=["accuracy"],
        **opts,
    )
    assert same(weights(ref), weights(custom))
    assert a.history == b.history


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(10, 32), nn.ReLU())
        self.classes, self.size = nn.Linear(32, 3), nn.Linear(32, 1)

    def forward(self, x):
        h = self.body(x)
        return self.classes(h), self.size(h)


def two_loss_step(batch, trainer):
    """Lightning-style multi-task step: a classification and a regression loss."""
    x, y = batch
    logits, size = trainer.step_model(x)
    ce = F.cross_entropy(logits, y)
    mse = F.mse_loss(size.squeeze(-1), x.norm(dim=1))
    return {"loss": ce + 0.1 * mse, "ce": ce, "mse": mse, "output": logits}


def test_a_two_loss_step_logs_its_parts_with_amp_and_accumulation():
    x, y = blobs(400)
    h = fit(
        TwoHeads(),
        x[:300],
        y[:300],
        validation_data=(x[300:], y[300:]),
        train_step=two_loss_step,
        eval_step=two_loss_step,
        metrics=["accuracy"],
        **{**SHORT, "epochs": 4, "precision": "bf16", "accumulate": 2, "lr": 0.01},
    )
    for key in ("loss", "ce", "mse", "accuracy", "val_ce", "val_mse", "val_accuracy"):
        assert len(h[key]) == 4, key
    assert h["ce"][-1] < h["ce"][0] and h["mse"][-1] < h["mse"][0]
    assert h["loss"][0] == pytest.approx(h["ce"][0] + 0.1 * h["mse"][0], rel=1e-3)


def test_step_mistakes_are_errors():
    x, y = blobs(100)
    with pytest.raises(BrickworkError, match="must return the loss tensor"):
        fit(mlp(), x, y, train_step=lambda b, t: 1.0, **SHORT)

    def no_output(batch, trainer):
        return trainer.loss_fn(trainer.step_model(batch[0]), batch[1])

    h = fit(mlp(), x, y, train_step=no_output, **SHORT)  # no metrics asked for: loss only
    assert set(h.history) == {"loss", "lr"}
    with pytest.raises(BrickworkError, match="needs the step's output"):
        fit(mlp(), x, y, train_step=no_output, metrics=["accuracy"], **SHORT)


def test_cross_entropy_on_one_output_column_is_an_error_not_a_zero_loss():
    """fit no longer writes the loss into the model, so evaluate on an unannotated binary model
    falls back to cross_entropy: that must fail loudly, not report a loss of 0."""
    x, y = blobs(200, classes=2)
    model = nn.Sequential(nn.Linear(10, 1))
    fit(
        model,
        x,
        y.float(),
        loss="bce_with_logits",
        task="binary",
        **{**SHORT, "epochs": 10, "lr": 0.05},
    )
    with pytest.raises(BrickworkError, match="single output column"):
        evaluate(model, x, y)
    assert evaluate(model, x, y.float(), task="binary")["accuracy"] > 0.9
