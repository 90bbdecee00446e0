"""Argument types for numeric flags: a bad number is refused by argparse, naming the flag.

    p.add_argument("--top-k", type=at_least(1))  # --top-k 0 -> "argument --top-k: must be ..."

argparse then prints usage plus the one-line error and exits with code 2, before any model
is loaded.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def at_least(low: int) -> Callable[[str], int]:
    """A whole number >= `low`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number >= {low}, got {text[:40]!r}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, got {value}")
        return value

    parse.__name__ = f"whole number >= {low}"
    return parse


def number(low: float, high: float | None = None, low_open: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (`low_open`: above `low`, not equal to it)."""
    bounds = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high is not None else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if (
            not math.isfinite(value)
            or (value <= low if low_open else value < low)
            or (high is not None and value > high)
        ):
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text[:40]!r}")
        return value

    parse.__name__ = f"number {bounds}"
    return parse


def folder(text: str) -> str:
    """A folder to write into (it may not exist yet): refused when it, or a folder above it, is
    a file, before anything is written."""
    from pathlib import Path

    path = Path(text)
    for part in [path, *path.parents]:
        if part.exists():
            if not part.is_dir():
                what = "is" if part == path else f"is inside '{str(part)[:80]}', which is"
                raise argparse.ArgumentTypeError(
                    f"'{text[:80]}' {what} a file, not a folder; pass a folder (it is created "
                    "if missing)"
                )
            break
    return text
