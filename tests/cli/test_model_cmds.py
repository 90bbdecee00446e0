"""The CLI: summary/graph/layers work, and broken specs give one clear line with exit code 2."""

import json
import subprocess
import sys

import pytest

from brickwork.cli.main import main
from tests.conftest import EXAMPLES

BROKEN = {
    "unknown_layer": ("model: {input_shape: [4], layers: [{type: dense2, units: 3}]}",
                      ["layer 0", "unknown layer type 'dense2'", "did you mean 'dense'"]),
    "mistyped_field": ("model: {input_shape: [4], layers: [{type: dense, unit: 3}]}",
                       ["dense 'dense_1' (layer 0)", "unknown field 'unit'", "did you mean 'units'"]),
    "missing_field": ("model: {input_shape: [4], layers: [{type: dense, name: fc}]}",
                      ["dense 'fc' (layer 0)", "units", "missing"]),
    "flat_input_needed": ("model: {input_shape: [1, 28, 28], layers: [{type: conv2d, filters: 64, kernel_size: 3, padding: same}, "
                          "{type: maxpool2d, pool_size: 4}, {type: dense, units: 10, name: fc1}]}",
                          ["dense 'fc1' (layer 2)", "expects a flat input", "receives [64, 7, 7]", "add `flatten` before it"]),
    "conv_on_flat": ("model: {input_shape: [784], layers: [{type: conv2d, filters: 8}]}",
                     ["conv2d 'conv2d_1' (layer 0)", "[channels, height, width]", "receives [784]"]),
    "kernel_too_big": ("model: {input_shape: [1, 4, 4], layers: [{type: conv2d, filters: 8, kernel_size: 7}]}",
                       ["conv2d 'conv2d_1'", "larger than"]),
    "bad_value": ("model: {input_shape: [4], layers: [{type: dropout, rate: 1.5}]}",
                  ["dropout 'dropout_1' (layer 0)", "rate", "less than 1"]),
    "no_input_shape": ("model: {layers: [{type: dense, units: 3}]}", ["model", "input_shape"]),
    "unknown_model_field": ("model: {input_shape: [4], layer: [{type: dense, units: 3}]}",
                            ["model: unknown field 'layer'", "unknown field 'layer'", "did you mean 'layers'"]),
    "bad_graph_input": ("model: {inputs: {x: [4]}, nodes: [{name: a, type: dense, units: 3}, {name: b, type: add, inputs: [a, c]}]}",
                        ["add 'b' (layer 1)", "input 'c'"]),
    "bad_yaml": ("model: {input_shape: [4], layers: [", ["not valid YAML", "line"]),
    "reshape_mismatch": ("model: {input_shape: [10], layers: [{type: reshape, shape: [3, 3]}]}",
                         ["reshape 'reshape_1'", "cannot reshape [10]"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_spec_gives_one_clear_line_and_exit_2(case, tmp_path, capsys):
    text, needles = BROKEN[case]
    spec = tmp_path / f"{case}.yaml"
    spec.write_text(text)
    assert main(["summary", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def test_missing_file_is_a_user_error(capsys):
    assert main(["summary", "no/such/spec.yaml"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_summary_json_matches_pytorch(capsys):
    assert main(["summary", str(EXAMPLES / "mnist_cnn_a.yaml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 3_199_106
    assert data["layers"][0]["macs"] == 28 * 28 * 32 * 25


def test_graph_writes_png_and_svg(tmp_path):
    for suffix in ("png", "svg"):
        out = tmp_path / f"model.{suffix}"
        assert main(["graph", str(EXAMPLES / "cifar10_resnet.yaml"), "-o", str(out)]) == 0
        assert out.stat().st_size > 1000


def test_layers_lists_and_describes(capsys):
    assert main(["layers"]) == 0
    assert "conv2d" in capsys.readouterr().out
    assert main(["layers", "lstm"]) == 0
    assert "return_sequences" in capsys.readouterr().out


def test_console_command_exit_code_without_traceback(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(BROKEN["flat_input_needed"][0])
    proc = subprocess.run([sys.executable, "-m", "brickwork.cli.main", "summary", str(spec)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "add `flatten`" in proc.stderr
