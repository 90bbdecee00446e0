"""The sequence examples build, and their vocabulary sizes match the real data they name."""

from pathlib import Path

import pytest

from brickwork.data import load_data
from brickwork.data.named import dataset_kind
from brickwork.models import build_model
from brickwork.spec.run import load_run_spec
from tests.conftest import EXAMPLES

SPECS = sorted(
    p
    for folder in ("shakespeare", "text_classification", "timeseries")
    for p in (EXAMPLES / folder).glob("*.yaml")
)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_builds(path: Path):
    spec = load_run_spec(path)
    model = build_model(spec.model)
    kind = dataset_kind(spec.data.dataset)  # tinyshakespeare is text, co2 a timeseries
    assert list(model.input_shape)[0] == (
        spec.data.seq_len
        if kind == "text"
        else spec.data.max_len
        if kind == "text_csv"
        else spec.data.lookback
    )


@pytest.mark.parametrize("name", ["char_lstm", "char_gru", "char_rnn", "word_lstm"])
def test_language_model_sizes_match_the_vocabulary(name, shared_data):
    spec = load_run_spec(EXAMPLES / "shakespeare" / f"{name}.yaml")
    data = spec.data.model_copy(update={"data_dir": str(shared_data), "download": False})
    vocab = load_data(data).vocab
    layers = spec.model["layers"]
    assert layers[0]["input_dim"] == len(vocab) == layers[-1]["units"]
