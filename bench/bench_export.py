"""File size, load time and batch-1 latency of each export format against eager PyTorch.

    python bench/bench_export.py [--formats pt2 onnx pte aoti] [--only digits_cnn.yaml ...]

Every example spec's model (its initial weights) is exported with `export_model` (so with the
parity check), loaded once (timed) and run `--runs` times on one random sample. One
thread everywhere (torch and onnxruntime), so the figures compare the formats, not the cores.
Prints a Markdown table and one JSON line per (example, format) to --json FILE if given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def examples() -> list[str]:
    return sorted(
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.rglob("*.yaml")
        if "\nmodel:" in "\n" + p.read_text() and "\ntune:" not in "\n" + p.read_text()
    )


def median_ms(fn, runs: int) -> float:
    """Median wall time of `runs` calls, after 5 warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def loader(fmt: str, path: Path, model):
    from brickwork.export.formats import runner

    if fmt == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1

        def load():
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            names = list(model.input_shapes)
            return lambda xs: session.run(
                None, {n: x.numpy() for n, x in zip(names, xs, strict=True)}
            )

        return load
    return lambda: runner(path, fmt, model)


def measure(name: str, fmt: str, folder: Path, runs: int) -> dict:
    from brickwork.cli.model_cmds import model_from_file
    from brickwork.export import export_model
    from brickwork.export.exporters import _inputs
    from brickwork.export.formats import FORMATS

    model = model_from_file(str(EXAMPLES / name)).eval()
    x = _inputs(model, 1, 0)
    row = {"example": name, "format": fmt}
    if fmt == "eager":
        with torch.no_grad():
            row["latency_ms"] = median_ms(lambda: model(*x), runs)
        weights = sum(p.numel() * p.element_size() for p in model.state_dict().values())
        row["size_kb"] = weights / 1024  # the weights alone (a .safetensors file is this size)
        return row
    path = folder / (Path(name).stem + FORMATS[fmt])
    t = time.perf_counter()
    report = export_model(model, path, fmt)
    row["export_s"] = time.perf_counter() - t
    row["max_abs_error"] = report["max_abs_error"]
    row["exporter"] = report["exporter"]["exporter"]
    row["size_kb"] = path.stat().st_size / 1024
    load = loader(fmt, path, model)
    t = time.perf_counter()
    run = load()
    row["load_ms"] = 1000 * (time.perf_counter() - t)  # the first load, as a service pays it
    row["latency_ms"] = median_ms(lambda: run(x), runs)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--formats", nargs="+", default=["eager", "pt2", "onnx"])
    p.add_argument("--only", nargs="+", help="example spec paths relative to examples/")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--json", help="append one JSON line per measurement to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or examples():
            for fmt in args.formats:
                try:
                    row = measure(name, fmt, Path(tmp), args.runs)
                except Exception as e:  # noqa: BLE001 - report the failure and go on
                    row = {"example": name, "format": fmt, "error": str(e)[:300]}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(row) + "\n")
    print("| example | format | size KB | load ms | batch-1 ms | max abs error |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            f"{r[k]:.3g}" if isinstance(r.get(k), float) else str(r.get(k, "-"))
            for k in ("size_kb", "load_ms", "latency_ms", "max_abs_error")
        ]
        print(f"| `{r['example']}` | {r['format']} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
