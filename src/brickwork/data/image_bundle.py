"""Image arrays (uint8 [N, C, H, W] plus labels) -> a DataBundle: the path every image
dataset shares (digits, MNIST, CIFAR-10, an image folder that fits in memory)."""

from __future__ import annotations

import numpy as np
import torch

from brickwork.data.bundle import DataBundle, Split
from brickwork.spec.data import DataSpec


def image_bundle(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None,
    spec: DataSpec,
    seed: int,
    class_names: list[str],
    scale_factor: float,
    extra: dict | None = None,
) -> DataBundle:
    """Validation split, limit, scale + normalize (train stats), augmentation, float32 tensors."""
    from brickwork.data.augment import Augment
    from brickwork.data.preprocess import apply_steps, image_steps, make_preprocessing
    from brickwork.data.tabular import classification_split

    x, y = train
    spec_for_split = spec.model_copy(
        update={"test_split": 0.0 if test is not None else spec.test_split}
    )
    idx = classification_split(len(y), y, spec_for_split, seed, has_test=test is not None)
    x_all = torch.from_numpy(np.ascontiguousarray(x))
    tr = torch.from_numpy(idx["train"])
    train_raw = x_all.index_select(0, tr) if len(tr) < len(x_all) else x_all
    scale = None if spec.scale is False else scale_factor
    steps = image_steps(train_raw, scale, spec.normalize, axis=0)

    def make(raw: torch.Tensor, labels: np.ndarray, augment=None) -> Split:
        return Split(
            apply_steps(raw, steps), torch.from_numpy(np.asarray(labels, dtype=np.int64)), augment
        )

    augment = Augment.from_spec(spec.augment)
    splits = {"train": make(train_raw, y[idx["train"]], augment)}
    for name in ("val", "test"):
        part = idx[name]
        splits[name] = (
            make(x_all.index_select(0, torch.from_numpy(part)), y[part]) if len(part) else None
        )
    if test is not None:
        tx, ty = test
        if spec.limit is not None and spec.limit < len(ty):
            from brickwork.data.splits import subset

            keep = subset(len(ty), spec.limit, seed + 3, ty if spec.stratify else None)
            tx, ty = tx[keep], ty[keep]
        splits["test"] = make(torch.from_numpy(np.ascontiguousarray(tx)), ty)
    shape = list(x.shape[1:])
    return DataBundle(
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        task="classification",
        input_shape=shape,
        num_classes=len(class_names),
        class_names=list(class_names),
        preprocessing=make_preprocessing(shape, steps),
        vocab=None,
        extra={**(extra or {}), "augment": augment.to_json() if augment else None},
    )
