"""Datasets by name, splits, preprocessing, augmentation and fast in-memory batching.

    from brickwork.data import load_data, InMemoryLoader
    bundle = load_data({"dataset": "mnist", "normalize": True}, seed=0)
    loader = bundle.train.loader(64, seed=0)       # or InMemoryLoader(x, y, 64, ...)

See docs/data.md for every dataset, field and file format.
"""

from brickwork.data.augment import Augment
from brickwork.data.bundle import DataBundle, Split
from brickwork.data.datasets import load_data
from brickwork.data.download import cache_dir, ensure_files
from brickwork.data.images import FolderSplit
from brickwork.data.loader import InMemoryLoader
from brickwork.data.preprocess import apply_preprocessing, one_hot
from brickwork.data.text import Vocab
from brickwork.data.timeseries import inverse_targets

__all__ = [
    "Augment",
    "DataBundle",
    "FolderSplit",
    "InMemoryLoader",
    "Split",
    "Vocab",
    "apply_preprocessing",
    "cache_dir",
    "ensure_files",
    "inverse_targets",
    "load_data",
    "one_hot",
]
