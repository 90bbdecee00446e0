"""`brickwork export RUN --format web -o DIR`: a static site that runs the model in the browser.

DIR holds index.html, model.onnx (checked against PyTorch like any ONNX export), model.json
(preprocessing, class names, vocabulary, forecast window: what the page needs to turn a
drawing, a prompt or a series into the model's input) and ort/, the ONNX Runtime Web files
from the npm package `onnxruntime-web`. No server is needed: served by any static server the
page fetches those files; opened as a file (where browsers refuse fetch) it reads the same
bytes from embedded/*.js, which hold them base64-encoded.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from brickwork.errors import BrickworkError
from brickwork.files import folder_mode

ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ORT_VERSION = "1.30.0"  # the release the page and its browser test were checked with
NPM_CACHE = Path("~/.cache/brickwork/npm").expanduser()
NPM_HINT = f"npm install --prefix {NPM_CACHE} onnxruntime-web@{ORT_VERSION}"
EMBEDDED = ("model.onnx", "model.json", *(f"ort/{name}" for name in ORT_FILES[1:]))


def find_ort_web(folder: str | Path | None = None) -> Path:
    """The onnxruntime-web `dist` folder: `folder`, else $BRICKWORK_ORT_WEB, ./node_modules,
    or the npm cache folder. Each may be the dist folder, the package, or an npm prefix."""
    given = folder or os.environ.get("BRICKWORK_ORT_WEB")
    places = [Path(given).expanduser()] if given else [Path.cwd(), NPM_CACHE]
    for place in places:
        for dist in (place, place / "dist", place / "node_modules" / "onnxruntime-web" / "dist"):
            if all((dist / name).is_file() for name in ORT_FILES):
                return dist
    where = f"'{str(given)[:200]}'" if given else f"./node_modules or {NPM_CACHE}"
    raise BrickworkError(
        f"the ONNX Runtime Web files ({', '.join(ORT_FILES)}) are not in {where}; get them once "
        f"with `{NPM_HINT}` (then everything works offline), or pass --ort-web DIR with the "
        "onnxruntime-web dist folder."
    )


def page_kind(model: nn.Module, meta: dict) -> str:
    """What the page shows: image_classifier, language_model, forecaster, or json (others)."""
    from brickwork.data.inputs import is_image_model

    task = meta.get("task")
    if task == "language_model" and meta.get("vocab"):
        return "language_model"
    if task == "regression" and (meta.get("data") or {}).get("dataset") == "timeseries":
        return "forecaster"
    if task == "classification" and is_image_model(model.input_shape):
        return "image_classifier"
    return "json"


def export_site(
    model: nn.Module,
    out: str | Path,
    meta: dict,
    side: dict | None = None,
    real_inputs: torch.Tensor | None = None,
    ort_web: str | Path | None = None,
) -> dict:
    """Write the site to the new folder `out` and return the ONNX parity report; `meta` is the
    model's metadata (task, preprocessing, class_names, vocab, data), `side` extra facts for
    model.onnx.json. An existing non-empty `out` is refused, never overwritten."""
    from brickwork.export.exporters import export_model

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BrickworkError(
            f"'{str(out)[:200]}' already exists and is not an empty folder; the web export "
            "writes a new folder: give another -o DIR or remove that one."
        )
    dist = find_ort_web(ort_web)
    kind = page_kind(model, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        report = export_model(
            model,
            tmp / "model.onnx",
            "onnx",
            preprocessing=meta.get("preprocessing"),
            metadata=side,
            real_inputs=real_inputs,
            dynamic_steps=kind == "language_model",
        )
        config = page_config(model, meta, kind, report)
        (tmp / "model.json").write_text(json.dumps(config, indent=1))
        (tmp / "ort").mkdir()
        for name in ORT_FILES:
            shutil.copyfile(dist / name, tmp / "ort" / name)
        _embed(tmp)
        template = resources.files("brickwork.export").joinpath("web/index.html")
        (tmp / "index.html").write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
        _sync_tree(tmp)
        os.chmod(tmp, folder_mode())  # mkdtemp makes 0700; the site follows the umask
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _embed(folder: Path) -> None:
    """embedded/NAME.js for each file the page reads, so it runs opened as a file too."""
    (folder / "embedded").mkdir()
    for name in EMBEDDED:
        data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
        script = (
            "(window.BRICKWORK_FILES = window.BRICKWORK_FILES || {})"
            f"[{json.dumps(name)}] = {json.dumps(data)};\n"
        )
        (folder / "embedded" / f"{name.replace('/', '_')}.js").write_text(script)


def _sync_tree(folder: Path) -> None:
    """Readable by a static server (temporary files are private, 0600), and on disk: fsync
    every file and folder, so the rename that publishes the site publishes all of it."""
    umask = os.umask(0o22)
    os.umask(umask)
    for path in sorted(folder.rglob("*"), reverse=True) + [folder]:
        path.chmod((0o755 if path.is_dir() else 0o644) & ~umask)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def page_config(model: nn.Module, meta: dict, kind: str, report: dict) -> dict:
    """model.json: the model's inputs and outputs and what the page needs around them."""
    from brickwork.data.inputs import pixel_range

    last = model._plan[-1][1]
    return {
        "name": meta.get("name") or "model",
        "kind": kind,
        "task": meta.get("task"),
        "input_name": next(iter(model.input_shapes)),
        "input_shape": list(model.input_shape),
        "input_dtype": "int64" if model.input_dtype == torch.long else "float32",
        "output": "softmax"
        if isinstance(last, nn.Softmax)
        else "log_softmax"
        if isinstance(last, nn.LogSoftmax)
        else "raw",
        "preprocessing": meta.get("preprocessing") or {},
        "pixel_range": pixel_range(meta.get("preprocessing")),
        "class_names": meta.get("class_names"),
        "vocab": meta.get("vocab") if kind == "language_model" else None,
        "forecast": _forecast_config(meta) if kind == "forecaster" else None,
        "test_metrics": meta.get("test_metrics"),
        "parity": {k: v for k, v in report.items() if k != "exporter"},
    }


def _forecast_config(meta: dict) -> dict:
    """Lookback, horizon, targets, and the last lookback rows of the recorded series (raw
    values), if that file can be read here; else the page asks for pasted numbers."""
    from brickwork.spec.data import DataSpec

    spec = DataSpec(**meta["data"])
    targets = spec.target_columns
    targets = ["target"] if targets is None else [targets] if isinstance(targets, str) else targets
    history, note = None, ""
    try:
        from brickwork.data.timeseries import read_series

        values = read_series(spec)[0]
        history = values[-spec.lookback :].tolist()
    except (BrickworkError, OSError, ValueError) as e:
        note = f"the recorded series could not be read ({str(e).splitlines()[0][:120]})"
    return {
        "lookback": spec.lookback,
        "horizon": spec.horizon,
        "targets": list(targets),
        "history": history,
        "history_note": note,
    }
