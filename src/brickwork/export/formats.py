"""How each export format is written and run again for the parity check.

`pt2` is a `torch.export` ExportedProgram (reloaded with `torch.export.load`), `onnx` goes
through the same graph capture (`torch.onnx.export(dynamo=True)`, onnxscript), `aoti`
compiles that program ahead of time with a C++ compiler (AOTInductor), and `pte` lowers it to
ExecuTorch with the XNNPACK backend when an `executorch` package is installed. The batch axis
is always dynamic, and so is every sequence axis whose size is `null` in the input shape.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.export import Dim

from brickwork.errors import BrickworkError

FORMATS = {"onnx": ".onnx", "pt2": ".pt2", "aoti": ".aoti.pt2", "pte": ".pte", "web": ""}
# Warnings torch raises from its own code while capturing a graph: nothing the user can act on,
# and the parity check verifies the result. Matched by message, so any other warning still shows.
TORCH_NOISE = (
    r"The tensor attributes .*_flat_weights.* were assigned during export",  # nn.RNN's cache
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # torch.export's own pytree use
    r"_check_is_size will be removed",  # torch.onnx's own use
)
# ExecuTorch sizes its buffers from the declared bound and the export example (a batch of 16)
PTE_MAX_BATCH = 128
ONNX_REGISTRY_LOG = "torch.onnx._internal.exporter._registration"  # "torchvision not installed"


@contextlib.contextmanager
def quiet_capture():
    """Hide TORCH_NOISE (by message) and the ONNX registry's note that torchvision is absent."""
    log = logging.getLogger(ONNX_REGISTRY_LOG)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for message in TORCH_NOISE:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        log.setLevel(level)


def dynamic_axes(model: nn.Module, dynamic_steps: bool = False) -> list[dict[int, str]]:
    """Per input, its dynamic axes and their names: 0 is the batch, then every `null` axis
    (and the first sequence axis too with `dynamic_steps`, for a language model's prompt)."""
    out = []
    for name, shape in model.input_shapes.items():
        axes = {0: "batch"}
        for i, d in enumerate(shape):
            if d is None or (dynamic_steps and i == 0):
                axes[i + 1] = f"{name}_len{i}"
        out.append(axes)
    return out


def _dims(axes: list[dict[int, str]], max_batch: int | None = None) -> tuple:
    """torch.export's dynamic_shapes for `forward(*xs)`: one tuple holding one dict per input."""
    dims = {}
    for per_input in axes:
        for name in per_input.values():
            top = max_batch if name == "batch" else None
            dims.setdefault(name, Dim(name.replace(".", "_"), min=1, max=top))
    return (tuple({i: dims[n] for i, n in per_input.items()} for per_input in axes),)


def capture(model: nn.Module, example: tuple, axes: list[dict[int, str]], max_batch=None):
    """The model's ExportedProgram; a failure names the first layer torch.export cannot take."""
    try:
        with quiet_capture():
            return torch.export.export(model, example, dynamic_shapes=_dims(axes, max_batch))
    except Exception as e:  # noqa: BLE001 - torch.export raises many types for unsupported graphs
        raise BrickworkError(_capture_failure(model, example, axes, e)) from None


def _capture_failure(model: nn.Module, example: tuple, axes, error: Exception) -> str:
    """Which layer stops torch.export and why: each layer is captured alone on the inputs it
    received in an eager run of `example`, with the same axes dynamic (the batch, and those
    of the example's dynamic size); the first that fails is named."""
    seen: list[tuple[str, nn.Module, tuple]] = []
    hooks = [
        module.register_forward_pre_hook(
            lambda m, args, name=name: seen.append((name, m, args)) and None
        )
        for name, module in model.layers.named_children()
    ]
    try:
        with torch.no_grad():
            model(*example)
    finally:
        for hook in hooks:
            hook.remove()
    sizes = {example[i].shape[a] for i, per_input in enumerate(axes) for a in per_input if a}
    reason = f"{type(error).__name__}: {_first_line(error)}"
    for name, module, args in seen:
        batch, steps = Dim("batch", min=1), Dim("steps", min=1)
        dims = tuple(
            {0: batch, **{i: steps for i in range(1, a.dim()) if a.shape[i] in sizes}}
            if isinstance(a, torch.Tensor)
            else None
            for a in args
        )
        try:
            with quiet_capture():
                torch.export.export(module, args, dynamic_shapes=dims)
        except Exception as e:  # noqa: BLE001 - as above
            what = "a dynamic batch or sequence axis" if "onstraint" in str(e) else "its graph"
            reason = f"layer '{name}' ({type(module).__name__}) cannot be captured with {what}: "
            reason += f"{type(e).__name__}: {_first_line(e)}"
            break
    return (
        f"torch.export could not capture this model ({reason}); pt2, aoti and pte exports need "
        "that graph (a recurrent layer fixes the sequence length, so give the input shape a "
        "number instead of null for these formats, or export --format onnx)."
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else "no message")[:200]


def _names(model: nn.Module) -> tuple[list[str], list[str]]:
    outputs = [f"output{i}" for i in range(len(model.outputs))] if len(model.outputs) > 1 else []
    return list(model.input_shapes), outputs or ["output"]


