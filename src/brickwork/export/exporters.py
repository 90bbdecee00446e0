"""ONNX and TorchScript export of a model alone (no preprocessing inside the graph).

The batch axis is dynamic, and so is a variable-length sequence axis. The preprocessing
(scaling, normalization, vocabulary) is written beside the file as JSON, and every export is
checked: the exported program and PyTorch must agree on random and real inputs.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.files import atomic_path, atomic_write

TOLERANCE = 1e-4


def _inputs(model: nn.Module, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Random inputs of the model's shape: token ids for embeddings (with some padding), else normal
    noise.
    """
    g = torch.Generator().manual_seed(seed)
    out = []
    for shape in model.input_shapes.values():
        dims = [batch, *[7 if d is None else d for d in shape]]
        if model.input_dtype == torch.long:
            vocab = model.embedding.num_embeddings
            x = torch.randint(1, vocab, dims, generator=g)
            x[: batch // 2, dims[1] // 2 :] = (
                0 if model.embedding.padding_idx == 0 else x[: batch // 2, dims[1] // 2 :]
            )
        else:
            x = torch.randn(dims, generator=g)
        out.append(x)
    return tuple(out)


def _export_onnx(model: nn.Module, example, path: Path) -> None:
    names = list(model.input_shapes)
    axes = {}
    for name, shape in model.input_shapes.items():
        axes[name] = {
            0: "batch",
            **{i + 1: f"{name}_len{i}" for i, d in enumerate(shape) if d is None},
        }
    outputs = [
        f"output{i}" if len(model.outputs) > 1 else "output" for i in range(len(model.outputs))
    ]
    for out in outputs:
        axes[out] = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            example,
            str(path),
            dynamo=False,
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
        )


def _export_torchscript(model: nn.Module, example, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, check_trace=False)
        torch.jit.save(traced, str(path))


def _run_exported(path: Path, fmt: str, inputs, names):
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {n: x.numpy() for n, x in zip(names, inputs, strict=True)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        out = module(*inputs)
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def parity(
    model: nn.Module, path: str | Path, fmt: str, real_inputs: torch.Tensor | None = None
) -> dict:
    """Largest absolute difference between the exported file and PyTorch, on random inputs
    (two batch sizes, so the dynamic batch axis is exercised) and on `real_inputs` if given."""
    names = list(model.input_shapes)
    cases = {"random_batch_3": _inputs(model, 3, 1), "random_batch_17": _inputs(model, 17, 2)}
    if real_inputs is not None:
        cases["real"] = (real_inputs.to(model.input_dtype),)
    report = {}
    for case, inputs in cases.items():
        with torch.no_grad():
            expected = model(*inputs)
        expected = [e.numpy() for e in (expected if isinstance(expected, tuple) else (expected,))]
        got = _run_exported(Path(path), fmt, inputs, names)
        report[case] = float(max(np.abs(g - e).max() for g, e in zip(got, expected, strict=True)))
    report["max_abs_error"] = max(report.values())
    report["ok"] = report["max_abs_error"] <= TOLERANCE
    return report


def export_model(
    model: nn.Module,
    path: str | Path,
    fmt: str = "onnx",
    preprocessing: dict | None = None,
    metadata: dict | None = None,
    real_inputs: torch.Tensor | None = None,
) -> dict:
    """Write the model as ONNX or TorchScript, the preprocessing as `<file>.json` beside it,
    and return the parity report; a failed parity check removes the file and raises."""
    if fmt not in ("onnx", "torchscript"):
        raise BrickworkError(f"export format '{fmt}' is not supported; use onnx or torchscript.")
    path = Path(path)
    model = model.eval().cpu()
    example = _inputs(model, 2, 0)
    with atomic_path(path) as tmp:
        try:
            (_export_onnx if fmt == "onnx" else _export_torchscript)(model, example, tmp)
        except Exception as e:  # noqa: BLE001 - the exporters raise many types for unsupported graphs
            raise BrickworkError(
                f"{fmt} export of this model failed ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200]}); "
                f"the graph uses an operation {fmt} cannot express (e.g. a stacked bidirectional "
                "recurrent layer over "
                "masked input for ONNX). Try --format "
                f"{'torchscript' if fmt == 'onnx' else 'onnx'}."
            ) from None
        report = parity(model, tmp, fmt, real_inputs)
        if not report["ok"]:
            raise BrickworkError(
                f"export parity check failed: {fmt} and PyTorch differ by "
                f"{report['max_abs_error']:.3g} (> {TOLERANCE}); the file was not written."
            )
    side = {
        "format": fmt,
        "inputs": {
            n: {"shape": s, "dtype": str(model.input_dtype).replace("torch.", "")}
            for n, s in model.input_shapes.items()
        },
        "preprocessing": preprocessing or {},
        "parity": report,
        **(metadata or {}),
    }
    atomic_write(path.with_name(path.name + ".json"), json.dumps(side, indent=2).encode())
    return report
