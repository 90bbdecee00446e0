"""The broken-input table: each case is a command, the files it needs, and what the error must
name. `test_broken_inputs.py` replays every case; `{m}` is the folder of shared models and data
(see `make_models`), `{d}` the case's own folder.

A case is (id, argv, files, expected): `files` maps a name in the case folder to its text or
bytes; every string in `expected` must appear in the error.
"""

from __future__ import annotations

import json
import struct

# A small digits MLP spec; each model case swaps one layer or field.
MLP = "model: {input_shape: [1, 8, 8], layers: [flatten, %s, {type: dense, units: 10}]}\n"
DATA = "data: {dataset: digits, validation_split: 0.1, test_split: 0.2}\n"
TRAIN = "train: {epochs: 1, batch_size: 64, verbose: 0%s}\n"


def layer(entry: str) -> dict:
    return {"m.yaml": MLP % entry}


def train(extra: str) -> dict:
    return {"s.yaml": MLP % "{type: dense, units: 16}" + DATA + TRAIN % (", " + extra)}


def data(extra: str) -> dict:
    body = DATA.replace("test_split: 0.2", f"test_split: 0.2, {extra}")
    return {"s.yaml": MLP % "{type: dense, units: 16}" + body + TRAIN % ""}


def spec(text: str) -> dict:
    return {"s.yaml": text}


def tune(section: str = "", lr: str = "{loguniform: [0.001, 0.1]}", units: str = "16") -> dict:
    """A tune spec searching train.lr (or `units` of the hidden layer), with `tune:` `section`."""
    text = MLP % f"{{type: dense, units: {units}}}" + DATA + TRAIN % f", lr: {lr}"
    return {"t.yaml": text + (f"tune: {{{section}}}\n" if section else "")}


def safetensors(header: bytes | str, body: bytes = b"") -> bytes:
    raw = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(raw)) + raw + body


def meta_file(meta: object) -> bytes:
    """A safetensors file with no tensors and `meta` as its brickwork metadata."""
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return safetensors(
        json.dumps({"__metadata__": {"format": "brickwork.model/1", "brickwork": text}})
    )


BOMB = "".join(
    [f"a0: &a0 [{', '.join(['x'] * 10)}]\n"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)]
)

