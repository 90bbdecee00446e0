"""Fixtures for the data tests: the real datasets folder, when it is there."""

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def real_data() -> Path:
    """../shared/data (real MNIST, Tiny Shakespeare, CO2); skips cleanly when absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED
