"""The CLI: summary/graph/layers work, and broken specs give one clear line with exit code 2."""

import json
import subprocess
import sys

import pytest

from brickwork.cli.main import main
from brickwork.errors import BrickworkError
from tests.conftest import EXAMPLES

BROKEN = {
    "recurrent_bias_matrix_init": (
        "model: {input_shape: [10, 4], layers: [{type: lstm, units: 8, bias_initializer: "
        "orthogonal}]}",
        ["lstm 'lstm_1' (layer 0)", "field 'bias_initializer'", "needs a weight matrix"],
    ),
    "unknown_layer": (
        "model: {input_shape: [4], layers: [{type: dense2, units: 3}]}",
        ["layer 0", "unknown layer type 'dense2'", "did you mean 'dense'"],
    ),
    "mistyped_field": (
        "model: {input_shape: [4], layers: [{type: dense, unit: 3}]}",
        ["dense 'dense_1' (layer 0)", "unknown field 'unit'", "did you mean 'units'"],
    ),
    "missing_field": (
        "model: {input_shape: [4], layers: [{type: dense, name: fc}]}",
        ["dense 'fc' (layer 0)", "units", "missing"],
    ),
    "flat_input_needed": (
        "model: {input_shape: [1, 28, 28], layers: [{type: conv2d, filters: 64, kernel_size: 3, "
        "padding: same}, "
        "{type: maxpool2d, pool_size: 4}, {type: dense, units: 10, name: fc1}]}",
        [
            "dense 'fc1' (layer 2)",
            "expects a flat input",
            "receives [64, 7, 7]",
            "add `flatten` before it",
        ],
    ),
    "conv_on_flat": (
        "model: {input_shape: [784], layers: [{type: conv2d, filters: 8}]}",
        ["conv2d 'conv2d_1' (layer 0)", "[channels, height, width]", "receives [784]"],
    ),
    "kernel_too_big": (
        "model: {input_shape: [1, 4, 4], layers: [{type: conv2d, filters: 8, kernel_size: 7}]}",
        ["conv2d 'conv2d_1'", "larger than"],
    ),
    "bad_value": (
        "model: {input_shape: [4], layers: [{type: dropout, rate: 1.5}]}",
        ["dropout 'dropout_1' (layer 0)", "rate", "less than 1"],
    ),
    "no_input_shape": ("model: {layers: [{type: dense, units: 3}]}", ["model", "input_shape"]),
    "unknown_model_field": (
        "model: {input_shape: [4], layer: [{type: dense, units: 3}]}",
        ["model: unknown field 'layer'", "unknown field 'layer'", "did you mean 'layers'"],
    ),
    "bad_graph_input": (
        "model: {inputs: {x: [4]}, nodes: [{name: a, type: dense, units: 3}, {name: b, type: add, "
        "inputs: [a, c]}]}",
        ["add 'b' (layer 1)", "input 'c'"],
    ),
    "bad_yaml": ("model: {input_shape: [4], layers: [", ["not valid YAML", "line"]),
    "reshape_mismatch": (
        "model: {input_shape: [10], layers: [{type: reshape, shape: [3, 3]}]}",
        ["reshape 'reshape_1'", "cannot reshape [10]"],
    ),
    "conv_stride_zero": (
        "model: {input_shape: [1, 28, 28], layers: [{type: conv2d, filters: 4, stride: 0}]}",
        ["conv2d 'conv2d_1' (layer 0)", "field 'stride'", "greater than or equal to 1", "got 0"],
    ),
    "pool_size_zero": (
        "model: {input_shape: [1, 28, 28], layers: [{type: maxpool2d, pool_size: 0}]}",
        ["maxpool2d 'maxpool2d_1' (layer 0)", "field 'pool_size'", "greater than or equal to 1"],
    ),
    "pool_stride_zero": (
        "model: {input_shape: [1, 28, 28], layers: [{type: avgpool2d, stride: 0}]}",
        ["avgpool2d 'avgpool2d_1' (layer 0)", "field 'stride'", "greater than or equal to 1"],
    ),
    "kernel_negative": (
        "model: {input_shape: [1, 28, 28], layers: [{type: conv2d, filters: 4, kernel_size: -3}]}",
        ["conv2d 'conv2d_1' (layer 0)", "field 'kernel_size'", "got -3"],
    ),
    "kernel_zero": (
        "model: {input_shape: [1, 28, 28], layers: [{type: conv2d, filters: 4, kernel_size: 0}]}",
        ["conv2d 'conv2d_1' (layer 0)", "field 'kernel_size'", "greater than or equal to 1"],
    ),
    "kernel_list_item": (
        "model: {input_shape: [1, 28, 28], layers: [{type: conv2d, filters: 4, kernel_size: [3, "
        "-1]}]}",
        [
            "conv2d 'conv2d_1' (layer 0): field 'kernel_size.1': Input should be greater than or "
            "equal to 1 (got -1)."
        ],
    ),
    "dilation_zero": (
        "model: {input_shape: [8, 20], layers: [{type: conv1d, filters: 4, dilation: 0}]}",
        ["conv1d 'conv1d_1' (layer 0)", "field 'dilation'", "greater than or equal to 1"],
    ),
    "padding_negative": (
        "model: {input_shape: [1, 28, 28], layers: [{type: conv2d, filters: 4, padding: -1}]}",
        ["conv2d 'conv2d_1' (layer 0)", "field 'padding'", "greater than or equal to 0", "got -1"],
    ),
    "padding_word": (
        "model: {input_shape: [1, 28, 28], layers: [{type: conv2d, filters: 4, padding: full}]}",
        ["field 'padding'", "'same' or 'valid'", "got 'full'"],
    ),
    "input_dim_negative": (
        "model: {input_shape: [-1, 28, 28], layers: [flatten]}",
        ["model: field 'input_shape.0'", "at least 1", "got -1"],
    ),
    "input_dim_flat_negative": (
        "model: {input_shape: [-5], layers: [{dense: 3}]}",
        ["field 'input_shape.0'", "got -5"],
    ),
    "input_dim_zero": (
        "model: {input_shape: [1, 0, 28], layers: [flatten]}",
        ["field 'input_shape.1'", "at least 1", "got 0"],
    ),
    "graph_input_dim_zero": (
        "model: {inputs: {x: [0]}, nodes: [{dense: 3}]}",
        ["field 'inputs.x.0'", "at least 1"],
    ),
    "custom_empty_module": (
        "model: {input_shape: [4], layers: [{type: ':Foo'}]}",
        ["layer 0", "custom layer ':Foo'", "package.module:ClassName"],
    ),
    "softmax_axis": (
        "model: {input_shape: [4], layers: [{type: softmax, axis: 5, name: probs}]}",
        ["softmax 'probs' (layer 0)", "axis 5", "receives [4]", "from -1 to 0"],
    ),
    "log_softmax_axis": (
        "model: {input_shape: [3, 4], layers: [{type: log_softmax, axis: -3}]}",
        ["log_softmax 'log_softmax_1' (layer 0)", "axis -3", "from -2 to 1"],
    ),
    "trainable_not_bool": (
        "model: {input_shape: [4], layers: [{type: dense, units: 3, trainable: maybe}]}",
        ["dense 'dense_1' (layer 0)", "field 'trainable'", "true or false", "'maybe'"],
    ),
    "kernel_initializer_typo": (
        "model: {input_shape: [4], layers: [relu, relu, {type: dense, units: 3, name: fc1, "
        "kernel_initializer: he_normall}]}",
        [
            "dense 'fc1' (layer 2): field 'kernel_initializer': unknown initializer 'he_normall' "
            "(did you mean 'he_normal'?)"
        ],
    ),
    "initializer_mapping_typo": (
        "model: {input_shape: [4], layers: [{type: dense, units: 3, kernel_initializer: {type: "
        "he_normall}}]}",
        ["dense 'dense_1' (layer 0): field 'kernel_initializer': unknown initializer 'he_normall'"],
    ),
    "bias_initializer_matrix": (
        "model: {input_shape: [4], layers: [{type: dense, units: 3, name: fc1, bias_initializer: "
        "he_normal}]}",
        [
            "dense 'fc1' (layer 0): field 'bias_initializer': initializer 'he_normal' needs a "
            "weight matrix"
        ],
    ),
    "initializer_nested_field": (
        "model: {input_shape: [4], layers: [{type: dense, units: 3, kernel_initializer: {type: "
        "normal, stdd: 1}}]}",
        ["dense 'dense_1' (layer 0): unknown field 'kernel_initializer.stdd'."],
    ),
    "layer_is_a_number": (
        "model: {input_shape: [4], layers: [64]}",
        ["layer 0", "found 64", "{dense: 64}"],
    ),
    "inside_residual": (
        "model: {input_shape: [4], layers: [{type: residual, name: block1, layers: [{type: dense, "
        "unit: 4}]}]}",
        ["residual 'block1' (layer 0): dense 'dense_1' (residual layer 0): unknown field 'unit'"],
    ),
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


def test_nested_field_error_hides_pydantic_class_names(tmp_path, capsys):
    spec = tmp_path / "init.yaml"
    spec.write_text(BROKEN["initializer_nested_field"][0])
    assert main(["summary", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "Initializer" not in err and "valid string" not in err


def test_spec_that_is_not_utf8_is_a_user_error(tmp_path, capsys):
    spec = tmp_path / "binary.yaml"
    spec.write_bytes(b"model: {input_shape: [4], layers: [relu]}  # \xff\xfe\n")
    assert main(["summary", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "binary.yaml" in err and "not UTF-8" in err and "0xff" in err


def test_finetune_spec_without_model_points_to_finetune_summary(capsys):
    path = str(EXAMPLES / "finetune_digits" / "finetune.yaml")
    assert main(["summary", path]) == 2
    err = capsys.readouterr().err
    assert "no `model:` section" in err and f"brickwork finetune BASE {path} --summary" in err
    assert "unknown field" not in err


def test_file_without_model_suggests_adding_one(tmp_path, capsys):
    spec = tmp_path / "data_only.yaml"
    spec.write_text("data: {dataset: digits}\n")
    assert main(["summary", str(spec)]) == 2
    err = capsys.readouterr().err
    assert (
        "no `model:` section" in err and "add a `model:` section" in err and "finetune" not in err
    )


def test_summary_of_tune_spec_uses_low_end_of_each_space(capsys):
    path = str(EXAMPLES / "tune" / "digits_mlp.yaml")
    assert main(["summary", path, "--json"]) == 0
    out, err = capsys.readouterr()
    shapes = {layer["name"]: layer["output_shape"] for layer in json.loads(out)["layers"]}
    assert shapes["dense_1"] == [16]  # units: {int: [16, 256], step: 16}
    assert "note:" in err and "model.layers.1.units" in err and "brickwork tune" in err


def test_model_from_file_refuses_search_spaces_unless_asked():
    from brickwork.cli.model_cmds import model_from_file

    path = str(EXAMPLES / "tune" / "digits_mlp.yaml")
    with pytest.raises(
        BrickworkError, match="search spaces .*model.layers.1.units.*brickwork tune"
    ):
        model_from_file(path)


def _crash(args):
    raise RuntimeError("boom")


def test_internal_error_is_one_paragraph_with_exit_1(monkeypatch, capsys):
    monkeypatch.delenv("BRICKWORK_DEBUG", raising=False)
    monkeypatch.setattr("brickwork.cli.layers_cmds.cmd_layers", _crash)
    assert main(["layers"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: internal error RuntimeError: boom; this is a bug in brickwork — "
        "rerun with BRICKWORK_DEBUG=1 for the traceback"
    )


def test_internal_error_reraises_with_debug(monkeypatch):
    monkeypatch.setenv("BRICKWORK_DEBUG", "1")
    monkeypatch.setattr("brickwork.cli.layers_cmds.cmd_layers", _crash)
    with pytest.raises(RuntimeError, match="boom"):
        main(["layers"])


def test_keyboard_interrupt_exits_130_with_one_word(monkeypatch, capsys):
    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("brickwork.cli.layers_cmds.cmd_layers", interrupt)
    assert main(["layers"]) == 130
    assert capsys.readouterr().err == "interrupted\n"  # no traceback


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


def test_layer_fields_show_readable_constraints(capsys):
    assert main(["layers", "conv2d"]) == 0
    out = capsys.readouterr().out
    assert (
        "int >= 1 | list[int >= 1]" in out and "int >= 0 | list[int >= 0] | 'same' | 'valid'" in out
    )
    assert "FieldInfo" not in out and "Annotated" not in out


def test_console_command_exit_code_without_traceback(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(BROKEN["flat_input_needed"][0])
    proc = subprocess.run(
        [sys.executable, "-m", "brickwork.cli.main", "summary", str(spec)],
        capture_output=True,
        text=True,
    )
    assert (
        proc.returncode == 2 and "Traceback" not in proc.stderr and "add `flatten`" in proc.stderr
    )


def test_summary_shows_flops_the_device_peak_and_a_runs_achieved_rate(tmp_path, capsys):
    spec = EXAMPLES / "mlp_784_512_10.yaml"
    run = tmp_path / "run"
    run.mkdir()
    (run / "speed.csv").write_text(
        "epoch,seconds,samples_per_s,flops_per_s,peak_flops_per_s,utilization\n"
        "1,2.0,5000,1.2e10,1e11,0.12\n2,2.0,5000,1.5e10,1e11,0.15\n"
    )
    assert main(["summary", str(spec), "--device", "cpu", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "Training FLOPs/sample: 2.44 M (6 x MACs)" in out  # 6 x (784*512 + 512*10)
    assert "Peak of cpu in fp32:" in out and "matmul probe" in out
    assert "(epoch 2): 15 GFLOP/s training, 15% of its device's peak" in out
    assert main(["summary", str(spec), "--device", "cpu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["train_flops"] == 6 * (784 * 512 + 512 * 10)
    assert data["speed"]["peaks"][0]["precision"] == "fp32"
    assert data["speed"]["peaks"][0]["flops"] > 0
