"""Index arithmetic for splits: seeded (stratified) holdouts, subsets, chronological cuts.

Everything returns index arrays into the training pool; the official test split is never
passed here, so it cannot leak into training or validation.
"""

from __future__ import annotations

import numpy as np

from brickwork.errors import BrickworkError


def holdout(
    n: int, fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held) index arrays; `held` is ~fraction of n, stratified by `labels` if given.

    Stratified: each class gives round(fraction * its count) rows (at least one when the class
    has two or more), so small classes stay represented on both sides. Both arrays are sorted.
    """
    if fraction <= 0 or n == 0:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    if labels is None:
        held = rng.permutation(n)[: max(1, round(fraction * n))]
    else:
        parts = []
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)
            k = round(fraction * len(members))
            if k == 0 and len(members) >= 2:
                k = 1
            parts.append(rng.permutation(members)[:k])
        held = np.concatenate(parts) if parts else np.arange(0)
    if len(held) >= n:
        raise BrickworkError(
            f"a holdout of {fraction:g} leaves no rows for training out of {n}; lower "
            "validation_split/test_split or add data."
        )
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def subset(n: int, limit: int | None, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of at most `limit` rows (seeded; stratified when labels are given)."""
    if limit is None or limit >= n:
        return np.arange(n)
    rest, kept = holdout(n, limit / n, seed, labels)
    rng = np.random.default_rng(seed)
    if len(kept) > limit:  # per-class rounding went over: drop a few at random
        kept = rng.permutation(kept)[:limit]
    elif len(kept) < limit:  # or under: top up from the rest
        kept = np.concatenate([kept, rng.permutation(rest)[: limit - len(kept)]])
    return np.sort(kept)


def chronological(n: int, val_fraction: float, test_fraction: float) -> tuple[slice, slice, slice]:
    """Slices (train, val, test) of n time steps: first part, next part, last part."""
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    n_train = n - n_val - n_test
    if n_train <= 0:
        raise BrickworkError(
            f"a series of {n} steps leaves no training steps after "
            f"validation_split={val_fraction:g} "
            f"and test_split={test_fraction:g}; lower them or use a longer series."
        )
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)
