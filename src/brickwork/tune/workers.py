"""Several workers, one study: together they start exactly the trials the study still needs.

Optuna's `MaxTrialsCallback` counts the study's trials after each one ends, but the next trial
is created a moment later; workers that finish at the same time (as equally fast machines do)
all see room for one more and start one each, so a shared study ends with extra trials. Here
the count and the creation of the next trial happen under one lock that every worker of the
storage shares: a worker takes it before counting and gives it back only once its new trial
exists (as the first thing the objective does), so no two workers fill the same slot.

The lock is a PostgreSQL advisory lock, a MySQL named lock, or, for SQLite, an flock on a file
beside the database (`DB.brickwork-lock`); in memory there is one worker and nothing to share.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from optuna.trial import TrialState

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


class TrialGate:
    """Let a worker start a trial only while the study holds fewer than `target` trials that are
    finished or running. Pass it to `study.optimize` as a callback and call `started()` first in
    the objective."""

    def __init__(self, lock, target: int):
        self.lock, self.target, self.held = lock, target, False

    def room(self, study) -> bool:
        """Before the first trial: True (keeping the lock until that trial starts) if one fits."""
        self.lock.acquire()
        self.held = True
        if len(study.get_trials(deepcopy=False, states=COUNTED)) < self.target:
            return True
        self.started()
        return False

    def started(self) -> None:
        """The new trial exists now (it counts as running): let the other workers count."""
        if self.held:
            self.held = False
            self.lock.release()

    def __call__(self, study, trial) -> None:
        if not self.room(study):
            study.stop()

    def close(self) -> None:
        self.started()
        self.lock.close()


def trial_gate(storage, study_name: str, target: int) -> TrialGate:
    """The gate for `study_name` in `storage` (None: in memory; else an Optuna RDBStorage)."""
    if storage is None:
        return TrialGate(_NoLock(), target)
    engine = storage.engine
    key = f"brickwork-tune:{study_name}"
    if engine.dialect.name == "postgresql":
        return TrialGate(_SQLLock(engine, "pg_advisory_lock", "pg_advisory_unlock", key), target)
    if engine.dialect.name in ("mysql", "mariadb"):
        return TrialGate(_SQLLock(engine, "GET_LOCK", "RELEASE_LOCK", key), target)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        path = Path(database)
        return TrialGate(_FileLock(path.with_name(path.name + ".brickwork-lock")), target)
    return TrialGate(_NoLock(), target)


class _NoLock:
    def acquire(self) -> None: ...
    def release(self) -> None: ...
    def close(self) -> None: ...


class _SQLLock:
    """A lock held by one database session: PostgreSQL advisory locks, MySQL GET_LOCK."""

    def __init__(self, engine, take: str, give: str, key: str):
        from sqlalchemy import text

        self.connection = engine.connect()
        if take == "GET_LOCK":
            self.take, self.give = text("SELECT GET_LOCK(:k, -1)"), text("SELECT RELEASE_LOCK(:k)")
            self.key = key[:64]
        else:  # PostgreSQL's advisory locks take a 64-bit number
            self.take, self.give = text(f"SELECT {take}(:k)"), text(f"SELECT {give}(:k)")
            self.key = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)

    def acquire(self) -> None:
        self.connection.execute(self.take, {"k": self.key})
        self.connection.commit()  # the lock belongs to the session, not to this transaction

    def release(self) -> None:
        self.connection.execute(self.give, {"k": self.key})
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


class _FileLock:
    def __init__(self, path: Path):
        import fcntl  # POSIX; imported here so the module still loads elsewhere

        self.flock = fcntl.flock
        self.exclusive, self.unlock = fcntl.LOCK_EX, fcntl.LOCK_UN
        self.file = open(path, "a")  # noqa: SIM115 - kept open for the worker's life

    def acquire(self) -> None:
        self.flock(self.file, self.exclusive)

    def release(self) -> None:
        self.flock(self.file, self.unlock)

    def close(self) -> None:
        self.file.close()
