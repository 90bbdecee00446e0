"""Start-up: `brickwork --version`, `--help` and `layers` answer without importing torch.

Each command runs in a fresh interpreter that then reports which heavy packages it loaded;
checking sys.modules (not the wall time) keeps the test independent of the machine's load.
The layer catalog those commands read must equal what the registry says today.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brickwork.cli.catalog import CATALOG, REGENERATE, build_catalog, render

SRC = Path(__file__).resolve().parents[2] / "src"
HEAVY = ("torch", "numpy", "pydantic", "matplotlib", "yaml")
PROBE = """
import json, runpy, sys
sys.argv = ["brickwork", *json.loads(sys.argv[1])]
try:
    runpy.run_module("brickwork", run_name="__main__")
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "loaded": [m for m in HEAVY if m in sys.modules]}))
"""


def loaded_by(*args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}", json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args", [("--version",), ("--help",), ("layers",), ("layers", "conv2d"), ("layers", "LSTM")]
)
def test_top_level_commands_import_no_torch(args):
    report = loaded_by(*args)
    assert report["code"] == 0
    assert report["loaded"] == [], f"brickwork {' '.join(args)} imported {report['loaded']}"


def test_unknown_layer_type_is_a_user_error_without_torch():
    report = loaded_by("layers", "conv3")
    assert report == {"code": 2, "loaded": []}


def test_catalog_matches_the_layer_registry():
    committed = CATALOG.read_text(encoding="utf-8")
    assert committed == render(build_catalog()), (
        f"{CATALOG} is stale (a layer was added or changed); regenerate it with `{REGENERATE}` "
        "from the repository root and commit it"
    )
