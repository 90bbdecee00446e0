"""Device options of `fit`: bf16 autocast, channels_last, torch.compile, determinism, device
choice.
"""

import pytest
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.train import fit
from brickwork.train.device import autocast, pick_device

from .helpers import blobs


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def images():
    x, y = blobs(n=240, features=64)
    return x.view(-1, 1, 8, 8), y


def test_bf16_autocast_runs_the_forward_in_bfloat16_and_still_learns():
    x, y = blobs()
    seen = []
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))
    model[2].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    h = fit(model, x, y, epochs=4, lr=0.01, precision="bf16", verbose=0, device="cpu")
    assert seen and set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32
    assert h["accuracy"][-1] > 0.9
    with autocast(torch.device("cpu"), "fp32"):
        assert model(x[:2]).dtype == torch.float32


def test_channels_last_gives_the_same_training_as_contiguous():
    x, y = images()
    plain, last = small_cnn(), small_cnn()
    fit(plain, x, y, epochs=2, lr=0.01, verbose=0, seed=3)
    fit(last, x, y, epochs=2, lr=0.01, verbose=0, seed=3, channels_last=True)
    assert last[0].weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(plain.parameters(), last.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_deterministic_runs_are_bit_identical_and_the_flag_is_restored():
    x, y = images()
    a, b = small_cnn(), small_cnn()
    fit(a, x, y, epochs=2, lr=0.01, verbose=0, seed=5, deterministic=True)
    assert not torch.are_deterministic_algorithms_enabled()
    fit(b, x, y, epochs=2, lr=0.01, verbose=0, seed=5, deterministic=True)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_compile_trains_like_eager():
    """torch.compile needs a C++ compiler on CPU and takes a while; the eager path is the same."""
    pytest.importorskip("torch._inductor")
    x, y = blobs()
    eager = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
    compiled = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
    compiled.load_state_dict(eager.state_dict())
    fit(eager, x, y, epochs=1, lr=0.01, verbose=0, seed=1)
    fit(compiled, x, y, epochs=1, lr=0.01, verbose=0, seed=1, compile=True)
    for a, b in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)


def test_a_missing_device_is_a_clear_error():
    if not torch.cuda.is_available():
        with pytest.raises(BrickworkError, match="no CUDA GPU; use --device cpu"):
            pick_device("cuda")
    assert pick_device("cpu").type == "cpu"
