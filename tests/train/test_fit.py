"""fit / evaluate / predict on tensors, DataLoaders and specs; optimizers, schedules, losses."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from brickwork.errors import BrickworkError
from brickwork.spec.train import ScheduleSpec, parse_train_spec
from brickwork.train import evaluate, fit, predict
from brickwork.train.optim import lr_multiplier

from .helpers import blobs, mlp


def test_fit_learns_and_returns_keras_history():
    x, y = blobs()
    model = mlp()
    h = fit(
        model, x[:500], y[:500], validation_data=(x[500:], y[500:]), epochs=4, lr=0.01, verbose=0
    )
    assert len(h.history["val_loss"]) == 4 and h.epoch == [0, 1, 2, 3]
    assert h.history["val_accuracy"][-1] > 0.9
    result = evaluate(model, x[500:], y[500:])
    assert result["accuracy"] == pytest.approx(h.history["val_accuracy"][-1])
    assert sum(map(sum, result["confusion_matrix"])) == 100
    assert predict(model, x[:7]).shape == (7, 3)


def test_fit_accepts_any_iterable_of_batches():
    x, y = blobs()
    h = fit(
        mlp(),
        DataLoader(TensorDataset(x, y), batch_size=50, shuffle=True),
        epochs=3,
        lr=0.01,
        verbose=0,
    )
    assert h.history["accuracy"][-1] > 0.9


@pytest.mark.parametrize(
    "optimizer",
    [
        "sgd",
        {"type": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        "adam",
        "adamw",
        "rmsprop",
        "adagrad",
    ],
)
def test_every_optimizer_trains(optimizer):
    x, y = blobs()
    h = fit(mlp(), x, y, epochs=3, lr=0.05, optimizer=optimizer, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


@pytest.mark.parametrize(
    "loss",
    [
        "cross_entropy",
        {"type": "cross_entropy", "label_smoothing": 0.1},
        {"type": "cross_entropy", "class_weights": [1, 2, 1]},
    ],
)
def test_classification_losses(loss):
    x, y = blobs()
    h = fit(mlp(), x, y, epochs=3, lr=0.01, loss=loss, verbose=0)
    assert h.history["accuracy"][-1] > 0.9


def test_softmax_and_log_softmax_outputs_use_their_log():
    x, y = blobs()
    for head, loss in (
        (nn.Softmax(-1), "cross_entropy"),
        (nn.LogSoftmax(-1), "nll"),
        (nn.LogSoftmax(-1), "cross_entropy"),
    ):
        h = fit(nn.Sequential(mlp(), head), x, y, epochs=3, lr=0.01, loss=loss, verbose=0)
        assert h.history["accuracy"][-1] > 0.9, (head, loss)


def test_binary_and_regression_losses():
    x, y = blobs(classes=2)
    for loss, head in (
        ("bce", nn.Sigmoid()),
        ("bce_with_logits", nn.Identity()),
        ("bce", nn.Identity()),
    ):
        model = nn.Sequential(mlp(classes=1), head)
        h = fit(model, x, y.float(), epochs=3, lr=0.01, loss=loss, task="binary", verbose=0)
        assert h.history["accuracy"][-1] > 0.9, loss
    target = x[:, :2].sum(1, keepdim=True)
    for loss in ("mse", "l1", {"type": "huber", "delta": 0.5}):
        h = fit(
            mlp(classes=1),
            x,
            target,
            epochs=4,
            lr=0.01,
            loss=loss,
            metrics=["mae", "rmse", "r2"],
            verbose=0,
        )
        assert h.history["r2"][-1] > 0.8, loss


@pytest.mark.parametrize(
    "loss, head",
    [("mse", nn.Softmax(-1)), ("bce", nn.Sigmoid()), ("bce_with_logits", nn.Identity())],
)
def test_class_ids_become_one_hot_targets_when_the_loss_needs_them(loss, head):
    """Keras-tutorial losses on class ids: the targets are one-hot encoded on the device."""
    x, y = blobs()
    model = nn.Sequential(mlp(), head)
    h = fit(model, x, y, epochs=4, lr=0.02, loss=loss, task="classification", verbose=0)
    assert h.history["accuracy"][-1] > 0.9, loss
    with torch.no_grad():
        out = model(x[:8])
    by_hand = {
        "mse": nn.functional.mse_loss,
        "bce": nn.functional.binary_cross_entropy,
        "bce_with_logits": nn.functional.binary_cross_entropy_with_logits,
    }[loss]
    expected = by_hand(out, nn.functional.one_hot(y[:8], 3).float())
    assert evaluate(model, x[:8], y[:8], loss=loss, task="classification")["loss"] == pytest.approx(
        float(expected), rel=1e-3
    )  # bce clamps at 1e-7


def test_gradient_accumulation_equals_a_big_batch():
    x, y = blobs(n=256)
    a, b = mlp(), mlp()
    fit(a, x, y, epochs=2, batch_size=64, optimizer="sgd", lr=0.1, shuffle=False, verbose=0)
    fit(
        b,
        x,
        y,
        epochs=2,
        batch_size=32,
        accumulate=2,
        optimizer="sgd",
        lr=0.1,
        shuffle=False,
        verbose=0,
    )
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_clipping_bounds_the_step():
    x, y = blobs()
    model = mlp()
    before = [p.detach().clone() for p in model.parameters()]
    fit(
        model,
        x[:32],
        y[:32],
        epochs=1,
        batch_size=32,
        optimizer="sgd",
        lr=1.0,
        clip_grad_norm=1e-3,
        verbose=0,
    )
    moved = math.sqrt(
        sum(
            (p.detach() - q).pow(2).sum().item()
            for p, q in zip(model.parameters(), before, strict=True)
        )
    )
    assert moved <= 1e-3 + 1e-7


def test_schedules():
    spe = 10

    def lrs(**kw):
        f = lr_multiplier(ScheduleSpec(**kw), spe, 5, 0.1)
        return [f(s) for s in range(50)]

    step = lrs(type="step", step_size=2, gamma=0.5)
    assert step[0] == step[19] == 1 and step[20] == 0.5 and step[49] == 0.25
    assert lrs(type="multistep", milestones=[1, 3], gamma=0.1)[35] == pytest.approx(0.01)
    assert lrs(type="exponential", gamma=0.9)[25] == pytest.approx(0.81)
    cos = lrs(type="cosine", warmup_epochs=1)
    assert cos[0] == pytest.approx(0.1) and cos[9] == pytest.approx(1.0) and cos[49] < 0.01
    cycle = lrs(type="one_cycle", max_lr=1.0, pct_start=0.3)
    assert (
        cycle[0] == pytest.approx(10 / 25)
        and max(cycle) == pytest.approx(10, rel=1e-3)
        and cycle[-1] == pytest.approx(10 / 25 / 1e4)
    )


def test_plateau_schedule_becomes_the_callback():
    x, y = blobs()
    h = fit(
        mlp(),
        x,
        y,
        epochs=3,
        lr=0.1,
        schedule={
            "type": "reduce_on_plateau",
            "monitor": "loss",
            "patience": 0,
            "factor": 0.5,
            "min_delta": 10.0,
        },
        verbose=0,
    )
    assert h.history["lr"] == pytest.approx([0.1, 0.1, 0.05])


def test_regularization_penalty_is_added():
    from brickwork.models import build_model

    spec = {
        "input_shape": [10],
        "layers": [{"type": "dense", "units": 3, "kernel_regularizer": {"l2": 10.0}}],
    }
    x, y = blobs()
    torch.manual_seed(0)
    plain = fit(
        build_model({**spec, "layers": [{"type": "dense", "units": 3}]}), x, y, epochs=1, verbose=0
    )
    torch.manual_seed(0)
    penalized = fit(build_model(spec), x, y, epochs=1, verbose=0)
    assert penalized.history["loss"][0] > plain.history["loss"][0] + 1


def test_train_spec_errors_name_the_field():
    with pytest.raises(BrickworkError, match="did you mean 'epochs'"):
        fit(mlp(), *blobs(), epoch=3)
    with pytest.raises(BrickworkError, match="no setting 'momentum'"):
        parse_train_spec({"optimizer": {"type": "adam", "momentum": 0.9}})
    with pytest.raises(BrickworkError, match="one target per sample"):
        fit(mlp(), torch.zeros(5, 10), torch.zeros(4, dtype=torch.long), verbose=0)


def test_progress_bar_and_verbose_lines(capsys):
    x, y = blobs()
    fit(mlp(), x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "accuracy" in out
    fit(mlp(), x, y, epochs=1, verbose=1)
    assert "samples/s" in capsys.readouterr().out
