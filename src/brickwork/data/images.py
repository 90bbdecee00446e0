"""`image_folder`: PNG/JPEG files in one folder per class, decoded with Pillow.

    photos/cat/001.png  photos/dog/002.jpg      (classes: folder names, sorted)
    photos/train/cat/.. photos/test/cat/..      (an official test split, when present)

Small sets (decoded size up to 1 GiB, or `in_memory: true`) are decoded once into a uint8
tensor and go through the same pipeline as MNIST: the result is ordinary `Split`s.
Larger sets (or `in_memory: false`) give `FolderSplit`s: the labels are in memory (`y`),
the images are decoded per batch by `torch.utils.data.DataLoader` workers, then scaled,
normalized and augmented as whole batches. `split.loader(batch_size, ...)` gives a loader
with `set_epoch`, the same (seed, epoch) reproducibility as InMemoryLoader and the same
`rank`/`world_size` sharding; iterating a FolderSplit directly uses `split.batch_size` (32
unless set). A corrupt file raises its own BrickworkError in the main process, not a
DataLoader worker traceback. For on-disk sets the normalization statistics come from up to
2,000 training images (seeded).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from brickwork.errors import BrickworkError

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
IN_MEMORY_BYTES = 1 << 30


def scan(
    root: Path, class_names: list[str] | None = None
) -> tuple[list[Path], np.ndarray, list[str]]:
    """(files, label ids, class names) of a class-per-folder tree; classes sorted by name."""
    if not root.is_dir():
        raise BrickworkError(
            f"image folder '{root}' does not exist; set `path:` to a folder with one subfolder "
            "per class."
        )
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = class_names or [p.name for p in folders]
    if not folders:
        raise BrickworkError(
            f"'{root}' has no class subfolders; put each class's images in its own folder (e.g. "
            f"{root}/cat/1.png)."
        )
    files, labels = [], []
    for folder in folders:
        if folder.name not in names:
            raise BrickworkError(
                f"'{folder}' is a class folder not found in the training classes "
                f"({', '.join(names)}); rename or remove it."
            )
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
        if not found:
            raise BrickworkError(
                f"class folder '{folder}' has no PNG/JPEG images; add images or remove the folder."
            )
        files += found
        labels += [names.index(folder.name)] * len(found)
    return files, np.asarray(labels, dtype=np.int64), names


def decode(path: Path, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 [C, H, W] of one image, converted to L/RGB and resized to (H, W) if given."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            array = np.array(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise BrickworkError(
            f"cannot decode image '{path}' ({e}); the file is corrupt or not an image. Replace or "
            "remove it."
        ) from None
    return array[None] if channels == 1 else np.ascontiguousarray(array.transpose(2, 0, 1))


def probe(path: Path) -> tuple[int, tuple[int, int]]:
    """(channels, (H, W)) of an image, read from its header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return (1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3), (
                image.size[1],
                image.size[0],
            )
    except (UnidentifiedImageError, OSError) as e:
        raise BrickworkError(
            f"cannot decode image '{path}' ({e}); the file is corrupt or not an image. Replace or "
            "remove it."
        ) from None


class ImageFiles(Dataset):
    """Dataset of (uint8 [C, H, W], label, error) decoded from files on demand.

    A file that cannot be decoded gives a zero image and its error message instead of
    raising: DataLoader worker processes would re-raise the BrickworkError wrapped in a
    "Caught ... in DataLoader worker process" traceback, so FolderLoader raises it itself,
    in the main process, with the original one-paragraph message.
    """

    def __init__(self, files: list[Path], labels: np.ndarray, channels: int, size: tuple[int, int]):
        self.files, self.labels, self.channels, self.size = files, labels, channels, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            image, error = torch.from_numpy(decode(self.files[i], self.channels, self.size)), ""
        except BrickworkError as e:
            image, error = torch.zeros((self.channels, *self.size), dtype=torch.uint8), str(e)
        return image, int(self.labels[i]), error


class FolderSplit:
    """A split read from disk: labels `y` in memory, images decoded by DataLoader workers."""

    def __init__(
        self,
        files: list[Path],
        labels: np.ndarray,
        channels: int,
        size: tuple[int, int],
        steps: list[dict],
        augment: Callable | None = None,
        num_workers: int = 2,
        batch_size: int = 32,
        shuffle: bool = False,
        seed: int = 0,
    ):
        self.dataset = ImageFiles(files, labels, channels, size)
        self.y = torch.from_numpy(labels)
        self.steps, self.augment, self.num_workers = steps, augment, num_workers
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self._epoch = 0

    def __len__(self) -> int:
        return len(self.y)

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def loader(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        device: str | torch.device | None = None,
        drop_last: bool = False,
        pin_memory: bool = False,
        augment: Callable | None = ...,
        rank: int = 0,
        world_size: int = 1,
    ) -> FolderLoader:
        """Batches of this split; with world_size > 1, only this rank's shard of each epoch (as
        InMemoryLoader).
        """
        return FolderLoader(
            self,
            batch_size,
            shuffle,
            seed,
            device,
            drop_last,
            pin_memory,
            (self.augment if shuffle else None) if augment is ... else augment,
            rank,
            world_size,
        )

    def __iter__(self):
        loader = self.loader(self.batch_size, shuffle=self.shuffle, seed=self.seed)
        loader.set_epoch(self._epoch)
        return iter(loader)


