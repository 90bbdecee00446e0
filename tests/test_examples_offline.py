"""What the README and the examples promise, tried as a new user would.

A clean copy of examples/, README.md and docs/ goes to a temp folder with no ../shared
beside it, HOME and BRICKWORK_DATA point at empty folders and a sitecustomize blocks every
socket. Every example spec must then either train (digits, the embedded co2/sunspots, files
its README's script makes offline) or stop with exit code 2 and the offline message that
names its dataset and the `brickwork download` / `--data-dir` fix. With the real data given
by `--data-dir` (skipped when ../shared/data is absent), every one of them trains for one
short epoch and writes its run directory; CIFAR-10, which is not there, still gives the
offline message. All commands of a phase run in one subprocess to pay torch's import once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from brickwork.data.download import RESOURCES
from brickwork.data.named import dataset_kind
from brickwork.spec.data import DataSpec
from tests.conftest import EXAMPLES, ROOT, SHARED_DATA

SRC = ROOT / "src"
SPECS = sorted(str(p.relative_to(ROOT)) for p in EXAMPLES.rglob("*.yaml"))
# Scripts an example's README runs before training: they write the files its spec reads.
PREPARE = {
    "examples/text_classification/plays_bigru.yaml": [
        "examples/text_classification/make_speeches.py"
    ],
    "examples/finetune_digits/finetune.yaml": ["examples/finetune_digits/prepare_digits.py"],
    "examples/finetune_digits/scratch.yaml": ["examples/finetune_digits/prepare_digits.py"],
}
# The pretrained run finetune.yaml starts from (README: brickwork finetune runs/mnist_pretrain).
FINETUNE_BASE = "runs/mnist_pretrain"
# What the README does next with a trained example: forecast from it, generate from it.
FOLLOW_UP = {
    "examples/timeseries/co2_lstm.yaml": [
        ["forecast", "runs/co2_lstm", "--evaluate"],
        ["forecast", "runs/co2_lstm", "--steps", "52"],
    ],
    "examples/shakespeare/char_lstm.yaml": [
        ["generate", "runs/shakespeare_char_lstm", "--prompt", "ROMEO:", "--length", "20"]
    ],
}
# Tiny runs: a subset and a short validation part, so one epoch takes seconds.
QUICK = {
    "text": ["data.limit=64", "data.validation_split=0.01"],
    "text_csv": ["data.limit=300"],
    "timeseries": [],
}
IMAGE_QUICK = ["data.limit=256"]
USER_TEXT = ["README.md", "docs", "examples"]

BLOCK_NETWORK = """
import socket

def _blocked(*args, **kwargs):
    raise OSError("network blocked by the example test")

socket.socket.connect = _blocked
socket.create_connection = _blocked
socket.getaddrinfo = _blocked
"""

DRIVER = """
import contextlib, io, json, runpy, sys, time
from brickwork.cli.main import main

steps_file, out_file = sys.argv[1:3]
results = []
for step in json.load(open(steps_file)):
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if step["kind"] == "script":
            sys.argv = step["argv"]
            try:
                runpy.run_path(step["argv"][0], run_name="__main__")
                rc = 0
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
        else:
            rc = main(step["argv"])
    results.append({**step, "rc": rc, "out": out.getvalue()[-3000:],
                    "err": err.getvalue()[-3000:], "seconds": time.perf_counter() - start})
