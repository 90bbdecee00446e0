"""From a run spec to a finished run directory: data, model, fit, test, plots, model file.

This is what `brickwork train` runs; from Python:

    from brickwork.spec.run import load_run_spec
    from brickwork.train.runner import train_from_spec
    result = train_from_spec(load_run_spec("examples/digits_cnn.yaml"))
    result.test_metrics["accuracy"], result.run_dir
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from brickwork.errors import BrickworkError
from brickwork.files import atomic_write
from brickwork.models.io import save_model
from brickwork.spec.run import RunSpec, parse_run_spec
from brickwork.train import distributed, plots, rundir
from brickwork.train.device import pick_device, seed_everything
from brickwork.train.loop import History, evaluate, fit, predict
from brickwork.train.optim import output_activation
from brickwork.trust import TrustCode, loading, trusting


@dataclass
class RunResult:
    run_dir: Path
    history: History
    test_metrics: dict


def has_rows(split) -> bool:
    return split is not None and len(split.y) > 0


def load_run(spec: RunSpec):
    """(model, data bundle): the data loaded and the model built under the spec's seed."""
    from brickwork.data import load_data
    from brickwork.models import build_model

    seed_everything(spec.train.seed)
    bundle = load_data(spec.data, seed=spec.train.seed)
    model = build_model(spec.model)
    if (
        bundle.input_shape is not None
        and list(model.input_shape) != list(bundle.input_shape)
        and None not in model.input_shape
    ):
        raise BrickworkError(
            f"model.input_shape is {list(model.input_shape)} but the data gives samples of shape "
            f"{list(bundle.input_shape)}; "
            f"set model.input_shape: {list(bundle.input_shape)} (or reshape the data)."
        )
    if bundle.vocab is not None:
        _check_vocabulary(model, len(bundle.vocab))
    check_output_size(model, bundle.task, bundle.num_classes)
    model.metadata = {
        "task": bundle.task,
        "preprocessing": bundle.preprocessing,
        "class_names": bundle.class_names,
        "num_classes": bundle.num_classes,
        "vocab": bundle.vocab.to_json() if bundle.vocab is not None else None,
        "data": spec.data.model_dump(mode="json"),
        "seed": spec.train.seed,
        "name": spec.name,
    }
    return model, bundle


def _check_vocabulary(model, size: int) -> None:
    """The first embedding must have a row for every token id the data can hold."""
    import torch

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Embedding):
            if module.num_embeddings < size:
                raise BrickworkError(
                    f"embedding '{name.rsplit('.', 1)[-1]}' has input_dim {module.num_embeddings} "
                    f"but the data's vocabulary has {size} "
                    f"tokens (ids 0..{size - 1}, incl. <pad> and <unk>); set its input_dim: {size}."
                )
            return


def check_output_size(model, task: str, num_classes: int | None) -> None:
    """A classifier's output needs one value per class: say so before training, naming the
    output layer, rather than fail at the first batch holding a label past it."""
    if task == "classification" and num_classes == 1:
        raise BrickworkError(
            "data: every label is the same class, so there is nothing to tell apart; a classifier "
            "needs at least two classes: check `label_column`, `path` and `limit` (a limit on "
            "sorted rows keeps one class), or set task: regression for a numeric target."
        )
    info = getattr(model, "layer_info", None)
    if task != "classification" or not num_classes or not info:
        return
    by_name = {layer["name"]: layer for layer in info}
    out = by_name.get(model.outputs[0], info[-1])
    size = out["output_shape"][-1] if out["output_shape"] else None
    while (
        out["inputs"]
        and out["inputs"][0] in by_name
        and by_name[out["inputs"][0]]["output_shape"] == out["output_shape"]
        and out["type"] in ACTIVATION_TYPES
    ):
        out = by_name[out["inputs"][0]]  # name the dense layer, not its softmax
    if size is not None and size < num_classes:
        raise BrickworkError(
            f"output layer '{out['name']}' gives {size} values per sample but the data has "
            f"{num_classes} classes; set its units: {num_classes} (one output per class)."
        )


ACTIVATION_TYPES = {
    "softmax",
    "log_softmax",
    "sigmoid",
    "relu",
    "tanh",
    "gelu",
    "elu",
    "leaky_relu",
}


def train_from_spec(
    spec: RunSpec,
    *,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    resume: str | Path | None = None,
    device: str | None = None,
    trust_code: TrustCode = None,
) -> RunResult:
    """Train as the spec says in a new run directory (or continue `resume`, a run directory).

    Under torchrun every process calls this; rank 0 alone writes the run directory. A resumed
    run's spec is read from its directory, so code it names (custom layers, callbacks) is
    imported only if `trust_code` allows it (brickwork.trust). A new run that fails before its
    first epoch leaves no directory behind.
    """
    if (
        spec.finetune is not None
    ):  # a fine-tuning spec starts from its base model: brickwork.finetune
        from brickwork.finetune.run import finetune_from_spec

        with trusting(trust_code):
            return finetune_from_spec(
                spec, runs_dir=runs_dir, name=name, resume=resume, device=device
            )
    distributed.init_from_env(pick_device(device or spec.train.device))
    main = distributed.is_main()
    stored = Path(resume) / "spec.yaml" if resume is not None else None
    resume = resume or distributed.restart_checkpoint_dir(runs_dir)
    created = None
    if resume is not None:
        run_dir = resumable(resume)
    elif main:
        given = os.environ.get(
            "BRICKWORK_RUN_DIR"
        )  # chosen by `brickwork train --nproc` before launching
        run_dir = Path(given) if given else rundir.new_run_dir(runs_dir, name or spec.name)
        created = None if given else run_dir
        distributed.remember_run_dir(runs_dir, run_dir)
    else:
        run_dir = None
    with rundir.discard_unless_started(created), loading(stored, trust_code):
        return _train(spec, run_dir, main, resume is not None, device)


