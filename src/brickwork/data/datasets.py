"""`load_data(spec)`: the registry of named datasets and the shared image pipeline.

    bundle = load_data({"dataset": "mnist", "normalize": True}, seed=0)
    bundle.train.x.shape  # torch.Size([54000, 1, 28, 28]), float32

Image datasets share one path: raw uint8 [N, C, H, W] train (official or carved) and test
arrays -> seeded stratified validation split from train -> `limit` -> scale to [0, 1] and
normalize with statistics of the training split only -> float32 tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import ValidationError

from brickwork.data.bundle import DataBundle
from brickwork.data.image_bundle import image_bundle
from brickwork.data.named import NAMED, concrete_spec
from brickwork.errors import BrickworkError, pydantic_message
from brickwork.spec.data import DATASETS, DataSpec

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def as_spec(spec: DataSpec | dict | None) -> DataSpec:
    """A DataSpec from a DataSpec, a dict (validated, errors as BrickworkError) or None."""
    if isinstance(spec, DataSpec):
        return spec
    try:
        return DataSpec(**(spec or {}))
    except ValidationError as e:
        raise BrickworkError(pydantic_message(e, "data", DataSpec.model_fields)) from None
    except TypeError:
        raise BrickworkError(
            "data spec must be a mapping such as {'dataset': 'digits'}, got "
            f"{type(spec).__name__}."
        ) from None


def load_data(spec: DataSpec | dict | None = None, *, seed: int = 0) -> DataBundle:
    """Load, split and preprocess the dataset a spec names (see docs/data.md)."""
    spec = as_spec(spec)
    bundle = LOADERS[spec.dataset](spec, seed)
    if spec.augment is not None and bundle.train.augment is None and _augment_active(spec):
        if len(bundle.input_shape) != 3:
            raise BrickworkError(
                f"`augment:` works on images [C, H, W], but '{spec.dataset}' gives samples of "
                "shape "
                f"{bundle.input_shape}; remove `augment:`."
            )
    return bundle


def _augment_active(spec: DataSpec) -> bool:
    from brickwork.data.augment import Augment

    return Augment.from_spec(spec.augment) is not None


def load_digits(spec: DataSpec, seed: int) -> DataBundle:
    """scikit-learn's bundled 8x8 digits (1797 images, values 0..16): offline, no download."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = d.images.astype(np.uint8)[:, None]  # [1797, 1, 8, 8], integer values 0..16
    return image_bundle(
        (x, d.target.astype(np.int64)),
        None,
        spec,
        seed,
        [str(i) for i in range(10)],
        1 / 16,
        {"source": "sklearn.datasets.load_digits"},
    )


def _idx_dataset(name: str, class_names: list[str]):
    def load(spec: DataSpec, seed: int) -> DataBundle:
        from brickwork.data.download import ensure_files
        from brickwork.data.formats import load_idx_pair

        folder = ensure_files(
            name, spec.data_dir, spec.download, verify_present=spec.verify_checksums
        )
        f = [folder / n for n in MNIST_FILES]
        train, test = load_idx_pair(f[0], f[1]), load_idx_pair(f[2], f[3])
        return image_bundle(train, test, spec, seed, class_names, 1 / 255, {"source": str(folder)})

    return load


def load_cifar10(spec: DataSpec, seed: int) -> DataBundle:
    """CIFAR-10 from cifar-10-python.tar.gz, or its extracted cifar-10-batches-py/ folder."""
    from brickwork.data.download import ensure_files
    from brickwork.data.formats import CIFAR_CLASSES
    from brickwork.data.formats import load_cifar10 as read

    source = None
    if spec.data_dir:
        root = Path(spec.data_dir).expanduser()
        extracted = "cifar-10-batches-py"  # also under DIR/cifar10/, as download --all lays out
        for candidate in (root / extracted, root, root / "cifar10" / extracted, root / "cifar10"):
            if (candidate / "data_batch_1").is_file():
                source = candidate
                break
    if source is None:
        source = (
            ensure_files(
                "cifar10", spec.data_dir, spec.download, verify_present=spec.verify_checksums
            )
            / "cifar-10-python.tar.gz"
        )
    parts = read(source)
    return image_bundle(
        parts["train"], parts["test"], spec, seed, CIFAR_CLASSES, 1 / 255, {"source": str(source)}
    )


def _named(spec: DataSpec, seed: int) -> DataBundle:
    """tinyshakespeare, imdb, co2, sunspots: their kind's loader on their files (data.named)."""
    concrete = concrete_spec(spec)
    return LOADERS[concrete.dataset](concrete, seed)


def _image_folder(spec: DataSpec, seed: int) -> DataBundle:
    from brickwork.data.images import load_image_folder

    return load_image_folder(spec, seed)


def _csv(spec: DataSpec, seed: int) -> DataBundle:
    from brickwork.data.tabular import load_csv

    return load_csv(spec, seed)


def _text(spec: DataSpec, seed: int) -> DataBundle:
    from brickwork.data.text import load_text

    return load_text(spec, seed)


def _text_csv(spec: DataSpec, seed: int) -> DataBundle:
    from brickwork.data.text import load_text_csv

    return load_text_csv(spec, seed)


def _timeseries(spec: DataSpec, seed: int) -> DataBundle:
    from brickwork.data.timeseries import load_timeseries

    return load_timeseries(spec, seed)


LOADERS = {
    "digits": load_digits,
    "mnist": _idx_dataset("mnist", [str(i) for i in range(10)]),
    "fashion_mnist": _idx_dataset("fashion_mnist", FASHION_CLASSES),
    "cifar10": load_cifar10,
    **dict.fromkeys(NAMED, _named),
    "image_folder": _image_folder,
    "csv": _csv,
    "text": _text,
    "text_csv": _text_csv,
    "timeseries": _timeseries,
}
assert set(LOADERS) == set(DATASETS), "spec.data.DATASETS and the loaders must list the same names"
