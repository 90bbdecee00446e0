"""The `data:` section: which dataset, where its files are, how to split and preprocess it.

    data: {dataset: mnist, validation_split: 0.1, normalize: true, augment: {hflip: true}}

Every field has a default that works, so `data: {dataset: digits}` is a whole section.
Fields that only some datasets read (e.g. `lookback` for `timeseries`) are ignored by the
others; `brickwork.data.load_data` turns the section into tensors.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from brickwork.errors import did_you_mean
from brickwork.spec.base import SpecModel

# Names `dataset:` accepts; brickwork.data.datasets maps each to its loader.
DATASETS = (
    "digits",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "tinyshakespeare",
    "imdb",
    "co2",
    "sunspots",
    "image_folder",
    "csv",
    "text",
    "text_csv",
    "timeseries",
)
# Names `delimiter:` accepts besides one character.
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
# Datasets read from a user's own file or folder: they need `path:`.
NEEDS_PATH = ("image_folder", "csv", "text", "text_csv", "timeseries")


class NormalizeSpec(SpecModel):
    """Fixed per-channel (images) or per-feature (tables, series) mean and std."""

    model_config = ConfigDict(extra="forbid")
    mean: list[float]
    std: list[float]

    @model_validator(mode="after")
    def _same_length(self):
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(
                f"normalize needs mean and std of the same non-zero length (got {len(self.mean)} "
                f"and {len(self.std)})"
            )
        if any(s <= 0 for s in self.std):
            raise ValueError("every normalize.std value must be > 0")
        return self


class AugmentSpec(SpecModel):
    """Random batch transforms applied to the training split only (see brickwork.data.augment)."""

    model_config = ConfigDict(extra="forbid")
    crop_padding: int = Field(
        0, ge=0, description="zero-pad by this many pixels, then crop back at a random offset"
    )
    hflip: bool = False
    rotate_degrees: float = Field(0.0, ge=0, le=180)
    translate: float = Field(0.0, ge=0, lt=1, description="max shift as a fraction of width/height")
    cutout: int = Field(0, ge=0, description="side of a square zeroed at a random place")


class DataSpec(SpecModel):
    """Where the data comes from, how it is split, and what is done to it before training."""

    model_config = ConfigDict(extra="forbid")
    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = True
    verify_checksums: bool = True
    path: str | None = None
    test_path: str | None = None
    validation_split: float = Field(0.1, ge=0, lt=1)
    test_split: float | None = Field(None, ge=0, lt=1)
    stratify: bool = True
    limit: int | None = Field(None, gt=0)
    task: Literal["classification", "binary", "regression"] | None = None
    # tables and text classification
    label_column: str | int | None = None
    feature_columns: list[str] | None = None
    text_column: str = "text"
    class_names: list[str] | None = None
    # preprocessing and augmentation
    scale: bool | float | None = None
    normalize: bool | NormalizeSpec = False
    augment: AugmentSpec | None = None
    image_size: list[int] | None = None
    channels: Literal[1, 3] | None = None
    in_memory: bool | None = None
    num_workers: int = Field(2, ge=0)
    # time series
    target_columns: list[str] | str | None = None
    lookback: int = Field(24, gt=0)
    horizon: int = Field(1, gt=0)
    missing: Literal["error", "drop", "interpolate"] = "interpolate"
    layout: Literal["long", "wide"] = "long"
    time_column: str | None = None
    # text
    tokenizer: Literal["char", "word"] = "char"
    lowercase: bool = False
    seq_len: int = Field(128, gt=0)
    max_vocab: int | None = Field(None, gt=2)
    max_len: int | None = Field(None, gt=0)
    encoding: str = "utf-8"
    # CSV files (csv, text_csv, timeseries)
    header: bool | Literal["auto"] = "auto"
    delimiter: str | None = None
    comment: str | None = None

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        name = v.strip().lower().replace("-", "_")
        if name not in DATASETS:
            raise ValueError(
                f"unknown dataset '{v}'{did_you_mean(name, DATASETS)}; choose one of "
                f"{', '.join(DATASETS)}"
            )
        return name

    @field_validator("scale")
    @classmethod
    def _positive_scale(cls, v):
        if v is not None and not isinstance(v, bool) and not v > 0:
            raise ValueError(
                f"scale must be true, false or a positive number to divide by (e.g. 255), got {v}"
            )
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_delimiter(cls, v):
        if v is None or v.lower() == "auto":
            return None
        v = DELIMITER_NAMES.get(v.lower(), v)
        if v != "whitespace" and (len(v) != 1 or v in '"\r\n' or v.isalnum()):
            raise ValueError(
                f"delimiter must be one character such as ',', ';', '\\t' or '|' (or 'tab', "
                f"'whitespace', 'auto'), got {v[:20]!r}"
            )
        return v

    @field_validator("comment")
    @classmethod
    def _comment_marker(cls, v):
        if v is not None and (not v or v.isspace() or len(v) > 3):
            raise ValueError(f"comment must be a short line prefix such as '#', got {v[:20]!r}")
        return v

    @field_validator("image_size")
    @classmethod
    def _two_sizes(cls, v):
        if v is not None and (len(v) != 2 or min(v) <= 0):
            raise ValueError("image_size must be [height, width] with positive sizes")
        return v

    @model_validator(mode="after")
    def _check(self):
        if self.dataset in NEEDS_PATH and not self.path:
            raise ValueError(
                f"dataset '{self.dataset}' reads your own files: set `path:` to the file or folder"
            )
        if self.scale is not None and not isinstance(self.scale, bool) and self.dataset != "csv":
            raise ValueError(
                f"scale: {self.scale} (a number) is for dataset csv (e.g. pixel columns); "
                f"dataset '{self.dataset}' takes scale: true or false"
            )
        if self.validation_split + (self.test_split or 0) >= 1:
            raise ValueError(
                "validation_split + test_split must leave some rows for training (sum < 1)"
            )
        return self