json.dump(results, open(out_file, "w"))
"""


def spec_of(rel: str) -> SimpleNamespace:
    """What the test needs of an example: its data section, name, and tune/finetune use
    (read from the file itself: a tune spec holds search spaces no RunSpec accepts)."""
    raw = yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))
    return SimpleNamespace(
        data=DataSpec(**raw["data"]),
        name=raw.get("name"),
        tune=raw.get("tune"),
        finetune=raw.get("finetune"),
    )


def clean_copy(tmp: Path) -> Path:
    """examples/, README.md and docs/ in a fresh folder, without files a run made here."""
    repo = tmp / "repo"
    ignore = shutil.ignore_patterns("runs", "data", "speeches.csv", "__pycache__")
    shutil.copytree(ROOT / "examples", repo / "examples", ignore=ignore)
    shutil.copytree(ROOT / "docs", repo / "docs")
    shutil.copy(ROOT / "README.md", repo / "README.md")
    return repo


def run_steps(tmp: Path, repo: Path, steps: list[dict]) -> list[dict]:
    """Run the steps in one subprocess: network blocked, empty HOME and data cache."""
    (tmp / "site").mkdir(exist_ok=True)
    (tmp / "site" / "sitecustomize.py").write_text(BLOCK_NETWORK)
    (tmp / "driver.py").write_text(DRIVER)
    (tmp / "steps.json").write_text(json.dumps(steps))
    for name in ("home", "cache"):
        (tmp / name).mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp / "site"), str(SRC), str(ROOT)]),
        "HOME": str(tmp / "home"),
        "BRICKWORK_DATA": str(tmp / "cache"),
        "MPLBACKEND": "Agg",
    }
    env.pop("BRICKWORK_DEBUG", None)
    done = subprocess.run(
        [sys.executable, str(tmp / "driver.py"), str(tmp / "steps.json"), str(tmp / "out.json")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp / "out.json").read_text())


def train_step(rel: str, data_dir: str | None) -> dict:
    """The command that trains (or tunes, or fine-tunes) one example for one short epoch."""
    spec = spec_of(rel)
    kind = dataset_kind(spec.data.dataset)
    quick = QUICK.get(kind, IMAGE_QUICK)
    sets = [a for s in ["train.epochs=1", "train.verbose=0", *quick] for a in ("--set", s)]
    if spec.tune is not None:
        argv = ["tune", rel, "--trials", "2", *sets]
    elif spec.finetune is not None:
        argv = ["finetune", FINETUNE_BASE, rel, *sets]
    else:
        argv = ["train", rel, *sets, *(["--data-dir", data_dir] if data_dir else [])]
    return {"kind": "cli", "spec": rel, "argv": argv, "dataset": spec.data.dataset}


def prepare_steps(rel: str, data_dir: str | None) -> list[dict]:
    steps = []
    for script in PREPARE.get(rel, []):
        extra = ["--data-dir", data_dir] if data_dir and "make_speeches" in script else []
        steps.append({"kind": "script", "spec": rel, "argv": [script, *extra]})
    return steps


def plan(specs: list[str], data_dir: str | None) -> list[dict]:
    """Summaries, then each spec's preparation and training; fine-tuning after its base."""
    steps = [
        {"kind": "cli", "spec": rel, "argv": ["summary", rel]}
        for rel in specs
        if spec_of(rel).finetune is None
    ]
    ordered = sorted(specs, key=lambda rel: spec_of(rel).finetune is not None)
    for rel in ordered:
        steps += prepare_steps(rel, data_dir)
        steps.append(train_step(rel, data_dir))
        steps += [{"kind": "follow", "spec": rel, "argv": a} for a in FOLLOW_UP.get(rel, [])]
    return steps


def assert_offline_message(step: dict, dataset: str) -> None:
    """Exit code 2 and one paragraph naming the dataset and both fixes; never a traceback."""
    err = step["err"]
    where = f"{step['argv']}: {err[-1500:]}"
    assert step["rc"] == 2, where
    assert f"dataset '{dataset}'" in err and f"brickwork download {dataset}" in err, where
    assert "--data-dir" in err and "network blocked by the example test" in err, where
    assert "Traceback" not in err and "internal error" not in err, where


def assert_trained(repo: Path, step: dict) -> None:
    where = f"{step['argv']}: {(step['err'] or step['out'])[-1500:]}"
    assert step["rc"] == 0, where
    if step["argv"][0] == "tune":
        report = repo / "runs" / "tune" / spec_of(step["spec"]).name
        assert (report / "best_spec.yaml").is_file(), where
        return
    run_dir = Path(step["out"].split("run directory: ")[-1].strip())
    run_dir = run_dir if run_dir.is_absolute() else repo / run_dir
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "spec.yaml").is_file(), where
    assert (run_dir / "metrics.csv").read_text().count("\n") == 2, where  # header + 1 epoch


