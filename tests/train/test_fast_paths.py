"""fit's automatic fast paths: channels_last for conv nets, fused optimizer steps, evaluation
under inference_mode with a larger batch, and no host read per training step."""

import pytest
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.models import build_model
from brickwork.spec.train import OptimizerSpec, parse_train_spec
from brickwork.train import fit
from brickwork.train.callbacks import Callback
from brickwork.train.optim import make_optimizer
from brickwork.train.pieces import eval_batch_size
from tests.train.helpers import blobs, mlp

CNN = {
    "input_shape": [1, 8, 8],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1, "activation": "relu"},
        {"type": "batchnorm"},
        {"type": "maxpool2d", "pool_size": 2},
        {"type": "dropout", "rate": 0.3},
        "flatten",
        {"type": "dense", "units": 3},
    ],
}


def images(n: int = 96):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    return x, y


class Seen(Callback):
    """What the trainer chose, and the memory format of the first conv weight mid-training."""

    def on_batch_end(self, batch, logs):
        if batch == 0:
            t = self.trainer
            self.chosen = dict(t.chosen)
            convs = [m for m in t.model.modules() if isinstance(m, nn.Conv2d)]
            self.weight_cl = bool(convs) and convs[0].weight.is_contiguous(
                memory_format=torch.channels_last
            )


def test_channels_last_auto_is_on_for_a_built_conv_net_and_the_model_comes_back_as_it_was():
    x, y = images()
    model, seen = build_model(CNN), Seen()
    inputs = []

    def step(batch, t):
        inputs.append(batch[0].is_contiguous(memory_format=torch.channels_last))
        out = t.step_model(batch[0])
        return {"loss": t.loss_fn(out, batch[1]), "output": out}

    fit(model, x, y, epochs=1, batch_size=32, verbose=0, callbacks=[seen], train_step=step)
    assert (
        seen.chosen["channels_last"]["value"] is True
        and "auto: on" in (seen.chosen["channels_last"]["why"])
    )
    assert seen.weight_cl and all(inputs)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous()  # auto's conversion is undone after fit


@pytest.mark.parametrize(
    "make, why",
    [(lambda: build_model({"input_shape": [10], "layers": [{"type": "dense", "units": 3}]}),
      "no 2-D convolution"),
     (lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.AdaptiveAvgPool2d(1), Flat()),
      "Flat is your own module")],
)  # fmt: skip
def test_channels_last_auto_is_off_for_mlps_and_for_your_own_modules(make, why):
    x, y = blobs(64) if "no 2-D" in why else images(64)
    seen = Seen()
    fit(make(), x, y, epochs=1, batch_size=32, verbose=0, callbacks=[seen])
    assert seen.chosen["channels_last"]["value"] is False
    assert why in seen.chosen["channels_last"]["why"]


class Flat(nn.Module):
    def forward(self, x):
        return x.view(x.shape[0], -1)  # a .view() that channels-last memory would refuse


def test_channels_last_takes_auto_true_false_and_nothing_else():
    assert parse_train_spec({}).channels_last == "auto"
    assert parse_train_spec({"channels_last": True}).channels_last is True
    assert parse_train_spec({"channels_last": False}).channels_last is False
    with pytest.raises(BrickworkError, match="channels_last"):
        parse_train_spec({"channels_last": "sometimes"})


def test_spec_optimizers_take_fused_steps_and_your_settings_or_objects_are_left_alone():
    model = mlp()
    for name in ("adam", "adamw", "sgd"):
        opt = make_optimizer(model, OptimizerSpec(type=name), 1e-3)
        assert opt.param_groups[0]["fused"] is True, name
    opt = make_optimizer(model, OptimizerSpec(type="adam", foreach=True), 1e-3)
    assert opt.param_groups[0]["foreach"] is True and not opt.param_groups[0]["fused"]
    assert (
        not make_optimizer(model, OptimizerSpec(type="rmsprop"), 1e-3).param_groups[0].get("fused")
    )
    x, y = blobs(64)
    own, seen = torch.optim.Adam(model.parameters(), lr=1e-3), Seen()
    fit(model, x, y, optimizer=own, epochs=1, batch_size=32, verbose=0, callbacks=[seen])
    assert own.param_groups[0]["fused"] is None
    assert seen.chosen["optimizer_step"]["why"] == "your optimizer object"