SUMMARY = [
    ("deep_yaml", ["summary", "{d}/s.yaml"], spec("[" * 50000 + "]" * 50000), ["s.yaml", "deep"]),
    (
        "deep_json",
        ["summary", "{d}/s.json"],
        {"s.json": "[" * 50000 + "]" * 50000},
        ["s.json", "deep"],
    ),
    (
        "deep_mapping",
        ["summary", "{d}/s.yaml"],
        spec("a: " + "{b: " * 300 + "1" + "}" * 300),
        ["s.yaml", "deep"],
    ),
    ("alias_bomb", ["summary", "{d}/s.yaml"], spec(BOMB), ["s.yaml", "aliases"]),
    ("missing_file", ["summary", "{d}/nope.yaml"], {}, ["nope.yaml", "does not exist"]),
    ("latin1", ["summary", "{d}/s.yaml"], {"s.yaml": b"name: caf\xe9\n"}, ["s.yaml", "UTF-8"]),
    ("bad_yaml", ["summary", "{d}/s.yaml"], spec("model: [1, 2\n"), ["s.yaml", "YAML", "line"]),
    ("bad_json", ["summary", "{d}/s.json"], {"s.json": "{model: 1}"}, ["s.json", "JSON"]),
    ("list_top", ["summary", "{d}/s.yaml"], spec("- 1\n- 2\n"), ["s.yaml", "mapping"]),
    ("empty_file", ["summary", "{d}/s.yaml"], spec(""), ["s.yaml", "mapping"]),
    ("no_model", ["summary", "{d}/s.yaml"], spec(DATA), ["s.yaml", "model:"]),
    ("model_number", ["summary", "{d}/s.yaml"], spec("model: 3\n"), ["model", "mapping"]),
    (
        "both_forms",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [4], layers: [relu], nodes: [relu]}\n"),
        ["layers", "nodes"],
    ),
    (
        "no_input_shape",
        ["summary", "{d}/s.yaml"],
        spec("model: {layers: [relu]}\n"),
        ["input_shape"],
    ),
    (
        "zero_dim",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [0, 4], layers: [relu]}\n"),
        ["input_shape", "at least 1"],
    ),
    (
        "bool_dim",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [true, 4], layers: [relu]}\n"),
        ["input_shape", "boolean"],
    ),
    (
        "graph_bool_dim",
        ["summary", "{d}/s.yaml"],
        spec("model: {inputs: {x: [true, 4]}, nodes: [relu]}\n"),
        ["inputs", "boolean"],
    ),
    (
        "float_dim",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [1.5], layers: [relu]}\n"),
        ["input_shape"],
    ),
    (
        "unknown_layer",
        ["summary", "{d}/m.yaml"],
        layer("{type: dens, units: 3}"),
        ["layer 1", "unknown layer type 'dens'"],
    ),
    (
        "units_true",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: true}"),
        ["dense_1", "units", "boolean"],
    ),
    (
        "units_false",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: false}"),
        ["dense_1", "units", "boolean"],
    ),
    (
        "units_fraction",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 1.5}"),
        ["dense_1", "units"],
    ),
    (
        "units_zero",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 0}"),
        ["dense_1", "units"],
    ),
    (
        "units_negative",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: -3}"),
        ["dense_1", "units"],
    ),
    (
        "units_nan",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: .nan}"),
        ["dense_1", "units"],
    ),
    (
        "units_word",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: ten}"),
        ["dense_1", "units"],
    ),
    (
        "units_huge",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 100000000000}"),
        ["dense_1", "bytes", "memory"],
    ),
    (
        "units_positional_true",
        ["summary", "{d}/m.yaml"],
        layer("{dense: true}"),
        ["dense_1", "units", "boolean"],
    ),
    (
        "dropout_above_1",
        ["summary", "{d}/m.yaml"],
        layer("{type: dropout, rate: 1.5}"),
        ["dropout_1", "rate"],
    ),
    (
        "dropout_nan",
        ["summary", "{d}/m.yaml"],
        layer("{type: dropout, rate: .nan}"),
        ["dropout_1", "rate", "finite"],
    ),
    (
        "dropout_inf",
        ["summary", "{d}/m.yaml"],
        layer("{type: dropout, rate: .inf}"),
        ["dropout_1", "rate"],
    ),
    (
        "dropout_true",
        ["summary", "{d}/m.yaml"],
        layer("{dropout: true}"),
        ["dropout_1", "rate", "boolean"],
    ),
    (
        "leaky_nan",
        ["summary", "{d}/m.yaml"],
        layer("{type: leaky_relu, negative_slope: .nan}"),
        ["leaky_relu_1", "negative_slope"],
    ),
    ("elu_inf", ["summary", "{d}/m.yaml"], layer("{type: elu, alpha: -.inf}"), ["elu_1", "alpha"]),
    (
        "softmax_axis",
        ["summary", "{d}/m.yaml"],
        layer("{type: softmax, axis: 5}"),
        ["softmax_1", "axis 5"],
    ),
    (
        "softmax_axis_true",
        ["summary", "{d}/m.yaml"],
        layer("{type: softmax, axis: true}"),
        ["softmax_1", "axis", "boolean"],
    ),
    (
        "batchnorm_momentum",
        ["summary", "{d}/m.yaml"],
        layer("{type: batchnorm, momentum: 0}"),
        ["batchnorm_1", "momentum"],
    ),
    (
        "batchnorm_eps_nan",
        ["summary", "{d}/m.yaml"],
        layer("{type: batchnorm, eps: .nan}"),
        ["batchnorm_1", "eps"],
    ),
    (
        "layernorm_eps",
        ["summary", "{d}/m.yaml"],
        layer("{type: layernorm, eps: -1}"),
        ["layernorm_1", "eps"],
    ),
    (
        "init_std_negative",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, kernel_initializer: {type: normal, std: -1}}"),
        ["dense_1", "std"],
    ),
    (
        "init_std_nan",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, kernel_initializer: {type: normal, std: .nan}}"),
        ["dense_1", "std"],
    ),
    (
        "init_gain_inf",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, kernel_initializer: {type: xavier_uniform, gain: .inf}}"),
        ["dense_1", "gain"],
    ),
    (
        "init_unknown",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, kernel_initializer: he_nromal}"),
        ["dense_1", "kernel_initializer"],
    ),
    (
        "reg_negative",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, kernel_regularizer: {l2: -0.1}}"),
        ["dense_1", "l2"],
    ),
    (
        "reg_inf",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, kernel_regularizer: {l1: .inf}}"),
        ["dense_1", "l1"],
    ),
    (
        "reshape_zero",
        ["summary", "{d}/m.yaml"],
        layer("{type: reshape, shape: [0]}"),
        ["reshape_1", "shape"],
    ),
    (
        "reshape_bool",
        ["summary", "{d}/m.yaml"],
        layer("{type: reshape, shape: [64, true]}"),
        ["reshape_1", "shape", "boolean"],
    ),
    (
        "dense_bias_word",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, use_bias: maybe}"),
        ["dense_1", "use_bias"],
    ),
    (
        "trainable_word",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, trainable: yes2}"),
        ["dense_1", "trainable"],
    ),
    (
        "conv_on_flat",
        ["summary", "{d}/m.yaml"],
        layer("{type: conv2d, filters: 4, kernel_size: 3}"),
        ["conv2d_1", "expects"],
    ),
    (
        "conv_kernel_zero",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [1, 8, 8], layers: [{conv2d: 4, kernel_size: 0}]}\n"),
        ["conv2d_1", "kernel_size"],
    ),
    (
        "conv_kernel_bool",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [1, 8, 8], layers: [{conv2d: 4, kernel_size: [3, true]}]}\n"),
        ["conv2d_1", "kernel_size"],
    ),
    (
        "conv_filters_true",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [1, 8, 8], layers: [{conv2d: true, kernel_size: 3}]}\n"),
        ["conv2d_1", "filters", "boolean"],
    ),
    (
        "conv_too_big_kernel",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [1, 8, 8], layers: [{conv2d: 4, kernel_size: 9}]}\n"),
        ["conv2d_1"],
    ),
    (
        "conv_huge",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [1, 8, 8], layers: [{conv2d: 10000000000, kernel_size: 3}]}\n"),
        ["conv2d_1", "bytes"],
    ),
    (
        "pool_zero",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [1, 8, 8], layers: [{type: maxpool2d, pool_size: 0}]}\n"),
        ["maxpool2d_1", "pool_size"],
    ),
    (
        "embedding_zero",
        ["summary", "{d}/s.yaml"],
        spec(
            "model: {input_shape: [10], layers: [{type: embedding, input_dim: 0, output_dim: 4}]}\n"
        ),
        ["embedding_1", "input_dim"],
    ),
    (
        "embedding_huge",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [10], layers: [{embedding: 1000000000000, output_dim: 64}]}\n"),
        ["embedding_1", "bytes"],
    ),
    (
        "lstm_units_inf",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [10, 4], layers: [{type: lstm, units: .inf}]}\n"),
        ["lstm_1", "units"],
    ),
    (
        "lstm_dropout",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [10, 4], layers: [{type: lstm, units: 4, dropout: -0.1}]}\n"),
        ["lstm_1", "dropout"],
    ),
    (
        "lstm_layers_true",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [10, 4], layers: [{type: gru, units: 4, num_layers: true}]}\n"),
        ["gru_1", "num_layers", "boolean"],
    ),
    (
        "graph_bad_output",
        ["summary", "{d}/s.yaml"],
        spec("model: {inputs: {x: [4]}, nodes: [{type: dense, units: 2, name: a}], outputs: b}\n"),
        ["model.outputs", "'b'"],
    ),
    (
        "graph_bad_input",
        ["summary", "{d}/s.yaml"],
        spec("model: {inputs: {x: [4]}, nodes: [{type: dense, units: 2, inputs: y}]}\n"),
        ["dense_1", "input 'y'"],
    ),
    (
        "graph_concat_axis",
        ["summary", "{d}/s.yaml"],
        spec(
            "model: {inputs: {x: [4], y: [4]}, nodes: [{type: concat, axis: 7, inputs: [x, y]}]}\n"
        ),
        ["concat_1", "axis"],
    ),
    (
        "graph_add_shapes",
        ["summary", "{d}/s.yaml"],
        spec("model: {inputs: {x: [4], y: [3]}, nodes: [{type: add, inputs: [x, y]}]}\n"),
        ["add_1"],
    ),
    (
        "duplicate_name",
        ["summary", "{d}/m.yaml"],
        layer("{type: dense, units: 4, name: dense_2}"),
        ["used twice"],
    ),
    (
        "residual_inner",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [4], layers: [{type: residual, layers: [{dense: 0}]}]}\n"),
        ["residual_1", "units"],
    ),
    ("layer_entry_number", ["summary", "{d}/m.yaml"], layer("7"), ["layer 1"]),
    (
        "no_layers",
        ["summary", "{d}/s.yaml"],
        spec("model: {input_shape: [4], layers: []}\n"),
        ["no layers"],
    ),
]