def check(repo: Path, results: list[dict], have_data: set[str]) -> dict[str, str]:
    """Assert every step's outcome; returns what each spec did (for the data phase)."""
    outcome = {}
    for step in results:
        rel = step["spec"]
        if step["argv"][0] == "summary":
            assert step["rc"] == 0, f"{step['argv']}: {step['err'][-1500:]}"
            continue
        if step["kind"] == "follow":  # from a trained run only; else there is nothing to use
            if outcome[rel] == "trained":
                assert step["rc"] == 0, f"{step['argv']}: {step['err'][-1500:]}"
                outcome[f"{rel} {step['argv'][0]}"] = "ran"
            continue
        if step["kind"] == "script":
            if step["rc"] != 0:  # only make_speeches needs data; it names the corpus then
                assert_offline_message(step, "tinyshakespeare")
                outcome[rel] = "needs tinyshakespeare"
            continue
        dataset = step["dataset"]
        if dataset in RESOURCES and dataset not in have_data:
            assert_offline_message(step, dataset)
            outcome[rel] = f"needs {dataset}"
        elif rel in outcome:  # its preparation could not run offline: the spec names its file
            assert step["rc"] == 2 and "speeches.csv" in step["err"], step["err"][-1500:]
        elif step["argv"][0] == "finetune" and "mnist" not in have_data:
            assert step["rc"] == 2 and "mnist_pretrain" in step["err"], step["err"][-1500:]
            outcome[rel] = "needs mnist (its base)"
        else:  # digits, co2, sunspots, files a script made, or the data given
            assert_trained(repo, step)
            outcome[rel] = "trained"
    return outcome


def test_examples_offline_train_or_name_their_dataset(tmp_path):
    repo = clean_copy(tmp_path)
    results = run_steps(tmp_path, repo, plan(SPECS, None))
    outcome = check(repo, results, have_data=set())
    assert outcome["examples/digits_cnn.yaml"] == "trained"
    assert outcome["examples/timeseries/co2_lstm.yaml forecast"] == "ran"
    assert outcome["examples/timeseries/sunspots_lstm.yaml"] == "trained"
    assert outcome["examples/finetune_digits/scratch.yaml"] == "trained"
    assert outcome["examples/shakespeare/char_lstm.yaml"] == "needs tinyshakespeare"
    assert outcome["examples/cifar10_resnet.yaml"] == "needs cifar10"
    assert outcome["examples/mnist_cnn_a.yaml"] == "needs mnist"
    assert outcome["examples/text_classifier.yaml"] == "needs imdb"


@pytest.mark.slow  # about a minute; the offline test covers the same commands without data
def test_examples_train_with_data_dir(tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    needs_data = [
        rel
        for rel in SPECS
        if spec_of(rel).data.dataset in RESOURCES
        or rel in PREPARE
        or spec_of(rel).finetune is not None
    ]
    repo = clean_copy(tmp_path)
    data_dir = str(SHARED_DATA)  # holds mnist/ and tinyshakespeare/: found as DIR/<dataset>
    results = run_steps(tmp_path, repo, plan(needs_data, data_dir))
    outcome = check(repo, results, have_data={"mnist", "tinyshakespeare"})
    assert outcome["examples/shakespeare/word_lstm.yaml"] == "trained"
    assert outcome["examples/shakespeare/char_lstm.yaml generate"] == "ran"
    assert outcome["examples/text_classification/plays_bigru.yaml"] == "trained"
    assert outcome["examples/finetune_digits/finetune.yaml"] == "trained"
    assert outcome["examples/cifar10_lenet.yaml"] == "needs cifar10"


def test_no_command_a_user_runs_points_into_the_workspace():
    """README, docs and examples name datasets (or --data-dir DIR), never ../shared."""
    found = []
    for top in USER_TEXT:
        paths = [ROOT / top] if (ROOT / top).is_file() else (ROOT / top).rglob("*")
        for path in paths:
            if path.suffix in (".md", ".yaml", ".py", ".txt") and path.is_file():
                text = path.read_text(encoding="utf-8")
                found += [f"{path.relative_to(ROOT)}" for m in re.finditer(r"\.\./shared", text)]
                if re.search(r"""["']shared["']""", text):
                    found.append(f"{path.relative_to(ROOT)} (a 'shared' path part)")
    assert not found, found


def commands(markdown: str) -> list[str]:
    """The command lines of a Markdown file's console/bash blocks (prompts and comments off)."""
    lines = []
    for block in re.findall(r"```(?:console|bash|sh|shell)\n(.*?)```", markdown, re.S):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ").split("  #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def test_readme_and_docs_commands_name_files_that_exist():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    docs += sorted(EXAMPLES.rglob("README*.md"))
    checked = 0
    for doc in docs:
        for line in commands(doc.read_text(encoding="utf-8")):
            for name in re.findall(r"examples/[\w./-]+\.(?:yaml|py)", line):
                assert (ROOT / name).is_file(), f"{doc.name}: `{line}` names a missing {name}"
                checked += 1
    assert checked >= 10  # the README alone runs a dozen example files
