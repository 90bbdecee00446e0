"""Every example spec's model (one per architecture) exports to pt2 and to ONNX (dynamo)
with parity <= 1e-4, and the language models to the web (their ONNX then has a dynamic steps
axis, the one thing the web export changes: for the other models its model.onnx is the ONNX
export above).

Slow (about 5 minutes on 2 cores: the recurrent models take 5-40 s each to capture);
tests/export/test_exporters.py and test_webpage.py cover the same paths fast on small models.
"""

import json

import pytest
import torch
import yaml

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


SIZES = {"units", "filters", "input_dim", "output_dim", "rate", "input_shape", "max_length"}


def _architecture(name: str) -> str:
    """The spec's model section with its sizes blanked: two examples that differ only in
    widths, vocabularies or dropout rates (char_lstm and word_lstm, two MLPs) capture the same
    graph, so one export covers both. Read from the YAML, so collection builds no model, and
    kernels, strides and a graph's wiring stay in the key."""

    def blank(node):
        if isinstance(node, dict):
            return {k: "#" if k in SIZES else blank(v) for k, v in node.items()}
        return [blank(v) for v in node] if isinstance(node, list) else node

    model = yaml.safe_load((EXAMPLES / name).read_text())["model"]
    return json.dumps(blank(model), sort_keys=True, default=str)


def _one_per_architecture(names: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(_architecture(name), name)
    return sorted(seen.values())


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
@pytest.mark.parametrize("name", _one_per_architecture(MODELS))
def test_every_example_exports_with_parity(name, fmt, tmp_path):
    pytest.importorskip("onnxruntime")
    model = model_from_file(str(EXAMPLES / name))
    out = tmp_path / f"model.{fmt}"
    report = export_model(model, out, fmt)
    assert report["ok"] and report["max_abs_error"] <= 1e-4, report
    side = json.loads((tmp_path / f"{out.name}.json").read_text())
    assert side["parity"]["ok"] and "dynamo_failed" not in side["parity"]["exporter"]


LANGUAGE_MODELS = [n for n in MODELS if n.startswith("shakespeare/")]


@pytest.mark.slow
@pytest.mark.parametrize("name", LANGUAGE_MODELS)
def test_language_models_export_to_the_web(name, tmp_path):
    from brickwork.errors import BrickworkError
    from brickwork.export.webpage import export_site, find_ort_web

    try:
        find_ort_web()
    except BrickworkError:
        pytest.skip("onnxruntime-web is not installed")
    model = model_from_file(str(EXAMPLES / name))
    assert model.input_dtype == torch.long
    vocab = {"tokenizer": "char", "lowercase": False, "tokens": ["<pad>", "<unk>", "a"]}
    report = export_site(model, tmp_path / "site", {"task": "language_model", "vocab": vocab})
    assert report["ok"] and report["max_abs_error"] <= 1e-4, report
    side = json.loads((tmp_path / "site" / "model.onnx.json").read_text())
    assert side["inputs"]["input"]["shape"] == [None]  # any prompt length