TRAIN_CASES = [
    ("lr_zero", "lr: 0", ["lr", "greater than 0"]),
    ("lr_negative", "lr: -0.1", ["lr"]),
    ("lr_nan", "lr: .nan", ["lr", "finite"]),
    ("lr_inf", "lr: .inf", ["lr", "finite"]),
    ("lr_true", "lr: true", ["lr", "boolean"]),
    ("lr_word", "lr: fast", ["lr"]),
    ("epochs_zero", "epochs: 0", ["epochs"]),
    ("epochs_true", "epochs: true", ["epochs", "boolean"]),
    ("epochs_fraction", "epochs: 2.5", ["epochs"]),
    ("batch_zero", "batch_size: 0", ["batch_size"]),
    ("batch_nan", "batch_size: .nan", ["batch_size"]),
    ("eval_batch_zero", "eval_batch_size: 0", ["eval_batch_size"]),
    ("clip_zero", "clip_grad_norm: 0", ["clip_grad_norm"]),
    ("clip_negative", "clip_grad_norm: -1", ["clip_grad_norm"]),
    ("clip_nan", "clip_grad_norm: .nan", ["clip_grad_norm"]),
    ("clip_value_inf", "clip_grad_value: .inf", ["clip_grad_value"]),
    ("accumulate_zero", "accumulate: 0", ["accumulate"]),
    ("verbose_true", "verbose: true", ["verbose", "boolean"]),
    ("verbose_five", "verbose: 5", ["verbose"]),
    ("seed_negative", "seed: -1", ["seed"]),
    ("seed_true", "seed: true", ["seed", "boolean"]),
    ("shuffle_word", "shuffle: sometimes", ["shuffle"]),
    ("precision_word", "precision: fp8", ["precision"]),
    ("device_tpu", "device: tpu", ["device"]),
    ("momentum_negative", "optimizer: {type: sgd, momentum: -0.5}", ["momentum"]),
    ("momentum_nan", "optimizer: {type: sgd, momentum: .nan}", ["momentum"]),
    ("momentum_true", "optimizer: {type: sgd, momentum: true}", ["momentum"]),
    ("weight_decay_negative", "optimizer: {type: adam, weight_decay: -1}", ["weight_decay"]),
    ("betas_above_1", "optimizer: {type: adam, betas: [0.9, 1.5]}", ["betas"]),
    ("eps_zero", "optimizer: {type: adam, eps: 0}", ["eps"]),
    ("nesterov_number", "optimizer: {type: sgd, nesterov: 3}", ["nesterov"]),
    ("optimizer_unknown", "optimizer: adamm", ["optimizer", "adam"]),
    ("optimizer_setting", "optimizer: {type: adam, momentum: 0.9}", ["momentum"]),
    ("step_size_zero", "schedule: {type: step, step_size: 0}", ["step_size"]),
    ("gamma_nan", "schedule: {type: step, gamma: .nan}", ["gamma"]),
    ("warmup_negative", "schedule: {type: cosine, warmup_epochs: -1}", ["warmup_epochs"]),
    ("plateau_factor", "schedule: {type: reduce_on_plateau, factor: 2}", ["factor"]),
    ("milestones_bool", "schedule: {type: multistep, milestones: [true]}", ["milestones"]),
    ("smoothing_above_1", "loss: {type: cross_entropy, label_smoothing: 1.5}", ["label_smoothing"]),
    ("huber_delta_zero", "loss: {type: huber, delta: 0}", ["delta"]),
    ("class_weights_nan", "loss: {type: cross_entropy, class_weights: [.nan]}", ["class_weights"]),
    ("topk_zero", "metrics: [{type: top_k_accuracy, k: 0}]", ["k"]),
    ("metric_unknown", "metrics: [acuracy]", ["metric", "accuracy"]),
    ("unknown_field", "epoch: 3", ["epoch", "did you mean 'epochs'"]),
    ("callback_patience_nan", "callbacks: [{type: early_stopping, patience: .nan}]", ["patience"]),
    (
        "callback_min_delta_inf",
        "callbacks: [{type: early_stopping, min_delta: .inf}]",
        ["min_delta"],
    ),
    ("callback_factor_big", "callbacks: [{type: reduce_lr_on_plateau, factor: 3}]", ["factor"]),
]

