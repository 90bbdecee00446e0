"""Checks `train_from_spec` makes before training: clear errors instead of torch tracebacks."""

import os
import stat

import pytest

from brickwork.errors import BrickworkError
from brickwork.models.io import atomic_write
from brickwork.spec.run import parse_run_spec
from brickwork.train.runner import load_run


def test_embedding_smaller_than_the_vocabulary_is_named(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("abcdefghij klmnop\n" * 40)
    spec = parse_run_spec(
        {
            "model": {
                "input_shape": [8],
                "layers": [
                    {"type": "embedding", "input_dim": 5, "output_dim": 4, "name": "chars"},
                    {"type": "lstm", "units": 8, "return_sequences": True},
                    {"type": "dense", "units": 5},
                ],
            },
            "data": {"dataset": "text", "path": str(text), "seq_len": 8},
        }
    )
    with pytest.raises(
        BrickworkError,
        match=r"embedding 'chars' has input_dim 5 but the data's vocabulary has 20 "
        r"tokens.*input_dim: 20",
    ):
        load_run(spec)


def test_atomic_write_gives_files_the_usual_mode(tmp_path):
    path = atomic_write(tmp_path / "f.json", b"{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
