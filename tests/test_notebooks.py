"""The example notebooks run end to end on a real ipykernel, and brickwork leaves matplotlib's
backend alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "examples" / "notebooks"
SRC = Path(__file__).resolve().parents[1] / "src"


def _env() -> dict:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }


def test_import_keeps_the_matplotlib_backend():
    """Importing brickwork and its plotting modules neither switches the backend nor pyplot."""
    code = (
        "import matplotlib; matplotlib.use('svg'); import sys, brickwork, brickwork.train.live, "
        "brickwork.train.plots, brickwork.figures, brickwork.train; "
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["svg", "False"]


def _outputs(nb, kind: str) -> list:
    return [
        o
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if o.output_type == kind
    ]


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                parts.append(o.text)
    return "".join(parts)


def test_tutorial_notebook_runs_on_a_real_kernel(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOKS / "tutorial.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "clear outputs"
    monkeypatch.setenv("PYTHONPATH", _env()["PYTHONPATH"])
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    shared = NOTEBOOKS.parents[2] / "shared" / "data"  # the project's copies, when present
    if (shared / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        monkeypatch.setenv("BRICKWORK_DATA", str(shared))
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    assert _outputs(nb, "error") == []
    rich = (
        _outputs(nb, "display_data")
        + _outputs(nb, "execute_result")
        + _outputs(nb, "update_display_data")
    )
    assert any("image/png" in o.get("data", {}) for o in rich), "no figure displayed"
    fit_cell = next(c for c in nb.cells if c.source.startswith("history = bw.fit("))
    curves = [o for o in fit_cell.outputs if "image/png" in o.get("data", {})]
    assert len(curves) == 1, "the live curves must be redrawn in place, one figure per fit"
    htmls = [o["data"]["text/html"] for o in rich if "text/html" in o.get("data", {})]
    assert any("<progress" in h for h in htmls), "no notebook progress bar"
    assert any("Total params" in h for h in htmls), "the model summary is not shown as HTML"
    assert any("data:image/png;base64" in h for h in htmls), "History/evaluation without figure"
    text = _text(nb)
    printed = re.search(r"^test accuracy: (\d\.\d{4})$", text, re.M)
    evaluated = json.loads((tmp_path / "notebook_runs" / "digits_eval.json").read_text())
    assert printed and float(printed.group(1)) == round(evaluated["accuracy"], 4)
    assert evaluated["accuracy"] > 0.8
    assert re.search(r"^generated: '.+'$", text, re.M)
    assert "matplotlib backend unchanged" in text
    if "BRICKWORK_DATA" in os.environ and "MNIST files not found" not in text:
        assert re.search(r"^MNIST test accuracy: 0\.\d{4}$", text, re.M)