DATA_CASES = [
    ("val_split_above_1", "validation_split: 1.5", ["validation_split"]),
    ("val_split_nan", "validation_split: .nan", ["validation_split"]),
    ("test_split_negative", "test_split: -0.1", ["test_split"]),
    ("limit_zero", "limit: 0", ["limit"]),
    ("limit_true", "limit: true", ["limit", "boolean"]),
    ("channels_true", "channels: true", ["channels", "boolean"]),
    ("image_size_zero", "image_size: [0, 8]", ["image_size"]),
    ("rotate_big", "augment: {rotate_degrees: 400}", ["rotate_degrees"]),
    ("translate_nan", "augment: {translate: .nan}", ["translate"]),
    ("cutout_true", "augment: {cutout: true}", ["cutout", "boolean"]),
    ("normalize_std_zero", "normalize: {mean: [0], std: [0]}", ["std"]),
    ("normalize_mean_nan", "normalize: {mean: [.nan], std: [1]}", ["mean"]),
    ("workers_negative", "num_workers: -1", ["num_workers"]),
    ("dataset_unknown", "dataset: digitz", ["dataset", "digits"]),
    ("label_column_true", "label_column: true", ["label_column", "boolean"]),
]

TRAIN_OTHER = [
    ("unknown_section", ["train", "{d}/s.yaml"], spec("modle: {}\n" + DATA), ["unknown section"]),
    ("no_data", ["train", "{d}/s.yaml"], spec(MLP % "relu"), ["data:"]),
    ("set_nan", ["train", "{d}/s.yaml", "--set", "train.lr=nan"], train("seed: 0"), ["lr"]),
    (
        "set_bool",
        ["train", "{d}/s.yaml", "--set", "train.epochs=true"],
        train("seed: 0"),
        ["epochs", "boolean"],
    ),
    (
        "set_no_equals",
        ["train", "{d}/s.yaml", "--set", "train.lr"],
        train("seed: 0"),
        ["train.lr", "section.field=value"],
    ),
    (
        "set_unknown",
        ["train", "{d}/s.yaml", "--set", "train.lrr=1"],
        train("seed: 0"),
        ["train.lrr", "did you mean"],
    ),
    (
        "runs_dir_file",
        ["train", "{d}/s.yaml", "--runs-dir", "{d}/runs"],
        {**train("seed: 0"), "runs": "a file, not a folder\n"},
        ["runs"],
    ),
    ("nproc_zero", ["train", "{d}/s.yaml", "--nproc", "0"], train("seed: 0"), ["--nproc"]),
    (
        "resume_missing",
        ["train", "{d}/s.yaml", "--resume", "{d}/runs/nope"],
        train("seed: 0"),
        ["nope"],
    ),
    (
        "search_space",
        ["train", "{d}/s.yaml"],
        train("lr: {loguniform: [0.001, 0.1]}"),
        ["train.lr", "brickwork tune"],
    ),
    (
        "output_too_small",
        ["train", "{d}/s.yaml"],
        spec(
            "model: {input_shape: [1, 8, 8], layers: [flatten, {dense: 5, name: head}]}\n"
            + DATA
            + TRAIN % ""
        ),
        ["head", "5", "10 classes"],
    ),
    (
        "input_shape_mismatch",
        ["train", "{d}/s.yaml"],
        spec(
            "model: {input_shape: [64], layers: [{type: dense, units: 10}]}\n" + DATA + TRAIN % ""
        ),
        ["model.input_shape", "[1, 8, 8]"],
    ),
    (
        "csv_missing",
        ["train", "{d}/s.yaml"],
        spec(
            "model: {input_shape: [2], layers: [{dense: 2}]}\n"
            "data: {dataset: csv, path: nope.csv}\n"
        ),
        ["nope.csv"],
    ),
    (
        "csv_no_path",
        ["train", "{d}/s.yaml"],
        spec("model: {input_shape: [2], layers: [{dense: 2}]}\ndata: {dataset: csv}\n"),
        ["path"],
    ),
    (
        "csv_empty",
        ["train", "{d}/s.yaml"],
        {
            "s.yaml": "model: {input_shape: [2], layers: [{dense: 2}]}\n"
            "data: {dataset: csv, path: '{d}/t.csv'}\n",
            "t.csv": "",
        },
        ["t.csv"],
    ),
    (
        "csv_label_missing",
        ["train", "{d}/s.yaml"],
        {
            "s.yaml": "model: {input_shape: [2], layers: [{dense: 2}]}\n"
            "data: {dataset: csv, path: '{d}/t.csv', label_column: kind}\n",
            "t.csv": "a,b,label\n" + "1,2,x\n3,4,y\n" * 20,
        },
        ["kind"],
    ),
    (
        "text_missing",
        ["train", "{d}/s.yaml"],
        spec(
            "model: {input_shape: [16], layers: [{embedding: 40, output_dim: 4}]}\n"
            "data: {dataset: text, path: '{d}/nope.txt'}\n"
        ),
        ["nope.txt"],
    ),
    (
        "timeseries_lookback_zero",
        ["train", "{d}/s.yaml"],
        spec(
            "model: {input_shape: [4, 1], layers: [flatten, {dense: 1}]}\n"
            "data: {dataset: timeseries, path: '{d}/t.csv', lookback: 0}\n"
        ),
        ["lookback"],
    ),
]

