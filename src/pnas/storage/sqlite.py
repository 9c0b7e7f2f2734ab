"""The study store: one SQLite file (WAL) per storage, many studies per file.

Rules, which every reader (CLI, reports, a notebook on another machine) relies on:

* One row per distinct cell per study (``UNIQUE(study_id, cell)``): a cell is
  never trained twice in a study.
* A trial goes ``pending -> running -> done | failed``; ``done`` and ``failed``
  rows are immutable. ``pending``/``running`` rows left by a killed process are
  simply evaluated again on resume.
* Every write is its own transaction, committed before the call returns, so a
  kill loses at most the child that was being trained.
* Nothing is pickled: configs and metrics are JSON, tensors are safetensors
  bytes. Opening a shared study file never runs code from it.
* Only one process drives a study at a time (an OS file lock that dies with its
  process, see :meth:`StudyStore.lock_study`); readers never need the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnas.faults import fault_point

SCHEMA_VERSION = 1
MARKER = "pnas-study-store"


class StoreError(Exception):
    """A problem with the storage a user can act on (bad path, not a study file, ...)."""


class StudyLocked(StoreError):
    """Another live process is driving the study."""


@dataclass(frozen=True)
class TrialRecord:
    """An immutable view of one candidate of a study."""

    number: int
    cell: str
    round: int
    status: str
    predicted: float | None = None
    accuracy: float | None = None
    report_accuracy: float | None = None
    params: int | None = None
    mult_adds: int | None = None
    examples: int | None = None
    seconds: float | None = None
    worker: str | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number, "cell": self.cell, "round": self.round, "status": self.status,
            "predicted": self.predicted, "accuracy": self.accuracy, "report_accuracy": self.report_accuracy,
            "params": self.params, "mult_adds": self.mult_adds, "examples": self.examples,
            "seconds": self.seconds, "worker": self.worker, "error": self.error,
        }


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    config: dict[str, Any]
    state: str
    created: float


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'running',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    cell TEXT NOT NULL,
    round INTEGER NOT NULL,
    predicted REAL,
    status TEXT NOT NULL,
    accuracy REAL,
    report_accuracy REAL,
    params INTEGER,
    mult_adds INTEGER,
    examples INTEGER,
    seconds REAL,
    worker TEXT,
    error TEXT,
    started REAL,
    finished REAL,
    provenance TEXT,
    extra TEXT,
    UNIQUE (study_id, cell)
);
CREATE INDEX IF NOT EXISTS trials_by_round ON trials (study_id, round);
CREATE TABLE IF NOT EXISTS artifacts (
    study_id INTEGER NOT NULL REFERENCES studies(id),
    name TEXT NOT NULL,
    meta TEXT NOT NULL,
    data BLOB NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (study_id, name)
);
"""

_TRIAL_COLUMNS = (
    "number, cell, round, status, predicted, accuracy, report_accuracy, params, mult_adds, "
    "examples, seconds, worker, error, started, finished, provenance, extra"
)


def _trial_from_row(row: Sequence[Any]) -> TrialRecord:
    values = list(row)
    values[15] = json.loads(values[15]) if values[15] else {}
    values[16] = json.loads(values[16]) if values[16] else {}
    return TrialRecord(*values)


class StudyStore:
    """SQLite-backed storage. ``path=None`` or ``":memory:"`` keeps everything in memory."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> None:
        self.path = None if path in (None, ":memory:") else Path(path)
        if self.path is not None and not create and not self.path.exists():
            raise StoreError(f"no study file at {self.path}: run `pnas search` first, or pass --storage PATH")
        self._lock_file: Any = None
        self._locked: set[int] = set()
        if self.path is None:
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            self._db = self._open_file(self.path)
        self._init_schema()

    # --- opening ------------------------------------------------------------
    @staticmethod
    def _open_file(path: Path) -> sqlite3.Connection:
        if path.is_dir():
            raise StoreError(f"study storage {path} is a directory; give a file path such as {path / 'studies.db'}")
        if not path.parent.exists():
            raise StoreError(f"cannot create study storage {path}: folder {path.parent} does not exist")
        if not path.exists() and not os.access(path.parent, os.W_OK):
            raise StoreError(f"cannot create study storage {path}: folder {path.parent} is not writable")
        if path.exists():
            with open(path, "rb") as f:
                head = f.read(16)
            if head and head != b"SQLite format 3\x00":
                raise StoreError(f"{path} is not a pnas study file (not an SQLite database); choose another --storage")
        try:
            db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open study storage {path}: {exc}") from exc
        return db

    def _init_schema(self) -> None:
        try:
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a pnas study file ({exc}); choose another --storage") from exc
        if tables and "meta" not in tables:
            raise StoreError(f"{self.path} is an SQLite file but not a pnas study file; choose another --storage")
        if tables:
            marker = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if marker.get("marker") != MARKER:
                raise StoreError(f"{self.path} is an SQLite file but not a pnas study file; choose another --storage")
            if int(marker.get("schema", 0)) > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer pnas (schema {marker['schema']}); upgrade pnas")
            return
        with self._transaction() as db:
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('marker', ?), ('schema', ?)", (MARKER, str(SCHEMA_VERSION)))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on error, low-level errors turned into StoreError."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write study storage {self.path}: {exc}") from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write study storage {self.path}: {exc}") from exc

    def close(self) -> None:
        self.release_locks()
        self._db.close()

    # --- studies ------------------------------------------------------------
    def get_study(self, name: str) -> StudyInfo | None:
        row = self._db.execute("SELECT id, name, config, state, created FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return StudyInfo(row[0], row[1], json.loads(row[2]), row[3], row[4])

    def list_studies(self) -> list[StudyInfo]:
        rows = self._db.execute("SELECT id, name, config, state, created FROM studies ORDER BY id").fetchall()
        return [StudyInfo(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def create_study(self, name: str, config: dict[str, Any]) -> StudyInfo:
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO studies (name, config, state, created) VALUES (?, ?, 'running', ?)",
                    (name, json.dumps(config, sort_keys=True), time.time()),
                )
        except sqlite3.IntegrityError:
            raise StoreError(f"study {name!r} was just created by another process; run the command again") from None
        info = self.get_study(name)
        assert info is not None
        return info

    def update_study_config(self, study_id: int, config: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute("UPDATE studies SET config = ? WHERE id = ?", (json.dumps(config, sort_keys=True), study_id))

    def set_study_state(self, study_id: int, state: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE studies SET state = ? WHERE id = ?", (state, study_id))

    # --- locking ------------------------------------------------------------
    def lock_study(self, study_id: int, name: str) -> None:
        """Take the OS lock that says this process drives the study.

        The lock is a byte-range lock on ``<storage>.lock``; the kernel drops it
        when the process dies, so a killed run never blocks its resume.
        """
        if self.path is None or study_id in self._locked:
            return
        if self._lock_file is None:
            self._lock_file = open(f"{self.path}.lock", "a+b")
        try:
            fcntl.lockf(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, study_id, os.SEEK_SET)
        except OSError:
            raise StudyLocked(
                f"study {name!r} in {self.path} is being driven by another running process; "
                "wait for it to finish or stop it (a killed process releases its lock by itself)"
            ) from None
        self._locked.add(study_id)

    def is_driven(self, study_id: int) -> bool:
        """Whether some live process holds the study's lock (so "running" really runs)."""
        if self.path is None or study_id in self._locked:
            return study_id in self._locked
        if not Path(f"{self.path}.lock").exists():
            return False
        # Closing a descriptor drops every lock this process holds on the file, so reuse ours if we have one.
        handle = self._lock_file or open(f"{self.path}.lock", "a+b")
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, study_id, os.SEEK_SET)
        except OSError:
            return True
        else:
            fcntl.lockf(handle, fcntl.LOCK_UN, 1, study_id, os.SEEK_SET)
            return False
        finally:
            if handle is not self._lock_file:
                handle.close()

    def release_locks(self) -> None:
        if self._lock_file is not None:
            for study_id in self._locked:
                fcntl.lockf(self._lock_file, fcntl.LOCK_UN, 1, study_id, os.SEEK_SET)
            self._lock_file.close()
            self._lock_file = None
        self._locked.clear()

    # --- trials -------------------------------------------------------------
    def add_proposals(self, study_id: int, proposals: Sequence[tuple[str, int, float | None]]) -> None:
        """Record (cell, round, predicted) as pending, keeping any existing row of the same cell."""
        with self._transaction() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM trials WHERE study_id = ?", (study_id,)).fetchone()
            for cell, round_, predicted in proposals:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO trials (study_id, number, cell, round, predicted, status) "
                    "VALUES (?, ?, ?, ?, ?, 'pending')",
                    (study_id, count, cell, round_, predicted),
                )
                count += cursor.rowcount

    def mark_running(self, study_id: int, cell: str, worker: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = 'running', worker = ?, started = ? "
                "WHERE study_id = ? AND cell = ? AND status IN ('pending', 'running')",
                (worker, time.time(), study_id, cell),
            )

    def record_result(
        self,
        study_id: int,
        cell: str,
        *,
        status: str,
        metrics: dict[str, Any] | None = None,
        error: str | None = None,
        worker: str | None = None,
        started: float | None = None,
        finished: float | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """Finish a trial (``done`` or ``failed``); a finished trial is never overwritten."""
        if status not in ("done", "failed"):
            raise ValueError(f"a result's status is 'done' or 'failed', got {status!r}")
        m = dict(metrics or {})
        extra = m.pop("extra", None) or {}
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = ?, accuracy = ?, report_accuracy = ?, params = ?, mult_adds = ?, "
                "examples = ?, seconds = ?, worker = COALESCE(?, worker), error = ?, started = COALESCE(?, started), "
                "finished = ?, provenance = ?, extra = ? "
                "WHERE study_id = ? AND cell = ? AND status IN ('pending', 'running')",
                (
                    status, m.get("accuracy"), m.get("report_accuracy"), m.get("params"), m.get("mult_adds"),
                    m.get("examples"), m.get("seconds"), worker, error, started, finished or time.time(),
                    json.dumps(provenance or {}, sort_keys=True), json.dumps(extra, sort_keys=True),
                    study_id, cell,
                ),
            )
            fault_point("result_commit")

    def trial(self, study_id: int, cell: str) -> TrialRecord | None:
        row = self._db.execute(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study_id = ? AND cell = ?", (study_id, cell)
        ).fetchone()
        return _trial_from_row(row) if row else None

    def trials(self, study_id: int, status: str | None = None) -> list[TrialRecord]:
        query = f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study_id = ?"
        args: tuple[Any, ...] = (study_id,)
        if status is not None:
            query += " AND status = ?"
            args += (status,)
        return [_trial_from_row(r) for r in self._db.execute(query + " ORDER BY number", args)]

    # --- artifacts (e.g. each round's predictor) -----------------------------
    def save_artifact(self, study_id: int, name: str, data: bytes, meta: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO artifacts (study_id, name, meta, data, created) VALUES (?, ?, ?, ?, ?)",
                (study_id, name, json.dumps(meta, sort_keys=True), zlib.compress(data), time.time()),
            )

    def load_artifact(self, study_id: int, name: str) -> tuple[bytes, dict[str, Any]] | None:
        row = self._db.execute(
            "SELECT data, meta FROM artifacts WHERE study_id = ? AND name = ?", (study_id, name)
        ).fetchone()
        if row is None:
            return None
        return zlib.decompress(row[0]), json.loads(row[1])
