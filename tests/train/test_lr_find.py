"""The learning-rate finder: state restored after the sweep, a sane suggestion, clear refusals."""

import json

import pytest
import torch
from PIL import Image
from torch import nn

import brickwork as bw
from brickwork.cli.main import main
from brickwork.errors import BrickworkError
from brickwork.train.lr_find import suggest
from tests.conftest import EXAMPLES


def _blobs(n=1024, classes=4, features=16, seed=0):
    """Gaussian blobs: a problem an MLP learns easily, so the loss must fall in the sweep."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, features, generator=g) * 3
    y = torch.randint(0, classes, (n,), generator=g)
    return centres[y] + torch.randn(n, features, generator=g), y


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(32, 4))  # fmt: skip


def test_weights_buffers_optimizer_and_rng_are_restored():
    x, y = _blobs()
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    nn.functional.cross_entropy(model(x[:64]), y[:64]).backward()
    opt.step()  # the optimizer now holds momentum buffers
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    momentum = [opt.state[p]["momentum_buffer"].clone() for p in model.parameters()]
    model.eval()
    torch.manual_seed(123)
    result = bw.lr_find(model, (x, y), optimizer=opt, steps=30, task="classification")
    assert len(result.lrs) >= 10 and result.lrs[0] == pytest.approx(1e-7)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert all(
        torch.equal(m, opt.state[p]["momentum_buffer"])
        for m, p in zip(momentum, model.parameters(), strict=True)
    )
    assert opt.param_groups[0]["lr"] == 0.05
    assert not model.training  # left in eval mode, as it was
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(after, torch.rand(3))  # the sweep drew nothing from the global RNG


def test_the_suggestion_for_a_known_problem_falls_in_a_sane_band(tmp_path):
    x, y = _blobs()
    result = bw.lr_find(_mlp(), (x, y), optimizer="adam", batch_size=32, task="classification")
    assert result.stop_reason in ("diverged", "max_lr") and len(result.lrs) > 50
    assert 1e-4 <= result.suggestion <= 1e-1, result.suggestion
    smoothed_at = result.smoothed[result.lrs.index(result.suggestion)]
    assert smoothed_at < result.smoothed[0]  # chosen on the falling part of the curve
    path = result.plot(tmp_path / "plots" / "lr.png")
    assert Image.open(path).size == (600, 400)


def test_no_suggestion_when_the_loss_never_falls():
    lrs = [10 ** (-7 + i * 0.1) for i in range(60)]
    assert suggest(lrs, [2.3] * 60)[0] is None
    rising, why = suggest(lrs, [1.0 + i for i in range(60)])
    assert rising is None and "lowest near the start" in why
    assert suggest(lrs, [float("nan")] * 60)[0] is None


def test_bad_settings_and_data_are_refused():
    x, y = _blobs(64)
    with pytest.raises(BrickworkError, match="min_lr < max_lr"):
        bw.lr_find(_mlp(), (x, y), min_lr=1.0, max_lr=0.1)
    with pytest.raises(BrickworkError, match="steps must be at least 10"):
        bw.lr_find(_mlp(), (x, y), steps=3)
    with pytest.raises(BrickworkError, match="cannot read batches"):
        bw.lr_find(_mlp(), 42)
    with pytest.raises(BrickworkError, match="gives no batches"):
        bw.lr_find(_mlp(), [], task="classification")


def test_cli_sweeps_a_spec_and_writes_the_plot(tmp_path, capsys):
    out = tmp_path / "lr.png"
    args = ["lr-find", str(EXAMPLES / "digits_cnn.yaml"), "--steps", "40", "-o", str(out)]
    code = main([*args, "--set", "train.batch_size=64", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == (0 if result["suggestion"] is not None else 1)
    assert len(result["lrs"]) == len(result["smoothed"]) <= 40 and out.is_file()
    assert main(["lr-find", str(EXAMPLES / "digits_cnn.yaml"), "--min-lr", "0"]) == 2
