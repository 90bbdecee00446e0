"""Training from scratch: a run spec prepared into a model and data, run by the run layer.

This is what `brickwork train` runs; from Python:

    from brickwork.spec.run import load_run_spec
    from brickwork.train.runner import train_from_spec
    result = train_from_spec(load_run_spec("examples/digits_cnn.yaml"))
    result.test_metrics["accuracy"], result.run_dir
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from brickwork.errors import BrickworkError
from brickwork.files import atomic_write
from brickwork.spec.run import RunSpec, parse_run_spec
from brickwork.train import distributed, rundir
from brickwork.train.device import pick_device, seed_everything
from brickwork.train.run import PreparedRun, RunResult, resumable, run_card, run_prepared
from brickwork.trust import TrustCode, loading

__all__ = ["RunResult", "load_run", "model_path", "spec_from_run", "train_from_spec"]


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
    model.card = run_card(model, bundle, spec)
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
    first epoch leaves no directory behind. A spec with a `finetune:` section is run by
    `brickwork.finetune.finetune_from_spec` (the CLI's `brickwork train` picks it for you).
    """
    if spec.finetune is not None:
        raise BrickworkError(
            "this spec has a finetune: section, so it fine-tunes a base model; run it with "
            "brickwork.finetune.finetune_from_spec(spec) (or `brickwork train`/`brickwork "
            "finetune` on the command line)."
        )
    distributed.init_from_env(pick_device(device or spec.train.device))
    main = distributed.is_main()
    stored = Path(resume) / "spec.yaml" if resume is not None else None
    resume = resume or distributed.restart_checkpoint_dir(runs_dir)
    created = None
    if resume is not None:
        run_dir = resumable(resume)
    elif main:
        given = os.environ.get("BRICKWORK_RUN_DIR")  # chosen by `brickwork train --nproc`
        run_dir = Path(given) if given else rundir.new_run_dir(runs_dir, name or spec.name)
        created = None if given else run_dir
        distributed.remember_run_dir(runs_dir, run_dir)
    else:
        run_dir = None
    with rundir.discard_unless_started(created), loading(stored, trust_code):
        return _train(spec, run_dir, main, resume is not None, device)


def _train(spec: RunSpec, run_dir: Path | None, main: bool, resumed: bool, device) -> RunResult:
    """The run itself: the spec copy, data and model, then the run layer (fit, test, model)."""
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
        model.card = model.card.updated(name=Path(run_dir).name)
    return run_prepared(
        PreparedRun(model, bundle, spec.train), run_dir, resume=resumed, device=device
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