FT = "finetune: {head: true, %s}\n" + DATA + TRAIN % ""

MODEL_FILES = [
    ("missing", "{d}/nope.safetensors", {}, ["nope.safetensors"]),
    (
        "text_file",
        "{d}/x.safetensors",
        {"x.safetensors": "hello, not a model\n"},
        ["x.safetensors"],
    ),
    ("empty_file", "{d}/x.safetensors", {"x.safetensors": b""}, ["x.safetensors"]),
    (
        "huge_header",
        "{d}/x.safetensors",
        {"x.safetensors": struct.pack("<Q", 2**60) + b"{}"},
        ["x.safetensors", "header"],
    ),
    (
        "truncated_header",
        "{d}/x.safetensors",
        {"x.safetensors": struct.pack("<Q", 500) + b'{"__metadata__": {'},
        ["x.safetensors"],
    ),
    (
        "header_not_json",
        "{d}/x.safetensors",
        {"x.safetensors": safetensors("{not json")},
        ["x.safetensors"],
    ),
    (
        "header_list",
        "{d}/x.safetensors",
        {"x.safetensors": safetensors("[1, 2]")},
        ["x.safetensors"],
    ),
    (
        "no_brickwork_meta",
        "{d}/x.safetensors",
        {"x.safetensors": safetensors("{}")},
        ["x.safetensors", "brickwork metadata"],
    ),
    (
        "meta_not_json",
        "{d}/x.safetensors",
        {"x.safetensors": meta_file("{oops")},
        ["x.safetensors", "metadata"],
    ),
    (
        "meta_deep",
        "{d}/x.safetensors",
        {"x.safetensors": meta_file("[" * 100000 + "]" * 100000)},
        ["x.safetensors", "metadata"],
    ),
    (
        "meta_list",
        "{d}/x.safetensors",
        {"x.safetensors": meta_file([1, 2])},
        ["x.safetensors", "metadata"],
    ),
    (
        "meta_no_spec",
        "{d}/x.safetensors",
        {"x.safetensors": meta_file({"name": "x"})},
        ["x.safetensors", "model spec"],
    ),
    (
        "meta_bad_spec",
        "{d}/x.safetensors",
        {
            "x.safetensors": meta_file(
                {"model_spec": {"input_shape": [4], "layers": [{"dense": True}]}}
            )
        },
        ["x.safetensors", "units"],
    ),
    (
        "meta_spec_string",
        "{d}/x.safetensors",
        {"x.safetensors": meta_file({"model_spec": "dense"})},
        ["x.safetensors", "model"],
    ),
    ("truncated_tensors", "{m}/truncated.safetensors", {}, ["truncated.safetensors"]),
    ("other_architecture", "{m}/other_arch.safetensors", {}, ["other_arch.safetensors", "dense_1"]),
    ("empty_run_dir", "{d}/run", {"run/notes.txt": "nothing here\n"}, ["run"]),
]