def _train(spec: RunSpec, run_dir: Path | None, main: bool, resumed: bool, device) -> RunResult:
    """The run itself: spec copy, data and model, fit, then test metrics and the model file."""
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(
            run_dir / "spec.yaml",
            yaml.safe_dump(
                spec.model_dump(mode="json", exclude_none=True), sort_keys=False
            ).encode(),
        )
    with distributed.main_first():  # rank 0 downloads and caches the data before the others read it
        model, bundle = load_run(spec)
    if run_dir is not None:  # the run's name (--name, a '-2' suffix), not only the spec's
        model.metadata["name"] = Path(run_dir).name
    forced = {"device": device} if device else {}
    train = spec.train.model_copy(update=forced)
    val = bundle.val if has_rows(bundle.val) else None
    history = fit(
        model,
        bundle.train,
        validation_data=val,
        run_dir=run_dir,
        resume=run_dir if resumed else None,
        task=bundle.task,
        train=train,
    )
    test_metrics = evaluate_and_save(run_dir, model, bundle, history, train) if main else {}
    return RunResult(run_dir, history, test_metrics)


def resumable(run_dir: str | Path) -> Path:
    """`run_dir` if it holds a checkpoint to resume from, else a clear error (`fit` removes
    the temp files a killed writer left in it, rundir.write_environment)."""
    run_dir = Path(run_dir)
    if not rundir.started(run_dir):
        raise BrickworkError(
            f"cannot resume '{run_dir}': it has no checkpoints/last.safetensors (a run directory "
            "gets one after its first epoch)."
        )
    return run_dir


def evaluate_and_save(run_dir: Path, model, bundle, history, train) -> dict:
    """After training: test metrics and plots, and the final model file with its metrics."""
    if not has_rows(bundle.test) or history.stop_reason == "nan":
        return {}
    test_metrics = evaluate(
        model, bundle.test, batch_size=train.eval_batch_size or 256, device=train.device
    )
    if "target_scaler" in (bundle.extra or {}):  # series: loss/metrics are on scaled targets
        from brickwork.data.timeseries import errors_in_data_units

        pred = predict(model, bundle.test.x, device=train.device).reshape(bundle.test.y.shape)
        test_metrics.update(errors_in_data_units(bundle.extra, pred, bundle.test.y))
        test_metrics["units"] = (
            "loss and metrics on standardised targets; *_data_units in the data's units of "
            + ", ".join(bundle.extra["target_columns"])
        )
    _test_plots(run_dir, model, bundle, test_metrics, train.device)
    scalars = {k: v for k, v in test_metrics.items() if isinstance(v, float)}
    atomic_write(run_dir / "test_metrics.json", json.dumps(test_metrics, indent=2).encode())
    save_model(
        model,
        run_dir / "model.safetensors",
        train_metrics={k: v[-1] for k, v in history.history.items()},
        test_metrics=scalars,
    )
    return test_metrics


def _test_plots(run_dir: Path, model, bundle, metrics: dict, device: str) -> None:
    """Confusion matrix and misclassified test images (classification only)."""
    if "confusion_matrix" not in metrics:
        return
    plots.confusion_matrix(
        metrics["confusion_matrix"], bundle.class_names, run_dir / "plots" / "confusion_matrix.png"
    )
    x, y = bundle.test.x, bundle.test.y
    if x.dim() != 4 or y.dim() != 1:
        return
    out = predict(model, x[:2000], device=device)
    threshold = 0.5 if output_activation(model) == "sigmoid" else 0.0
    pred = out.argmax(-1) if out.shape[-1] > 1 else (out[:, 0] > threshold).long()
    plots.misclassified(
        x[:2000], y[:2000].long(), pred, bundle.class_names, run_dir / "plots" / "misclassified.png"
    )


def spec_from_run(run_dir: str | Path, overrides: list[str] = ()) -> RunSpec:
    """The resolved spec a run directory was started with, with `overrides` applied."""
    from brickwork.spec.load import apply_overrides, read_spec_file
    from brickwork.spec.run import check_override

    path = Path(run_dir) / "spec.yaml"
    if not path.is_file():
        raise BrickworkError(
            f"'{run_dir}' is not a run directory (no spec.yaml); pass the folder `brickwork "
            "train` created, e.g. runs/NAME."
        )
    for item in overrides:
        check_override(item)
    return parse_run_spec(apply_overrides(read_spec_file(path), list(overrides)), str(path))


def model_path(target: str | Path) -> Path:
    """A model file, or a run directory's model.safetensors."""
    target = Path(target)
    return target / "model.safetensors" if target.is_dir() else target