class FolderLoader:
    """Batches from a FolderSplit; order and augmentation depend only on (seed, epoch, rank).

    The DataLoader's sampler is this rank's part of the epoch order from
    brickwork.data.loader.shard_order, so ranks see disjoint shards exactly as with
    InMemoryLoader (padded by wrapping around when world_size does not divide the count).
    """

    def __init__(
        self,
        split: FolderSplit,
        batch_size,
        shuffle,
        seed,
        device,
        drop_last,
        pin_memory,
        augment,
        rank: int = 0,
        world_size: int = 1,
    ):
        from brickwork.data.loader import check_rank

        check_rank(rank, world_size)
        self.split, self.batch_size, self.shuffle, self.seed = split, batch_size, shuffle, seed
        self.device = torch.device(device) if device is not None else None
        self.drop_last, self.pin_memory, self.augment, self.epoch = (
            drop_last,
            pin_memory,
            augment,
            0,
        )
        self.rank, self.world_size = rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        from brickwork.data.loader import shard_samples

        m = shard_samples(len(self.split), self.world_size, self.drop_last)
        return m // self.batch_size if self.drop_last else -(-m // self.batch_size)

    def indices(self) -> list[int]:
        """This rank's sample indices for the current epoch, in order."""
        from brickwork.data.loader import shard_order

        n = len(self.split)
        order = shard_order(
            n,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            rank=self.rank,
            world_size=self.world_size,
            drop_last=self.drop_last,
        )
        return list(range(n)) if order is None else order.tolist()

    def __iter__(self):
        from brickwork.data.loader import epoch_generator
        from brickwork.data.preprocess import _apply_step

        loader = DataLoader(
            self.split.dataset,
            batch_size=self.batch_size,
            sampler=self.indices(),
            drop_last=self.drop_last,
            num_workers=self.split.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=False,
        )
        gen = (
            epoch_generator(self.seed, self.epoch, 1, self.rank)
            if self.augment is not None
            else None
        )
        for xb, yb, errors in loader:
            bad = next((e for e in errors if e), None)
            if bad is not None:
                raise BrickworkError(bad)
            if self.device is not None:
                xb, yb = (
                    xb.to(self.device, non_blocking=True),
                    yb.to(self.device, non_blocking=True),
                )
            xb = xb.float()
            for step in self.split.steps:
                xb = _apply_step(step, xb)
            if gen is not None:
                xb = self.augment(xb, gen)
            yield xb, yb


def load_image_folder(spec, seed: int):
    """Scan, split (train/ and test/ subfolders, else holdouts), then decode or stream."""
    from brickwork.data.augment import Augment
    from brickwork.data.bundle import DataBundle
    from brickwork.data.image_bundle import image_bundle
    from brickwork.data.preprocess import image_steps, make_preprocessing
    from brickwork.data.tabular import classification_split

    root = Path(spec.path).expanduser()
    official = (root / "train").is_dir() and (root / "test").is_dir()
    files, labels, names = scan(root / "train" if official else root, spec.class_names)
    test = scan(root / "test", names) if official else None
    channels, size = probe(files[0])
    channels = spec.channels or channels
    size = tuple(spec.image_size) if spec.image_size else size
    decoded = (len(files) + (len(test[0]) if test else 0)) * channels * size[0] * size[1]
    extra = {"source": str(root), "files": len(files) + (len(test[0]) if test else 0)}
    if spec.in_memory or (spec.in_memory is None and decoded <= IN_MEMORY_BYTES):
        x = _decode_all(files, channels, size, spec.image_size is not None)
        test_arrays = (
            (_decode_all(test[0], channels, size, spec.image_size is not None), test[1])
            if test
            else None
        )
        return image_bundle((x, labels), test_arrays, spec, seed, names, 1 / 255, extra)
    split_spec = spec.model_copy(update={"test_split": 0.0 if official else spec.test_split})
    idx = classification_split(len(labels), labels, split_spec, seed, has_test=official)

    def pick(part):
        return [files[i] for i in part], labels[part]

    sample = np.random.default_rng(seed).permutation(idx["train"])[:2000]
    sample_x = torch.from_numpy(np.stack([decode(files[i], channels, size) for i in sample]))
    steps = image_steps(sample_x, None if spec.scale is False else 1 / 255, spec.normalize, axis=0)
    augment = Augment.from_spec(spec.augment)

    def make(part_files, part_labels, aug=None, shuffle=False):
        return FolderSplit(
            part_files,
            part_labels,
            channels,
            size,
            steps,
            aug,
            spec.num_workers,
            shuffle=shuffle,
            seed=seed,
        )

    train = make(*pick(idx["train"]), augment, shuffle=True)
    val = make(*pick(idx["val"])) if len(idx["val"]) else None
    test_split = (
        make(*test) if official else (make(*pick(idx["test"])) if len(idx["test"]) else None)
    )
    shape = [channels, *size]
    return DataBundle(
        train=train,
        val=val,
        test=test_split,
        task="classification",
        input_shape=shape,
        num_classes=len(names),
        class_names=names,
        preprocessing=make_preprocessing(shape, steps),
        vocab=None,
        extra={**extra, "in_memory": False, "augment": augment.to_json() if augment else None},
    )


def _decode_all(
    files: list[Path], channels: int, size: tuple[int, int], resize: bool
) -> np.ndarray:
    """uint8 [N, C, H, W]; without image_size every image must match the first one's size."""
    out = np.empty((len(files), channels, *size), dtype=np.uint8)
    for i, f in enumerate(files):
        img = decode(f, channels, size if resize else None)
        if img.shape[1:] != size:
            raise BrickworkError(
                f"'{f}' is {img.shape[2]}x{img.shape[1]} but '{files[0]}' is {size[1]}x{size[0]}; "
                f"set image_size: [height, width] to resize all images to one size."
            )
        out[i] = img
    return out
