"""Raw model inputs from files or bytes: images, .npy arrays and CSV rows.

Shared by `brickwork predict` (files named on the command line) and `brickwork serve`
(uploaded images). Values come back in the range of the model's raw training data, before
its stored preprocessing: an image pixel 0-255 maps to 0-255 for MNIST-like models (first
step `scale 1/255`) and to 0-16 for scikit-learn's 8x8 digits (`scale 1/16`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from brickwork.data.sources import plain_suffix
from brickwork.errors import BrickworkError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
MAX_IMAGE_PIXELS = 40_000_000  # larger images are refused (decompression bombs)


def is_image_model(input_shape) -> bool:
    """True when samples are images [1 or 3, H, W]."""
    return len(input_shape) == 3 and input_shape[0] in (1, 3) and None not in input_shape


def pixel_range(preprocessing: dict | None) -> float:
    """The raw value of a white pixel: 1 / the first scale step's factor, else 255."""
    steps = (preprocessing or {}).get("steps") or []
    if steps and steps[0].get("op") == "scale" and steps[0].get("factor"):
        return 1.0 / float(steps[0]["factor"])
    return 255.0


def read_image(
    source: str | Path | bytes,
    input_shape: list,
    preprocessing: dict | None = None,
    name: str = "image",
) -> np.ndarray:
    """An image file or its bytes as one raw sample [C, H, W]: grayscale or RGB, resized to the
    model's size, pixel values mapped to the raw training range (see `pixel_range`)."""
    from PIL import Image

    if not is_image_model(input_shape):
        raise BrickworkError(
            f"'{name}' is an image but the model takes inputs of shape {list(input_shape)}, not "
            "[1 or 3, H, W]."
        )
    channels, height, width = input_shape
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise BrickworkError(
                    f"'{name}' is {image.width}x{image.height} pixels, more than the "
                    f"{MAX_IMAGE_PIXELS:,} accepted; resize it first."
                )
            image = image.convert("L" if channels == 1 else "RGB").resize(
                (width, height), Image.BILINEAR
            )
            array = np.asarray(image, dtype=np.float32)
    except BrickworkError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for a bad file
        raise BrickworkError(
            f"'{name}' could not be decoded as an image ({type(e).__name__}: {e}); send a PNG, "
            "JPEG, BMP, GIF or WebP file."
        ) from None
    array = array * (pixel_range(preprocessing) / 255.0)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def read_inputs(
    paths: list[str], input_shape: list, preprocessing: dict | None = None
) -> tuple[np.ndarray, list[str]]:
    """Raw samples (before preprocessing) from image files, .npy arrays or CSV rows, with labels."""
    rows, labels = [], []
    for p in map(Path, paths):
        if not p.is_file():
            raise BrickworkError(
                f"input '{p}' does not exist; pass image files (PNG/JPEG), .npy arrays or .csv "
                "files."
            )
        suffix = plain_suffix(p)
        if suffix in IMAGE_SUFFIXES:
            rows.append(read_image(p, input_shape, preprocessing, name=str(p)))
            labels.append(p.name)
        elif suffix == ".npy":
            try:
                array = np.load(p, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise BrickworkError(
                    f"input '{p}' is not a readable .npy array ({e}); save it with numpy.save (no "
                    "pickled objects)."
                ) from None
            single = array.ndim == len(input_shape) or (
                None not in input_shape and array.size == _known_size(input_shape)
            )
            batch = _samples(
                array.reshape(1 if single or array.ndim == 0 else len(array), -1),
                input_shape,
                str(p),
            )
            rows.extend(batch)
            labels.extend([p.name] if single else [f"{p.name}[{i}]" for i in range(len(batch))])
        elif suffix in (".csv", ".tsv", ".txt"):
            table = _samples(_read_csv_rows(p), input_shape, str(p))
            rows.extend(table)
            labels.extend(f"{p.name}:{i + 1}" for i in range(len(table)))
        else:
            raise BrickworkError(
                f"input '{p}': cannot read '{suffix}' files; pass PNG/JPEG images, .npy arrays or "
                ".csv rows."
            )
    return np.stack(rows).astype(np.float32), labels


def _known_size(input_shape) -> int:
    return int(np.prod([d for d in input_shape if d is not None]))


def _samples(table: np.ndarray, input_shape: list, name: str) -> np.ndarray:
    """Rows of flat values -> samples of the model's input shape, or an error naming the file.

    A None dimension (a free sequence length) takes whatever the row's length gives it."""
    known, width = _known_size(input_shape), table.shape[1]
    if (width % known if None in input_shape else width != known) or width == 0:
        raise BrickworkError(
            f"input '{name}' has {width} values per sample but the model takes inputs of shape "
            f"{list(input_shape)} ({'a multiple of ' if None in input_shape else ''}{known} "
            "values); "
            "give one sample per CSV row, or an .npy array of shape [N, *input_shape]."
        )
    values = table.astype(np.float32)
    if not np.all(np.isfinite(values)):
        bad = int((~np.isfinite(values)).sum())
        raise BrickworkError(
            f"input '{name}' holds {bad} value(s) that are NaN, infinite or too large for 32-bit "
            "floats; a model cannot predict from them, so fill or drop them first."
        )
    return values.reshape(len(table), *[-1 if d is None else d for d in input_shape])


def _read_csv_rows(path: Path) -> np.ndarray:
    """Numeric CSV rows (compressed or not, any of the delimiters read_table sniffs); a first
    row of column names is skipped; ragged or non-numeric rows are errors naming the line."""
    from brickwork.data.csvfile import read_table
    from brickwork.data.tabular import parse_numbers

    header, rows = read_table(path, "utf-8", header="auto")
    return parse_numbers(rows, list(range(len(header))), header, path).astype(np.float32)
