"""apply_preprocessing, one_hot, channel statistics, and the batched augmentations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brickwork.data import Augment, apply_preprocessing, one_hot
from brickwork.data.augment import random_affine, random_crop, random_cutout, random_hflip
from brickwork.data.preprocess import channel_stats, make_preprocessing, normalize_step, scale_step
from brickwork.errors import BrickworkError


def test_per_channel_stats_and_apply():
    x = torch.stack([torch.full((4, 4), 10.0), torch.full((4, 4), 20.0), torch.rand(4, 4)], 0)[
        None
    ].repeat(5, 1, 1, 1)
    mean, std = channel_stats(x, axis=0)
    assert (
        mean[0] == pytest.approx(10) and mean[1] == pytest.approx(20) and std[0] == 1.0
    )  # constant channel: std 1
    p = make_preprocessing([3, 4, 4], [scale_step(0.5), normalize_step([1, 2, 3], [2, 2, 2], 0)])
    p = json.loads(json.dumps(p))  # JSON-able
    out = apply_preprocessing(p, np.ones((2, 3, 4, 4), np.uint8) * 8)
    assert out.dtype == torch.float32 and torch.allclose(out[:, 2], torch.full((2, 4, 4), 0.5))


def test_feature_axis_and_shape_errors():
    p = make_preprocessing([3], [normalize_step([1, 2, 3], [1, 1, 2], -1)])
    assert apply_preprocessing(p, [[1, 2, 5]]).tolist() == [[0, 0, 1]]
    assert apply_preprocessing(p, [1, 2, 5]).tolist() == [0, 0, 1]
    with pytest.raises(BrickworkError, match="trained on samples of shape"):
        apply_preprocessing(p, np.zeros((2, 4)))
    with pytest.raises(BrickworkError, match="unknown preprocessing step"):
        apply_preprocessing({"steps": [{"op": "warp"}]}, np.zeros(2))


def test_one_hot():
    assert one_hot([0, 2], 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(BrickworkError, match="num_classes is 3"):
        one_hot([3], 3)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_crop_padding_shifts_content():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(50, 1, 1, 1)
    out = random_crop(x, 1, gen())
    assert out.shape == x.shape
    assert any(torch.equal(o, x[0]) for o in out) and not all(torch.equal(o, x[0]) for o in out)
    assert all(set(o.unique().tolist()) <= set(range(16)) for o in out)


def test_hflip_flips_about_half():
    x = torch.arange(6.0).view(1, 1, 2, 3).repeat(200, 1, 1, 1)
    out = random_hflip(x, gen())
    flipped = sum(torch.equal(o, x[0].flip(-1)) for o in out)
    assert 60 < flipped < 140 and all(
        torch.equal(o, x[0]) or torch.equal(o, x[0].flip(-1)) for o in out
    )


def test_affine_identity_at_zero_and_bounded():
    x = torch.rand(4, 3, 9, 9)
    assert torch.allclose(random_affine(x, 0, 0, gen()), x, atol=1e-5)
    out = random_affine(x, 15, 0.1, gen())
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_cutout_zeroes_a_square():
    x = torch.ones(8, 2, 10, 10)
    out = random_cutout(x, 4, gen())
    zeros = (out == 0).sum((1, 2, 3))
    assert zeros.max() <= 2 * 16 and zeros.min() >= 2 * 4  # clipped at borders, never empty


def test_augment_reproducible_and_rejects_non_images():
    aug = Augment(crop_padding=2, hflip=True, rotate_degrees=10, translate=0.1, cutout=3)
    x = torch.rand(6, 3, 12, 12)
    assert torch.equal(aug(x, gen(5)), aug(x, gen(5)))
    assert Augment.from_spec({"hflip": False}) is None
    with pytest.raises(BrickworkError, match="remove `augment:`"):
        aug(torch.rand(3, 5), gen())
