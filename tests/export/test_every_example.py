"""Every example spec's model exports to pt2 and to ONNX (dynamo) with parity <= 1e-4.

Slow (about 4 minutes on 2 cores: the recurrent models take 5-40 s each to capture);
tests/export/test_exporters.py covers the same path fast on three small models.
"""

import json

import pytest

from brickwork.cli.model_cmds import model_from_file
from brickwork.export import export_model
from tests.conftest import EXAMPLES

# every example spec with a model: section, in sub-folders too (LSTM/GRU language models,
# series); tune specs hold search spaces, not one model
MODELS = sorted(
    str(p.relative_to(EXAMPLES))
    for p in EXAMPLES.rglob("*.yaml")
    if "\nmodel:" in "\n" + p.read_text() and "\ntune:" not in "\n" + p.read_text()
)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
@pytest.mark.parametrize("name", MODELS)
def test_every_example_exports_with_parity(name, fmt, tmp_path):
    pytest.importorskip("onnxruntime")
    model = model_from_file(str(EXAMPLES / name))
    out = tmp_path / f"model.{fmt}"
    report = export_model(model, out, fmt)
    assert report["ok"] and report["max_abs_error"] <= 1e-4, report
    side = json.loads((tmp_path / f"{out.name}.json").read_text())
    assert side["parity"]["ok"] and "dynamo_failed" not in side["parity"]["exporter"]
