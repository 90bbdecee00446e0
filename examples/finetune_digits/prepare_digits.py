"""Write scikit-learn's 8x8 digits as 28x28 PNGs laid out like MNIST, for `dataset: image_folder`.

Each digit is upscaled (bilinear) to 20x20 and centred on a 28x28 black canvas, the way
MNIST's digits sit in a 20x20 box inside 28x28, with pixel values 0..16 mapped to 0..255.
A small labelled subset (`--per-class` images of each digit) goes to train/, every other
image to test/, so fine-tuning and training from scratch see the same few labels and are
scored on the same held-out digits.

    python examples/finetune_digits/prepare_digits.py --per-class 15 --seed 0
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.datasets import load_digits


def upscale(images: np.ndarray) -> np.ndarray:
    """[N, 8, 8] values 0..16 -> [N, 28, 28] uint8 0..255, digit in the central 20x20."""
    x = torch.from_numpy(images.astype(np.float32))[:, None] * (255 / 16)
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    x = F.pad(x, (4, 4, 4, 4))
    return x[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def write(out: Path, per_class: int, seed: int) -> tuple[int, int]:
    digits = load_digits()
    images, labels = upscale(digits.images), digits.target
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(10)]
    )
    is_train = np.zeros(len(labels), dtype=bool)
    is_train[chosen] = True
    if out.exists():
        shutil.rmtree(out)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = out / ("train" if is_train[i] else "test") / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"{i:04d}.png")
    return int(is_train.sum()), int((~is_train).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/finetune_digits/data/digits28")
    parser.add_argument(
        "--per-class", type=int, default=15, help="labelled training images per digit"
    )
    parser.add_argument("--seed", type=int, default=0, help="which images form the labelled subset")
    args = parser.parse_args()
    train, test = write(Path(args.out), args.per_class, args.seed)
    print(f"wrote {train} training and {test} test images to {args.out}")


if __name__ == "__main__":
    main()