# How each model-reading command is called on a model file `M`.
MODEL_COMMANDS = {
    "eval": ["eval", "M"],
    "predict": ["predict", "M", "{m}/one.npy"],
    "generate": ["generate", "M", "--prompt", "to"],
    "forecast": ["forecast", "M", "--steps", "3"],
    "export": ["export", "M", "-o", "{d}/out.onnx", "--no-data"],
    "serve": ["serve", "M", "--port", "0"],
    "finetune": ["finetune", "M", "{m}/ft.yaml"],
}

# What a command says differently about a model file (a plain state dict is a fine-tuning base).
MODEL_EXPECTED = {("finetune", "no_brickwork_meta"): ["x.safetensors", "model:"]}

RUN = "{m}/runs/digits_mlp"
LM = "{m}/lm.safetensors"
SERIES = "{m}/forecaster.safetensors"

ONE_CLASS = "a,b,label\n" + "".join(f"{i % 7},{i % 5},yes\n" for i in range(40))

COMMANDS = [
    # train: problems that show only once data and model meet
    (
        "one_class",
        ["train", "{d}/s.yaml"],
        {
            "s.yaml": "model: {input_shape: [2], layers: [{dense: 2}]}\n"
            "data: {dataset: csv, path: '{d}/t.csv', label_column: label}\n",
            "t.csv": ONE_CLASS,
        },
        ["t.csv", "label", "single value"],
    ),
    (
        "resume_other_spec",
        ["train", "{d}/s.yaml", "--resume", RUN],
        spec(MLP % "{type: dense, units: 32}" + DATA + TRAIN % ""),
        ["s.yaml", "model:", "--resume"],
    ),
    (
        "resume_other_architecture",
        ["train", "--resume", "{m}/runs/edited"],
        {},
        ["last.safetensors", "dense_1"],
    ),
    (
        "ft_base_other_architecture",
        ["finetune", "{m}/plain_other.safetensors", "{d}/f.yaml"],
        {"f.yaml": MLP % "{type: dense, units: 16}" + FT % "head_lr: 0.01"},
        ["plain_other.safetensors", "dense_1"],
    ),
    # eval
    ("eval_batch_zero", ["eval", RUN, "--batch-size", "0"], {}, ["--batch-size", ">= 1"]),
    ("eval_batch_word", ["eval", RUN, "--batch-size", "many"], {}, ["--batch-size"]),
    ("eval_split_word", ["eval", RUN, "--split", "holdout"], {}, ["--split"]),
    # predict
    ("predict_topk_zero", ["predict", RUN, "{m}/one.npy", "--top-k", "0"], {}, ["--top-k", ">= 1"]),
    ("predict_topk_negative", ["predict", RUN, "{m}/one.npy", "--top-k", "-2"], {}, ["--top-k"]),
    ("predict_topk_word", ["predict", RUN, "{m}/one.npy", "--top-k", "all"], {}, ["--top-k"]),
    ("predict_input_missing", ["predict", RUN, "{d}/nope.npy"], {}, ["nope.npy"]),
    ("predict_npy_shape", ["predict", RUN, "{m}/wrong_shape.npy"], {}, ["wrong_shape.npy"]),
    ("predict_npy_nan", ["predict", RUN, "{m}/nan.npy"], {}, ["nan.npy"]),
    (
        "predict_npy_garbage",
        ["predict", RUN, "{d}/x.npy"],
        {"x.npy": b"\x93NUMPY garbage"},
        ["x.npy"],
    ),
    ("predict_npy_pickle", ["predict", RUN, "{m}/objects.npy"], {}, ["objects.npy"]),
    ("predict_csv_columns", ["predict", RUN, "{d}/x.csv"], {"x.csv": "1,2,3\n4,5,6\n"}, ["x.csv"]),
    (
        "predict_csv_text",
        ["predict", RUN, "{d}/x.csv"],
        {"x.csv": ",".join(["a"] * 64) + "\n"},
        ["x.csv"],
    ),
    ("predict_csv_empty", ["predict", RUN, "{d}/x.csv"], {"x.csv": ""}, ["x.csv"]),
    (
        "predict_png_garbage",
        ["predict", RUN, "{d}/x.png"],
        {"x.png": b"\x89PNG not really"},
        ["x.png"],
    ),
    ("predict_unknown_suffix", ["predict", RUN, "{d}/x.docx"], {"x.docx": "hello"}, ["x.docx"]),
    # generate
    ("gen_temperature_negative", ["generate", LM, "--temperature", "-1"], {}, ["--temperature"]),
    ("gen_temperature_nan", ["generate", LM, "--temperature", "nan"], {}, ["--temperature"]),
    ("gen_temperature_inf", ["generate", LM, "--temperature", "inf"], {}, ["--temperature"]),
    ("gen_top_p_zero", ["generate", LM, "--top-p", "0"], {}, ["--top-p"]),
    ("gen_top_p_above_1", ["generate", LM, "--top-p", "1.5"], {}, ["--top-p"]),
    ("gen_top_p_nan", ["generate", LM, "--top-p", "nan"], {}, ["--top-p"]),
    ("gen_top_k_zero", ["generate", LM, "--top-k", "0"], {}, ["--top-k"]),
    ("gen_top_k_word", ["generate", LM, "--top-k", "1.5"], {}, ["--top-k"]),
    ("gen_beam_zero", ["generate", LM, "--beam", "0"], {}, ["--beam"]),
    ("gen_length_negative", ["generate", LM, "--length", "-5"], {}, ["--length"]),
    ("gen_seed_negative", ["generate", LM, "--seed", "-1"], {}, ["--seed"]),
    ("gen_unknown_chars", ["generate", LM, "--prompt", "XYZ#"], {}, ["vocabulary", "'X'"]),
    ("gen_empty_prompt", ["generate", LM, "--prompt", ""], {}, ["prompt"]),
    (
        "gen_beam_and_temperature",
        ["generate", LM, "--beam", "3", "--temperature", "0.5"],
        {},
        ["beam"],
    ),
    ("gen_not_language_model", ["generate", RUN, "--prompt", "a"], {}, ["vocabulary"]),
    ("gen_unknown_policy", ["generate", LM, "--unknown", "drop"], {}, ["--unknown"]),
    # forecast
    ("fc_steps_zero", ["forecast", SERIES, "--steps", "0"], {}, ["--steps"]),
    ("fc_steps_word", ["forecast", SERIES, "--steps", "ten"], {}, ["--steps"]),
    ("fc_no_action", ["forecast", SERIES], {}, ["--steps", "--evaluate"]),
    ("fc_season_zero", ["forecast", SERIES, "--evaluate", "--season", "0"], {}, ["--season"]),
    ("fc_not_forecaster", ["forecast", RUN, "--steps", "2"], {}, ["digits_mlp"]),
    (
        "fc_history_missing",
        ["forecast", SERIES, "--steps", "2", "--history", "{d}/h.csv"],
        {},
        ["h.csv"],
    ),
    (
        "fc_history_columns",
        ["forecast", SERIES, "--steps", "2", "--history", "{d}/h.csv"],
        {"h.csv": "t,other\n" + "".join(f"{i},{i}\n" for i in range(30))},
        ["h.csv", "value"],
    ),
    (
        "fc_history_short",
        ["forecast", SERIES, "--steps", "2", "--history", "{d}/h.csv"],
        {"h.csv": "t,value\n1,2\n2,3\n"},
        ["h.csv"],
    ),
    (
        "fc_history_text",
        ["forecast", SERIES, "--steps", "2", "--history", "{d}/h.csv"],
        {"h.csv": "t,value\n" + "".join(f"{i},x{i}\n" for i in range(30))},
        ["h.csv"],
    ),
    # finetune
    ("ft_spec_missing", ["finetune", RUN, "{d}/nope.yaml"], {}, ["nope.yaml"]),
    (
        "ft_head_lr_zero",
        ["finetune", RUN, "{d}/f.yaml"],
        {"f.yaml": FT % "head_lr: 0"},
        ["head_lr"],
    ),
    (
        "ft_head_lr_nan",
        ["finetune", RUN, "{d}/f.yaml"],
        {"f.yaml": FT % "head_lr: .nan"},
        ["head_lr"],
    ),
    (
        "ft_freeze_negative",
        ["finetune", RUN, "{d}/f.yaml"],
        {"f.yaml": FT % "freeze: {all_but_last: -1}"},
        ["all_but_last"],
    ),
    (
        "ft_unfreeze_epoch_zero",
        ["finetune", RUN, "{d}/f.yaml"],
        {"f.yaml": FT % "unfreeze: [{epoch: 0, last: 1}]"},
        ["epoch"],
    ),
    (
        "ft_unfreeze_last_true",
        ["finetune", RUN, "{d}/f.yaml"],
        {"f.yaml": FT % "unfreeze: [{epoch: 2, last: true}]"},
        ["last", "boolean"],
    ),
    (
        "ft_freeze_unknown_layer",
        ["finetune", RUN, "{d}/f.yaml"],
        {"f.yaml": FT % "freeze: [nosuchlayer]"},
        ["nosuchlayer"],
    ),
    (
        "ft_unknown_field",
        ["finetune", RUN, "{d}/f.yaml"],
        {"f.yaml": FT % "heads_lr: 0.1"},
        ["heads_lr"],
    ),
    (
        "ft_lr_nan",
        ["finetune", RUN, "{d}/f.yaml", "--set", "train.lr=.nan"],
        {"f.yaml": FT % "head_lr: 0.01"},
        ["lr"],
    ),
    ("ft_resume_missing", ["finetune", "--resume", "{d}/nope"], {}, ["nope"]),
    # tune
    (
        "tune_metric_unknown",
        ["tune", "{d}/t.yaml"],
        tune("metric: val_acc"),
        ["tune.metric", "val_acc"],
    ),
    ("tune_trials_zero", ["tune", "{d}/t.yaml"], tune("trials: 0"), ["trials"]),
    ("tune_trials_true", ["tune", "{d}/t.yaml"], tune("trials: true"), ["trials", "boolean"]),
    ("tune_timeout_negative", ["tune", "{d}/t.yaml"], tune("timeout: -1"), ["timeout"]),
    ("tune_seed_negative", ["tune", "{d}/t.yaml"], tune("seed: -1"), ["seed"]),
    ("tune_sampler_unknown", ["tune", "{d}/t.yaml"], tune("sampler: grid"), ["sampler", "grid"]),
    ("tune_pruner_unknown", ["tune", "{d}/t.yaml"], tune("pruner: fast"), ["pruner", "fast"]),
    ("tune_direction_word", ["tune", "{d}/t.yaml"], tune("direction: up"), ["direction"]),
    (
        "tune_pruner_option",
        ["tune", "{d}/t.yaml"],
        tune("pruner: {type: median, n_warmup_stepz: 1}"),
        ["pruner", "n_warmup_stepz"],
    ),
    ("tune_range_inf", ["tune", "{d}/t.yaml"], tune(lr="{uniform: [0.001, .inf]}"), ["train.lr"]),
    (
        "tune_step_zero",
        ["tune", "{d}/t.yaml"],
        tune(lr="{uniform: [0.001, 0.1], step: 0}"),
        ["train.lr", "step"],
    ),
    (
        "tune_int_step_fraction",
        ["tune", "{d}/t.yaml"],
        tune(units="{int: [4, 16], step: 0.5}"),
        ["units", "step"],
    ),
    (
        "tune_log_zero_low",
        ["tune", "{d}/t.yaml"],
        tune(lr="{loguniform: [0, 0.1]}"),
        ["train.lr", "positive"],
    ),
    (
        "tune_low_above_high",
        ["tune", "{d}/t.yaml"],
        tune(lr="{uniform: [0.1, 0.01]}"),
        ["train.lr", "above"],
    ),
    (
        "tune_log_word",
        ["tune", "{d}/t.yaml"],
        tune(lr="{uniform: [0.001, 0.1], log: maybe}"),
        ["train.lr", "log"],
    ),
    ("tune_choice_empty", ["tune", "{d}/t.yaml"], tune(lr="{choice: []}"), ["train.lr", "choice"]),
    ("tune_range_lr_negative", ["tune", "{d}/t.yaml"], tune(lr="{uniform: [-1, 0.1]}"), ["lr"]),
    ("tune_cli_trials_zero", ["tune", "{d}/t.yaml", "--trials", "0"], tune(), ["--trials"]),
    ("tune_cli_timeout_nan", ["tune", "{d}/t.yaml", "--timeout", "nan"], tune(), ["--timeout"]),
    ("tune_no_space", ["tune", "{d}/s.yaml"], train("seed: 0"), ["s.yaml"]),
    # export
    ("export_format", ["export", RUN, "--format", "tflite"], {}, ["--format"]),
    (
        "export_inputs_missing",
        ["export", RUN, "-o", "{d}/m.onnx", "--inputs", "{d}/nope.npy"],
        {},
        ["nope.npy"],
    ),
    (
        "export_bad_spec",
        ["export", "{d}/m.yaml", "-o", "{d}/m.onnx"],
        layer("{type: dense, units: true}"),
        ["units", "boolean"],
    ),
    (
        "export_output_is_dir",
        ["export", RUN, "-o", "{d}/out", "--no-data"],
        {"out/keep.txt": "keep me\n"},
        ["out"],
    ),
    # serve
    ("serve_port_big", ["serve", RUN, "--port", "70000"], {}, ["--port"]),
    ("serve_port_negative", ["serve", RUN, "--port", "-1"], {}, ["--port"]),
    ("serve_body_zero", ["serve", RUN, "--max-body-mb", "0"], {}, ["--max-body-mb"]),
    ("serve_body_nan", ["serve", RUN, "--max-body-mb", "nan"], {}, ["--max-body-mb"]),
    ("serve_batch_zero", ["serve", RUN, "--max-batch", "0"], {}, ["--max-batch"]),
    ("serve_prompt_zero", ["serve", LM, "--max-prompt", "0"], {}, ["--max-prompt"]),
    ("serve_length_zero", ["serve", LM, "--max-length", "-3"], {}, ["--max-length"]),
    ("serve_threads_zero", ["serve", RUN, "--threads", "0"], {}, ["--threads"]),
    ("serve_log_level", ["serve", RUN, "--log-level", "loud"], {}, ["--log-level"]),
]
