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
from brickwork.models.io import atomic_write
from brickwork.spec.run import RunSpec, parse_run_spec
from brickwork.train import distributed, rundir
from brickwork.train.device import pick_device, seed_everything
from brickwork.train.run import PreparedRun, RunResult, resumable, run_prepared

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

    Under torchrun every process calls this; rank 0 alone writes the run directory. A spec
    with a `finetune:` section is run by `brickwork.finetune.finetune_from_spec` (the CLI's
    `brickwork train` picks it for you).
    """
    if spec.finetune is not None:
        raise BrickworkError(
            "this spec has a finetune: section, so it fine-tunes a base model; run it with "
            "brickwork.finetune.finetune_from_spec(spec) (or `brickwork train`/`brickwork "
            "finetune` on the command line)."
        )
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
    with distributed.main_first():  # rank 0 downloads and caches the data before the others read it
        model, bundle = load_run(spec)
    prepared = PreparedRun(model, bundle, spec.train)
    return run_prepared(prepared, run_dir, resume=resume is not None, device=device)


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
