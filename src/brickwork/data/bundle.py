"""What `load_data` returns: preprocessed splits plus everything a model needs to know.

A `Split` holds whole tensors (float32 inputs or int64 token ids) and, for the training
split only, the augmentation to apply per batch. A large `image_folder` gives a
`FolderSplit` instead (see brickwork.data.images): same `y` and `loader(...)`, but images
are decoded from disk by DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from brickwork.data.loader import InMemoryLoader


@dataclass
class Split:
    """Inputs `x` and targets `y` of one split; `augment` is set on the training split only."""

    x: torch.Tensor
    y: torch.Tensor
    augment: Any = None

    def __len__(self) -> int:
        return len(self.y)

    def loader(
        self, batch_size: int, *, shuffle: bool = True, seed: int = 0, **options
    ) -> InMemoryLoader:
        """An InMemoryLoader over this split (options as InMemoryLoader).

        The split's augmentation applies only to shuffled (training) passes, so evaluating
        the training split with shuffle=False sees the images as they are.
        """
        from brickwork.data.loader import InMemoryLoader

        options.setdefault("augment", self.augment if shuffle else None)
        return InMemoryLoader(self.x, self.y, batch_size, shuffle=shuffle, seed=seed, **options)


@dataclass
class DataBundle:
    """Train/val/test splits, task, shapes, class names, preprocessing and vocabulary."""

    train: Split
    val: Split | None
    test: Split | None
    task: str
    input_shape: list[int]
    num_classes: int | None
    class_names: list[str] | None
    preprocessing: dict
    vocab: Any = None
    extra: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line: sizes of the splits, task, input shape, classes."""
        sizes = ", ".join(
            f"{name} {len(s)}"
            for name, s in (("train", self.train), ("val", self.val), ("test", self.test))
            if s is not None
        )
        classes = f", {self.num_classes} classes" if self.num_classes else ""
        return f"{sizes}; {self.task}, input {self.input_shape}{classes}"
