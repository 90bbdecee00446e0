"""Fine-tune a saved model on new data: what `brickwork finetune BASE SPEC` runs.

    from brickwork.finetune import finetune
    result = finetune("runs/mnist/model.safetensors", "examples/finetune_digits/finetune.yaml")
    result.test_metrics["accuracy"], result.run_dir

The spec is a run spec (`data:`, `train:`) plus a `finetune:` section (docs/finetune.md);
`model:` is needed only when the base is a plain PyTorch state dict. The run directory is
the one `brickwork train` writes, plus `pretrained_report.json`, and `brickwork train
--resume` continues it.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from safetensors import safe_open
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.files import atomic_write
from brickwork.finetune.freeze import freeze, frozen_layers, layer_names, unfreeze
from brickwork.finetune.head import head_name, replace_head
from brickwork.finetune.pretrained import load_pretrained
from brickwork.models.io import META_KEY
from brickwork.spec.finetune import FinetuneSpec, UnfreezeStep
from brickwork.spec.run import RunSpec, load_run_spec, parse_run_spec
from brickwork.spec.train import OptimizerSpec, TrainSpec
from brickwork.train.callbacks import Callback
from brickwork.train.run import run_card
from brickwork.trust import loading

PLAIN_SUFFIXES = (".pt", ".pth", ".bin")


def base_file(base: str | Path) -> Path:
    """The weights file of `base`: a file as given, or a run directory's model (else its best
    checkpoint).
    """
    path = Path(base)
    if path.is_dir():
        for candidate in (path / "model.safetensors", path / "checkpoints" / "best.safetensors"):
            if candidate.is_file():
                return candidate
        raise BrickworkError(
            f"base '{base}' is a folder without model.safetensors or "
            "checkpoints/best.safetensors; pass a run directory of `brickwork train`, or a model "
            "file."
        )
    if not path.is_file():
        raise BrickworkError(
            f"base model '{base}' does not exist; pass a brickwork model file, a run directory, a "
            "checkpoint, or a .pt/.pth/.safetensors state dict."
        )
    return path


def _brickwork_format(path: Path) -> str | None:
    """'brickwork.model/1' or 'brickwork.checkpoint/1' for files brickwork wrote, None for plain
    state
    dicts.
    """
    if path.suffix != ".safetensors":
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - any parse failure means "not a safetensors file"
        raise BrickworkError(
            f"base '{path}' is not a readable .safetensors file ({type(e).__name__}: {e})."
        ) from None
    return meta.get("format", "brickwork.model/1") if META_KEY in meta else None


def load_base(base: str | Path, spec: RunSpec) -> tuple[nn.Module, dict | None]:
    """(model, pretrained report): the base model itself, or the spec's `model:` filled from the
    base's weights.

    A brickwork model file or checkpoint rebuilds its own architecture; with a `model:`
    section (or a plain state dict, which needs one) the spec's architecture is built and the
    base's tensors are copied in by name (`finetune.pretrained` maps names), with a report.
    """
    from brickwork.models import build_model
    from brickwork.models.io import load, read_model_tensors

    path = base_file(base)
    fmt = _brickwork_format(path)
    if fmt is None and path.suffix not in (*PLAIN_SUFFIXES, ".safetensors"):
        raise BrickworkError(
            f"base '{path}' is neither a brickwork .safetensors file nor a PyTorch state dict "
            f"({', '.join(PLAIN_SUFFIXES)})."
        )
    if fmt is not None and spec.model is None:
        return load(path).train(), None
    if spec.model is None:
        raise BrickworkError(
            f"base '{path}' is a plain state dict with no architecture; add a `model:` section "
            "describing the network "
            "its tensors belong to (and finetune.pretrained.key_map if the names differ)."
        )
    model = build_model(spec.model)
    # a brickwork file's (or checkpoint's) model tensors, read without building its model
    source = read_model_tensors(path)[0] if fmt is not None else path
    p = (spec.finetune or FinetuneSpec()).pretrained
    report = load_pretrained(model, source, key_map=p.key_map, by_order=p.by_order, strict=p.strict)
    check_same_shapes(model, report, path, spec.finetune)
    return model, report


def check_same_shapes(model, report: dict, path: Path, ft: FinetuneSpec | None) -> None:
    """Tensors named alike with other shapes mean another architecture: refuse them (naming
    the file and the first layer) instead of silently training those layers from scratch;
    only the head, when `head:` replaces it, may differ."""
    from brickwork.models.io import layer_of_key

    head = head_name(model) if ft is not None and ft.head is not None else None
    wrong = [m for m in report["mismatched"] if layer_of_key(m.split(":")[0]) != head]
    if wrong:
        raise BrickworkError(
            f"base '{path}' holds weights of another architecture: the first layer that differs "
            f"is '{layer_of_key(wrong[0].split(':')[0])}' ({wrong[0]}"
            f"{f' and {len(wrong) - 1} more' if len(wrong) > 1 else ''}); make the spec's "
            "`model:` match the architecture the base was trained with."
        )


def prepare(spec: RunSpec, base: str | Path | None = None):
    """(model, data bundle, train spec, callbacks, report): everything `fit` needs for a fine-tuning
    run.
    """
    from brickwork.data import load_data
    from brickwork.train.device import seed_everything

    ft: FinetuneSpec = spec.finetune or FinetuneSpec()
    base = base or ft.base
    if base is None:
        raise BrickworkError(
            "fine-tuning needs a base model: give it on the command line (brickwork finetune BASE "
            "SPEC) or as finetune.base in the spec."
        )
    seed_everything(spec.train.seed)
    bundle = load_data(spec.data, seed=spec.train.seed)
    model, report = load_base(base, spec)
    if (
        bundle.input_shape is not None
        and None not in model.input_shape
        and list(model.input_shape) != list(bundle.input_shape)
    ):
        raise BrickworkError(
            f"the base model takes inputs of shape {list(model.input_shape)} but the data gives "
            f"{list(bundle.input_shape)}; "
            "make the data match (e.g. data.image_size: [H, W], data.channels) or fine-tune a "
            "model built for this shape."
        )
    if ft.head is not None:
        model = replace_head(model, ft.head.num_classes or bundle.num_classes, ft.head.activation)
    elif (
        bundle.task == "classification"
        and model.layer_info[-1]["output_shape"][-1] != bundle.num_classes
    ):
        raise BrickworkError(
            f"the base model has {model.layer_info[-1]['output_shape'][-1]} outputs but the data "
            f"has {bundle.num_classes} classes; "
            "add `head: true` under finetune: to replace the output layer with a fresh one."
        )
    if ft.freeze is not None:
        freeze(model, ft.freeze.layers, ft.freeze.all_but_last)
    _check_steps(model, ft.unfreeze)
    model.card = run_card(model, bundle, spec, finetuned_from=str(base))
    callbacks = [GradualUnfreeze(ft.unfreeze)] if ft.unfreeze else []
    return model, bundle, train_spec(model, spec.train, ft), callbacks, report


def train_spec(model: nn.Module, train: TrainSpec, ft: FinetuneSpec) -> TrainSpec:
    """`train:` with the head's and backbone's learning rates as optimizer parameter groups."""
    if ft.head_lr is None and ft.backbone_lr is None:
        return train
    options = train.optimizer.options
    groups = [
        {"layers": [head_name(model)], "lr": ft.head_lr or train.lr},
        *(options.pop("param_groups", None) or []),
    ]
    optimizer = OptimizerSpec(type=train.optimizer.type, **options, param_groups=groups)
    return train.model_copy(update={"lr": ft.backbone_lr or train.lr, "optimizer": optimizer})


def _check_steps(model: nn.Module, steps: list[UnfreezeStep]) -> None:
    import fnmatch

    names = layer_names(model)
    for i, step in enumerate(steps):
        for pattern in step.layers or []:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                raise BrickworkError(
                    f"finetune.unfreeze[{i}]: no layer matches '{pattern}'; the layers are "
                    f"{', '.join(names)}."
                )


class GradualUnfreeze(Callback):
    """Unfreeze layers at the start of the epochs the `finetune.unfreeze` steps name.

    The optimizer already holds frozen parameters (they just had no gradient), so an
    unfrozen layer trains from its step on at its group's learning rate, and a frozen
    batch-norm layer starts updating its statistics again. A resumed run re-applies the
    steps of the epochs already done.
    """

    def __init__(self, steps: list[UnfreezeStep]):
        self.steps = sorted(steps, key=lambda s: s.epoch)

    def on_train_begin(self, logs):
        from brickwork.train import distributed

        if distributed.world_size() > 1:
            raise BrickworkError(
                "finetune.unfreeze changes which parameters train during the run, which "
                "DistributedDataParallel "
                "does not allow; fine-tune with gradual unfreezing in one process, or drop "
                "`unfreeze:`."
            )
        for step in self.steps:
            if step.epoch - 1 < self.trainer.initial_epoch:
                self._apply(step)

    def on_epoch_begin(self, epoch, logs):
        for step in self.steps:
            if step.epoch - 1 == epoch:
                names = self._apply(step)
                self.trainer.say(
                    f"Unfreeze: epoch {epoch + 1}: {', '.join(names)} now trainable; still "
                    f"frozen: {', '.join(frozen_layers(self.trainer.model)) or 'none'}."
                )

    def _apply(self, step: UnfreezeStep) -> list[str]:
        model = self.trainer.model
        names = layer_names(model, weighted_only=True)[-step.last :] if step.last else step.layers
        return unfreeze(model, names)


def finetune_from_spec(
    spec: RunSpec,
    base: str | Path | None = None,
    *,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    resume: str | Path | None = None,
    device: str | None = None,
):
    """Fine-tune as the spec says in a new run directory (or continue `resume`); returns a
    RunResult. Preparing differs from training from scratch (the base model, head, frozen
    layers, learning rates per group); the run itself is the same `run_prepared`. A resumed
    run's stored spec may import code only if trusted (brickwork.trust); a new run that fails
    before its first epoch leaves no directory behind.
    """
    from brickwork.train import distributed, rundir
    from brickwork.train.run import resumable

    if distributed.launched_by_torchrun():
        raise BrickworkError("fine-tuning runs in one process; start it without torchrun/--nproc.")
    stored = Path(resume) / "spec.yaml" if resume is not None else None
    with loading(stored):
        model, bundle, train, callbacks, report = prepare(spec, base)
    run_dir = (
        resumable(resume) if resume is not None else rundir.new_run_dir(runs_dir, name or spec.name)
    )
    with rundir.discard_unless_started(None if resume else run_dir), loading(stored):
        prepared = (model, bundle, train, callbacks, report)
        return _finetune_in(run_dir, spec, base, prepared, device, resumed=resume is not None)


def _finetune_in(run_dir: Path, spec: RunSpec, base, prepared: tuple, device, resumed: bool):
    """Write the resolved spec and the weight report into `run_dir`, fit, evaluate, save."""
    from brickwork.train.run import PreparedRun, run_prepared

    model, bundle, train, callbacks, report = prepared
    ft = (spec.finetune or FinetuneSpec()).model_copy(
        update={"base": str(base or spec.finetune.base)}
    )
    resolved = spec.model_copy(update={"finetune": ft})
    atomic_write(
        run_dir / "spec.yaml",
        yaml.safe_dump(
            resolved.model_dump(mode="json", exclude_none=True), sort_keys=False
        ).encode(),
    )
    if report is not None:
        atomic_write(run_dir / "pretrained_report.json", json.dumps(report, indent=2).encode())
    if train.verbose:
        print(describe(model, report))
    run = PreparedRun(model, bundle, train, callbacks)
    return run_prepared(run, run_dir, resume=resumed, device=device)


def finetune(
    base: str | Path, spec: str | Path | dict | RunSpec, overrides: list[str] = (), **options
):
    """Python equivalent of `brickwork finetune BASE SPEC --set ...`; options as for
    finetune_from_spec.
    """
    if isinstance(spec, dict):
        from brickwork.spec.load import apply_overrides

        spec = parse_run_spec(apply_overrides(spec, list(overrides)))
    elif not isinstance(spec, RunSpec):
        spec = load_run_spec(spec, list(overrides))
    return finetune_from_spec(spec, base, **options)


def describe(model: nn.Module, report: dict | None) -> str:
    """One line on what is frozen and what the pretrained weights matched."""
    params = list(model.parameters())
    frozen = sum(p.numel() for p in params if not p.requires_grad)
    text = (
        f"frozen layers: {', '.join(frozen_layers(model)) or 'none'} ({frozen:,} of "
        f"{sum(p.numel() for p in params):,} parameters)"
    )
    if report is not None:
        counts = ", ".join(f"{len(v)} {k}" for k, v in report.items())
        text += f"; pretrained tensors: {counts}"
    return text
