"""Tuning across machines: three `brickwork tune` workers share one study on a real PostgreSQL.

The server is a throwaway cluster (initdb + pg_ctl from Debian's `postgresql` package, which
.ci/run installs) on 127.0.0.1 at a free port; the test skips cleanly where there is no
PostgreSQL, no psycopg driver, or the server cannot start.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
import yaml

from tests.tune.test_tune import SPEC

pytest.importorskip("psycopg", reason="the PostgreSQL driver psycopg is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: root runs it as the `postgres` user."""
    if os.geteuid() != 0:
        return args
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    return ["runuser", "-u", "postgres", "--", *args]


@pytest.fixture(scope="module")
def postgres_url():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    bin_dir = Path(found[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="brickwork-pg-"))  # not under root's private tmp
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()

    def run(*args):
        command = _as_server_user([str(bin_dir / args[0]), *args[1:]])
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    steps = [
        ("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"),
        ("pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
         f"-h 127.0.0.1 -p {port} -k {folder} -F -c max_connections=50", "start"),
        ("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "tune"),
    ]  # fmt: skip
    for step in steps:
        done = run(*step)
        if done.returncode != 0:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            run("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip(f"PostgreSQL could not start ({step[0]}): {(done.stderr + log)[-300:]}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/tune"
    run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    shutil.rmtree(folder, ignore_errors=True)


def test_three_workers_complete_the_requested_trials_together(tmp_path, postgres_url):
    spec = {**SPEC, "train": {**SPEC["train"], "epochs": 2}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": src}
    command = [sys.executable, "-m", "brickwork", "tune", str(path), "--trials", "7"]
    command += ["--storage", postgres_url, "--study", "shared"]
    procs = [
        subprocess.Popen(
            [*command, "--seed", str(seed), "--out", str(tmp_path / f"out{seed}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in (1, 2, 3)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    assert sorted(t.number for t in study.trials) == list(range(7))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    ran = [sum(line.startswith("trial ") for line in out.splitlines()) for out, _ in outputs]
    assert sum(ran) == 7, ran
    for seed in (1, 2, 3):  # every worker writes the report of the whole study
        assert (tmp_path / f"out{seed}" / "best_spec.yaml").is_file()
