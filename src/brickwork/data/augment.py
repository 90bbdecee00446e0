"""Image augmentation as batched tensor ops, on whatever device the batch is on.

Random parameters are drawn on the CPU from a torch.Generator the loader seeds from
(seed, epoch, rank), then moved to the batch's device, so a batch augments identically on
CPU and GPU and an epoch replays exactly after a resume. Only the training split is
augmented. Batches are float [N, C, H, W].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from brickwork.errors import BrickworkError


class Augment:
    """Callable `augment(x, generator) -> x` for crop+pad, flip, rotate/translate, cutout."""

    def __init__(
        self,
        crop_padding: int = 0,
        hflip: bool = False,
        rotate_degrees: float = 0.0,
        translate: float = 0.0,
        cutout: int = 0,
    ):
        self.crop_padding, self.hflip = int(crop_padding), bool(hflip)
        self.rotate_degrees, self.translate, self.cutout = (
            float(rotate_degrees),
            float(translate),
            int(cutout),
        )

    @classmethod
    def from_spec(cls, spec) -> Augment | None:
        """From an AugmentSpec or dict; None when it turns nothing on."""
        if spec is None:
            return None
        options = spec if isinstance(spec, dict) else spec.model_dump()
        aug = cls(**options)
        return aug if aug.active else None

    @property
    def active(self) -> bool:
        return bool(
            self.crop_padding or self.hflip or self.rotate_degrees or self.translate or self.cutout
        )

    def to_json(self) -> dict:
        return {
            "crop_padding": self.crop_padding,
            "hflip": self.hflip,
            "rotate_degrees": self.rotate_degrees,
            "translate": self.translate,
            "cutout": self.cutout,
        }

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.ndim != 4 or not x.is_floating_point():
            raise BrickworkError(
                f"augmentation works on float image batches [N, C, H, W], got {x.dtype} "
                f"{list(x.shape)}; "
                "remove `augment:` for non-image data."
            )
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, generator)
        if self.hflip:
            x = random_hflip(x, generator)
        if self.rotate_degrees or self.translate:
            x = random_affine(x, self.rotate_degrees, self.translate, generator)
        if self.cutout:
            x = random_cutout(x, self.cutout, generator)
        return x


def _uniform(n: int, low: float, high: float, generator: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=generator) * (high - low) + low).to(device)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each side by `padding`, then take an HxW window at a random offset per sample."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # [N, H, 1]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # [N, 1, W]
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror left-right with probability 1/2 per sample."""
    flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_affine(
    x: torch.Tensor, degrees: float, translate: float, generator: torch.Generator
) -> torch.Tensor:
    """Rotate by U(-degrees, degrees) and shift by U(-translate, translate) of the size, per
    sample.
    """
    n = x.shape[0]
    angle = _uniform(n, -degrees, degrees, generator, x.device) * (math.pi / 180)
    tx = (
        _uniform(n, -translate, translate, generator, x.device) * 2
    )  # grid coordinates span [-1, 1]
    ty = _uniform(n, -translate, translate, generator, x.device) * 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(
        x.dtype
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a size x size square (clipped at the border) centred at a random pixel per sample."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (n,), generator=generator).to(x.device)
    top, left = cy - size // 2, cx - size // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (ys[None] >= top[:, None]) & (ys[None] < top[:, None] + size)  # [N, H]
    in_cols = (xs[None] >= left[:, None]) & (xs[None] < left[:, None] + size)  # [N, W]
    mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]
    return x.masked_fill(mask, 0.0)
