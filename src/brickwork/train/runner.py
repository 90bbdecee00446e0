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

from brickwork import runs
from brickwork.errors import BrickworkError
from brickwork.models.io import atomic_write, save_model
from brickwork.spec.run import RunSpec, parse_run_spec
from brickwork.train import distributed, loggers, plots, rundir
from brickwork.train.device import pick_device, seed_everything
from brickwork.train.loop import History, evaluate, fit, predict
from brickwork.train.optim import output_activation


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


def train_from_spec(
    spec: RunSpec,
    *,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    resume: str | Path | None = None,
    device: str | None = None,
) -> RunResult:
    """Train as the spec says in a new run directory (or continue `resume`, a run directory).

    Under torchrun every process calls this; rank 0 alone writes the run directory.
    """
    if (
        spec.finetune is not None
    ):  # a fine-tuning spec starts from its base model: brickwork.finetune
        from brickwork.finetune.run import finetune_from_spec

        return finetune_from_spec(spec, runs_dir=runs_dir, name=name, resume=resume, device=device)
    distributed.init_from_env(pick_device(device or spec.train.device))
    main = distributed.is_main()
    resume = resume or distributed.restart_checkpoint_dir(runs_dir)
    if resume is not None:
        run_dir = resumable(resume)
    elif main:
        given = os.environ.get(
            "BRICKWORK_RUN_DIR"
        )  # chosen by `brickwork train --nproc` before launching
        run_dir = Path(given) if given else rundir.new_run_dir(runs_dir, name or spec.name)
        distributed.remember_run_dir(runs_dir, run_dir)
    else:
        run_dir = None
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(
            run_dir / "spec.yaml",
            yaml.safe_dump(
                spec.model_dump(mode="json", exclude_none=True), sort_keys=False
            ).encode(),
        )
    forced = {"device": device} if device else {}
    train = spec.train.model_copy(update=forced)
    trackers = loggers.spec_loggers(train, run_dir, close_at_train_end=False) if main else []
    # status.json says running, then how it ended; trackers get the test metrics and files
    with (
        runs.recording(run_dir if main else None) as status,
        loggers.finishing(trackers, run_dir) as outcome,
    ):
        with distributed.main_first():  # rank 0 downloads and caches the data before the others
            model, bundle = load_run(spec)
        val = bundle.val if has_rows(bundle.val) else None
        history = fit(
            model,
            bundle.train,
            validation_data=val,
            run_dir=run_dir,
            resume=run_dir if resume else None,
            task=bundle.task,
            train=train,
            callbacks=trackers,
        )
        status["stop_reason"] = outcome["stop_reason"] = history.stop_reason
        test_metrics = evaluate_and_save(run_dir, model, bundle, history, train) if main else {}
        outcome["test_metrics"] = test_metrics
    return RunResult(run_dir, history, test_metrics)


def resumable(run_dir: str | Path) -> Path:
    """`run_dir` if it holds a checkpoint to resume from, else a clear error."""
    run_dir = Path(run_dir)
    if not (run_dir / "checkpoints" / "last.safetensors").is_file():
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
