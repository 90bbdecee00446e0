"""Package-wide rules: ruff's checks (line length 100 included) pass; plotting leaves the
user's matplotlib backend alone."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_passes():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_plots_leave_the_matplotlib_backend_as_it_was(tmp_path):
    script = f"""
import matplotlib
matplotlib.use("svg")
import brickwork, brickwork.train.plots as plots, brickwork.forecast.plots, brickwork.models.plot
import brickwork.tune.report
from pathlib import Path
curves = {{"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}}
path = plots.learning_curves(curves, Path({str(tmp_path)!r}) / "c.png")
assert path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
import matplotlib.pyplot as plt
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert plt.get_fignums() == [], plt.get_fignums()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