def write_and_check(fmt: str, model: nn.Module, example: tuple, path: Path, axes, check):
    """Write `model` as `fmt` to `path` and run `check()` (the parity report) on it. An ONNX
    file from the dynamo exporter that fails (or fails its check: a dynamic axis it could not
    keep) is written again by the legacy exporter, and the report says so and why."""
    if fmt != "onnx":
        max_batch = PTE_MAX_BATCH if fmt == "pte" else None
        return _write_program(fmt, capture(model, example, axes, max_batch), path), check()
    try:
        _write_dynamo_onnx(model, example, path, axes)
        report = check()
        if report["ok"]:
            return {"exporter": "torch.onnx.export(dynamo=True)"}, report
        reason = report.get("failed") or f"parity error {report['max_abs_error']:.3g}"
    except Exception as e:  # noqa: BLE001 - the exporter raises many types for unsupported graphs
        reason = f"{type(e).__name__}: {_first_line(e)}"
    try:
        _write_legacy_onnx(model, example, path, axes)
    except Exception as e:  # noqa: BLE001 - as above
        raise BrickworkError(
            f"ONNX export of this model failed: the dynamo exporter ({reason}) and the legacy "
            f"one ({type(e).__name__}: {_first_line(e)}); export --format pt2 instead."
        ) from None
    legacy = {"exporter": "legacy torch.onnx.export(dynamo=False)", "dynamo_failed": reason}
    return legacy, check()


def _write_program(fmt: str, program, path: Path) -> dict:
    if fmt == "pt2":
        torch.export.save(program, str(path))
        return {"exporter": "torch.export"}
    if fmt == "aoti":
        return _write_aoti(program, path)
    return _write_pte(program, path)


def _write_dynamo_onnx(model: nn.Module, example: tuple, path: Path, axes) -> None:
    """ONNX through torch.export and onnxscript."""
    inputs, outputs = _names(model)
    with quiet_capture():
        program = torch.onnx.export(
            model,
            example,
            dynamic_shapes=_dims(axes),
            dynamo=True,
            input_names=inputs,
            output_names=outputs,
            optimize=True,
            verbose=False,
        )
        _name_dynamic_outputs(program, model, example, axes)
        program.save(str(path))


def _write_legacy_onnx(model: nn.Module, example: tuple, path: Path, axes) -> None:
    """The TorchScript-based exporter (deprecated by torch): only where dynamo fails."""
    inputs, outputs = _names(model)
    torch.onnx.export(
        model,
        example,
        str(path),
        dynamo=False,
        input_names=inputs,
        output_names=outputs,
        dynamic_axes={**dict(zip(inputs, axes, strict=True)), **{o: {0: "batch"} for o in outputs}},
        opset_version=17,
    )


def _name_dynamic_outputs(program, model: nn.Module, example: tuple, axes) -> None:
    """Declare every output axis that follows an input's dynamic size as dynamic: the captured
    graph may record the example's size there (a recurrent layer's steps), which onnxruntime
    then reports as a shape mismatch. Which axes move is seen by running PyTorch at two sizes."""
    import onnx_ir as ir

    other = tuple(
        x.repeat(*[3 if i in per_input else 1 for i in range(x.dim())])
        for x, per_input in zip(example, axes, strict=True)
    )
    with torch.no_grad():
        shapes = [_as_tuple(model(*xs)) for xs in (example, other)]
    graph = program.model.graph
    if any(len(per_input) > 1 for per_input in axes):  # intermediate shapes may hold the
        for node in graph:  # example's steps too: leave them to onnxruntime's own inference
            for value in node.outputs:
                value.shape = None
    for value, a, b in zip(graph.outputs, *shapes, strict=True):
        dims = [
            f"{value.name}_dim{i}" if i and m != n else m
            for i, (m, n) in enumerate(zip(a.shape, b.shape, strict=True))
        ]
        value.shape = ir.Shape(["batch", *dims[1:]])


def _as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _write_aoti(program, path: Path) -> dict:
    if path.suffix != ".pt2":
        raise BrickworkError(
            f"an AOTInductor package's file name must end in .pt2 (torch requires it), got "
            f"'{path.name[:80]}'; pass -o NAME.aoti.pt2."
        )
    compiler = next((c for c in ("c++", "g++", "clang++") if shutil.which(c)), None)
    if compiler is None:
        raise BrickworkError(
            "--format aoti compiles the model with a C++ compiler, and none (c++, g++, clang++) "
            "is on PATH; install one (apt-get install g++) or export --format pt2."
        )
    from torch._inductor import aoti_compile_and_package

    with quiet_capture():
        aoti_compile_and_package(program, package_path=str(path))
    return {"exporter": "AOTInductor", "compiler": compiler}


def _write_pte(program, path: Path) -> dict:
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
            XnnpackPartitioner,
        )
        from executorch.exir import to_edge_transform_and_lower
    except ImportError:
        raise BrickworkError(
            "--format pte needs the executorch package, which is not installed here; see "
            "docs/export.md (Mobile) for the release that works beside this torch."
        ) from None
    with quiet_capture():
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        path.write_bytes(lowered.to_executorch().buffer)
    return {"exporter": "ExecuTorch (XNNPACK)"}


def runner(path: Path, fmt: str, model: nn.Module):
    """A function from input tensors to output arrays, running the exported file."""
    names, _ = _names(model)
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda xs: session.run(None, {n: x.numpy() for n, x in zip(names, xs, strict=True)})
    if fmt == "pt2":
        module = torch.export.load(str(path)).module()
    elif fmt == "aoti":
        from torch._inductor import aoti_load_package

        module = aoti_load_package(str(path))
    else:
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(str(path)).load_method("forward")
        return lambda xs: [np.asarray(o) for o in method.execute(list(xs))]

    def run(xs):
        with torch.no_grad():
            out = module(*xs)
        return [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]

    return run
