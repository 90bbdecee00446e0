"""Export of a model alone (no preprocessing inside the graph): ONNX, pt2, aoti or pte.

The batch axis is dynamic, and so is a variable-length sequence axis. The preprocessing
(scaling, normalization, vocabulary) is written beside the file as JSON, and every export is
checked: the exported file, loaded again, and PyTorch must agree on random and real inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.export.formats import FORMATS, dynamic_axes, runner, write_and_check
from brickwork.files import atomic_path, atomic_write

TOLERANCE = 1e-4


def _inputs(model: nn.Module, batch: int, seed: int, steps: int = 7, axes=None) -> tuple:
    """Random inputs of the model's shape: token ids for embeddings (with some padding), else
    normal noise. Dynamic axes (`axes`, as from `dynamic_axes`; default: the `null` ones) get
    `steps` positions."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, shape in enumerate(model.input_shapes.values()):
        free = set(axes[i]) - {0} if axes else {j + 1 for j, d in enumerate(shape) if d is None}
        dims = [batch, *[steps if j + 1 in free else d for j, d in enumerate(shape)]]
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


def parity(
    model: nn.Module,
    path: str | Path,
    fmt: str,
    real_inputs: torch.Tensor | None = None,
    axes: list[dict[int, str]] | None = None,
) -> dict:
    """Largest absolute difference between the exported file, loaded again, and PyTorch: on
    random inputs at batch sizes 1, 3 and 17 (the dynamic batch axis; a dynamic sequence axis
    gets 7 and then 12 steps) and on `real_inputs` if given."""
    axes = axes or dynamic_axes(model)
    cases = {
        "random_batch_1": _inputs(model, 1, 3, axes=axes),
        "random_batch_3": _inputs(model, 3, 1, axes=axes),
        "random_batch_17": _inputs(model, 17, 2, 12, axes=axes),
    }
    if real_inputs is not None:
        cases["real"] = (real_inputs.to(model.input_dtype),)
    run = runner(Path(path), fmt, model)
    report = {}
    for case, inputs in cases.items():
        with torch.no_grad():
            expected = model(*inputs)
        expected = [e.numpy() for e in (expected if isinstance(expected, tuple) else (expected,))]
        try:
            got = run(inputs)
        except Exception as e:  # noqa: BLE001 - runtimes raise many types for a bad input
            shapes = ", ".join(str(list(x.shape)) for x in inputs)
            report["failed"] = (
                f"the exported file does not run on inputs of shape {shapes} "
                f"({type(e).__name__}: {' '.join(str(e).split())[:200]})"
            )
            report[case] = float("inf")
            break
        report[case] = float(max(np.abs(g - e).max() for g, e in zip(got, expected, strict=True)))
    report["max_abs_error"] = max(v for k, v in report.items() if k != "failed")
    report["ok"] = report["max_abs_error"] <= TOLERANCE
    return report


def export_model(
    model: nn.Module,
    path: str | Path,
    fmt: str = "onnx",
    preprocessing: dict | None = None,
    metadata: dict | None = None,
    real_inputs: torch.Tensor | None = None,
    dynamic_steps: bool = False,
) -> dict:
    """Write the model as `fmt` (onnx, pt2, aoti, pte), the preprocessing as `<file>.json`
    beside it, and return the parity report (with the exporter that wrote it); a failed parity
    check removes the file and raises. `dynamic_steps` makes the first sequence axis dynamic
    too (a recurrent language model reads prompts of any length)."""
    check_format(fmt)
    path = Path(path)
    model = model.eval().cpu()
    axes = dynamic_axes(model, dynamic_steps)
    # ExecuTorch plans its buffers from the example's sizes too: a batch of 16 leaves room for 17
    example = _inputs(model, 16 if fmt == "pte" else 2, 0, axes=axes)
    with atomic_path(path) as tmp:
        exporter, report = write_and_check(
            fmt, model, example, tmp, axes, lambda: parity(model, tmp, fmt, real_inputs, axes)
        )
        if not report["ok"]:
            raise BrickworkError(
                "export parity check failed: "
                + (
                    report["failed"]
                    if "failed" in report
                    else f"{fmt} and PyTorch differ by {report['max_abs_error']:.3g} "
                    f"(> {TOLERANCE})"
                )
                + "; the file was not written."
            )
    report["exporter"] = exporter
    side = {
        "format": fmt,
        "inputs": {
            n: {
                "shape": [None if j + 1 in a else d for j, d in enumerate(s)],
                "dtype": str(model.input_dtype).replace("torch.", ""),
            }
            for (n, s), a in zip(model.input_shapes.items(), axes, strict=True)
        },
        "preprocessing": preprocessing or {},
        "parity": report,
        **(metadata or {}),
    }
    meta_path = path.with_name(path.name + ".json")
    atomic_write(meta_path, json.dumps(side, indent=2).encode())
    return report


def check_format(fmt: str) -> None:
    if fmt == "torchscript":
        raise BrickworkError(
            "--format torchscript is gone: torch deprecates TorchScript (torch.jit). Use "
            "--format pt2 (a torch.export program, loaded with torch.export.load), or onnx."
        )
    if fmt not in FORMATS or fmt == "web":
        raise BrickworkError(
            f"export format (--format) '{str(fmt)[:40]}' is not supported; use one of "
            f"{', '.join(FORMATS)}."
        )