def test_a_resumed_conv_net_with_fused_adam_and_channels_last_continues_exactly():
    x, y = images()
    whole = build_model(CNN)
    start = {k: v.clone() for k, v in whole.state_dict().items()}
    fit(whole, x, y, epochs=2, batch_size=32, verbose=0)

    class Keep(Callback):
        def on_epoch_end(self, epoch, logs):
            self.state = self.trainer.state_dict()

    first, keep = build_model(CNN), Keep()
    first.load_state_dict(start)
    fit(first, x, y, epochs=1, batch_size=32, verbose=0, callbacks=[keep])
    second = build_model(CNN)
    fit(second, x, y, epochs=2, batch_size=32, verbose=0, resume=keep.state)
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(second.state_dict()[k], v)


def test_validation_runs_under_inference_mode_in_larger_batches_with_the_same_numbers():
    x, y = images(200)
    model = build_model(CNN)
    calls = []

    def hook(module, args):
        if not module.training:
            calls.append((torch.is_inference_mode_enabled(), args[0].shape[0]))

    model.register_forward_pre_hook(hook)
    h = fit(model, x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0)
    assert calls and all(mode for mode, _ in calls)
    assert max(n for _, n in calls) == 64 == eval_batch_size(parse_train_spec({"batch_size": 16}))
    # the same numbers as a pass in batches of 16 under no_grad; training went on after it
    from brickwork.train import evaluate
    from brickwork.train.steps import default_step

    calls.clear()  # an eval_step of yours keeps no_grad: the reference runs without inference_mode
    ref = evaluate(model, x, y, batch_size=16, metrics=["accuracy"], eval_step=default_step)
    assert calls and not any(mode for mode, _ in calls)
    assert h.history["val_loss"][-1] == pytest.approx(ref["loss"], rel=1e-5)
    assert h.history["val_accuracy"][-1] == pytest.approx(ref["accuracy"])
    assert eval_batch_size(parse_train_spec({"batch_size": 512})) == 1024
    assert eval_batch_size(parse_train_spec({"batch_size": 4096})) == 4096
    assert eval_batch_size(parse_train_spec({"batch_size": 16, "eval_batch_size": 8})) == 8


def _host_reads(monkeypatch, steps: int, **options) -> int:
    """How many times fit reads a tensor's value on the host, over `steps` training steps."""
    x, y = blobs(steps * 4)
    count = [0]
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "cpu", "numpy"):
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, **k):
            count[0] += 1
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    try:
        fit(mlp(), x, y, epochs=1, batch_size=4, verbose=1, **options)
    finally:
        monkeypatch.undo()
    return count[0]


def test_no_host_read_per_training_step(monkeypatch):
    """The reads do not grow with the steps: only the NaN check's, once per 50 batches."""
    short, long = _host_reads(monkeypatch, 40), _host_reads(monkeypatch, 240)
    assert long - short <= (240 - 40) // 50
    quiet = dict(terminate_on_nan=False)
    assert _host_reads(monkeypatch, 40, **quiet) == _host_reads(monkeypatch, 240, **quiet)


def test_environment_json_says_what_auto_chose(tmp_path):
    import json

    from brickwork.train.run import fit_run

    x, y = images(64)
    fit_run(build_model(CNN), x, y, run_dir=tmp_path / "run", epochs=1, batch_size=32, verbose=0)
    auto = json.loads((tmp_path / "run" / "environment.json").read_text())["chosen"]
    assert auto["channels_last"]["value"] is True and auto["optimizer_step"]["value"] == "fused"
