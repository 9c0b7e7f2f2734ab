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
  process, see :meth:`StudyStore.lock_study`), whatever path reaches the file;
  readers never need the lock.
* Readers (``create=False``) open the file read-only: they never write to it,
  so a study on read-only media, or another program's file opened by mistake,
  stays as it was. Only a writer creates a store, and it checks that an
  existing file is a pnas store before changing anything in it.
* Every low-level failure (a damaged file, a foreign table, a value that does
  not decode) reaches the caller as one :class:`StoreError` naming the file.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import sqlite3
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pnas.faults import fault_point

SCHEMA_VERSION = 1
MARKER = "pnas-study-store"


class StoreError(Exception):
    """A problem with the storage a user can act on (bad path, not a study file, ...)."""


class StudyLocked(StoreError):
    """Another live process is driving the study."""


class StoreReadOnly(StoreError):
    """A write was asked of a store that cannot be written (read-only file, folder or medium)."""


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
            "number": self.number,
            "cell": self.cell,
            "round": self.round,
            "status": self.status,
            "predicted": self.predicted,
            "accuracy": self.accuracy,
            "report_accuracy": self.report_accuracy,
            "params": self.params,
            "mult_adds": self.mult_adds,
            "examples": self.examples,
            "seconds": self.seconds,
            "worker": self.worker,
            "error": self.error,
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


_REQUIRED_COLUMNS = {
    "meta": {"key", "value"},
    "studies": {"id", "name", "config", "state", "created"},
    "trials": {"id", "study_id", *(c.strip() for c in _TRIAL_COLUMNS.split(","))},
    "artifacts": {"study_id", "name", "meta", "data", "created"},
}

_SQLITE_MAGIC = b"SQLite format 3\x00"
# Primary result codes of sqlite3 errors (``exc.sqlite_errorcode & 0xFF``).
_BUSY, _LOCKED, _READONLY, _CORRUPT, _NOTADB = 5, 6, 8, 11, 26


class _Damaged(Exception):
    """A stored value that does not decode; turned into a StoreError naming the file."""


def _json_object(text: Any, what: str, *, empty_ok: bool = False) -> dict[str, Any]:
    if empty_ok and not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise _Damaged(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise _Damaged(f"{what} is not a JSON object")
    return value


def _trial_from_row(row: Sequence[Any]) -> TrialRecord:
    values = list(row)
    what = f"trial {values[1]!r}"
    values[15] = _json_object(values[15], f"the provenance of {what}", empty_ok=True)
    values[16] = _json_object(values[16], f"the metrics of {what}", empty_ok=True)
    return TrialRecord(*values)


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    return _primary_code(exc) in (_BUSY, _LOCKED) or "locked" in str(exc)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _guarded(method: _Method) -> _Method:
    """Turn what SQLite, JSON or zlib raise about the file's contents into one StoreError naming the file."""

    @functools.wraps(method)
    def wrapper(self: StudyStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.ProgrammingError:  # a bug in the caller (e.g. a closed store), not the file
            raise
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from exc
        except _Damaged as exc:
            raise self._damaged(str(exc)) from None
        except zlib.error as exc:
            raise self._damaged(f"an artifact's data does not decompress ({exc})") from None

    return wrapper  # type: ignore[return-value]


class StudyStore:
    """SQLite-backed storage. ``path=None`` or ``":memory:"`` keeps everything in memory.

    ``create=True`` (a writer, what ``pnas search`` uses) creates the file if it
    is missing, or initialises an empty one; an existing file that neither it
    nor its folder lets us write is opened read-only, with :attr:`read_only`
    set, and every write then raises :class:`StoreReadOnly`. ``create=False``
    (a reader: reports, ``pnas status``) needs an existing store and opens it
    read-only, so it never changes the file nor leaves files beside it on
    read-only media.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> None:
        self.path = None if path in (None, ":memory:") else Path(path)
        self.read_only = False
        self._read_only_reason = ""
        self._lock_file: Any = None
        self._locked: set[int] = set()
        if self.path is None:
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._create_schema()
            return
        if not create and not self.path.exists():
            raise StoreError(f"no study file at {self.path}: run `pnas search` first, or pass --storage PATH")
        self._db = self._open_file(create)

    # --- opening ------------------------------------------------------------
    @_guarded
    def _open_file(self, create: bool) -> sqlite3.Connection:
        path = self.path
        assert path is not None
        if path.is_dir():
            raise StoreError(f"study storage {path} is a directory; give a file path such as {path / 'studies.db'}")
        exists = path.exists()
        if not exists:
            if not path.parent.exists():
                raise StoreError(f"cannot create study storage {path}: folder {path.parent} does not exist")
            if not os.access(path.parent, os.W_OK):
                raise StoreError(f"cannot create study storage {path}: folder {path.parent} is not writable")
            head = b""
        else:
            head = self._read_head()
            if head and not head.startswith(_SQLITE_MAGIC):
                raise StoreError(f"{path} is not a pnas study file (not an SQLite database); choose another --storage")
        real = os.path.realpath(path)  # SQLite keeps -wal and -shm beside the real file
        writable = not exists or (os.access(real, os.W_OK) and os.access(os.path.dirname(real), os.W_OK))
        if create and writable:
            return self._open_writer()
        self.read_only = True
        self._read_only_reason = self._why_read_only() if create else ""
        db = self._open_reader(head)
        try:
            if not self._check_schema(db):
                raise StoreError(
                    f"{path} is empty, not a pnas study file; choose another --storage "
                    "(`pnas search` makes a store of an empty file)"
                )
        except BaseException:
            db.close()
            raise
        return db

    def _read_head(self) -> bytes:
        try:
            with open(self.path, "rb") as f:  # type: ignore[arg-type]
                return f.read(100)
        except OSError as exc:
            raise StoreError(f"cannot read study storage {self.path}: {exc.strerror or exc}") from None

    def _why_read_only(self) -> str:
        real = os.path.realpath(self.path)  # type: ignore[arg-type]
        try:
            if os.statvfs(real).f_flag & os.ST_RDONLY:
                return "read-only file system"
        except OSError:
            pass
        if not os.access(real, os.W_OK):
            return "the file is not writable"
        return f"its folder {os.path.dirname(real)} is not writable"

    def _open_writer(self) -> sqlite3.Connection:
        """Open read-write; check an existing file is a store before changing it, then create, then WAL."""
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open study storage {self.path}: {exc}") from exc
        try:
            self._db = db
            if not self._check_schema(db):  # a plain read first: a foreign file is refused untouched
                self._create_schema()
            self._enable_wal()
            db.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            db.close()
            raise
        return db

    def _open_reader(self, head: bytes) -> sqlite3.Connection:
        """Open read-only (``mode=ro``); a WAL file on read-only media with nothing beside it opens immutable."""
        uri = "file:" + urllib.parse.quote(os.path.abspath(self.path))  # type: ignore[arg-type]

        def connect(query: str) -> sqlite3.Connection:
            return sqlite3.connect(
                f"{uri}?{query}", uri=True, isolation_level=None, timeout=30.0, check_same_thread=False
            )

        db = connect("mode=ro")
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            db.close()
            if not self._immutable_is_safe(head):
                raise
            db = connect("mode=ro&immutable=1")
        return db

    def _immutable_is_safe(self, head: bytes) -> bool:
        """Nobody can change the file: a WAL file whose folder and itself are unwritable, with no -wal/-shm."""
        path = os.path.realpath(self.path)  # type: ignore[arg-type]
        in_wal_mode = len(head) >= 20 and head[18] == 2 and head[19] == 2
        return (
            in_wal_mode
            and not os.access(path, os.W_OK)
            and not os.access(os.path.dirname(path), os.W_OK)
            and not os.path.exists(path + "-wal")
            and not os.path.exists(path + "-shm")
        )

    def _enable_wal(self) -> None:
        """Switch to WAL (a no-op when it already is), retrying while another opener holds the file briefly."""
        if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            return
        deadline = time.monotonic() + 10.0
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _check_schema(self, db: sqlite3.Connection) -> bool:
        """True for a pnas store, False for an empty database; anything else is a StoreError."""
        objects = db.execute("SELECT name, type FROM sqlite_master").fetchall()
        if not objects:
            return False
        tables = {name for name, kind in objects if kind == "table"}
        if "meta" not in tables:
            raise StoreError(f"{self.path} is an SQLite file but not a pnas study file; choose another --storage")
        columns = self._columns(db, "meta")
        if not _REQUIRED_COLUMNS["meta"] <= columns:
            raise StoreError(
                f"{self.path} is an SQLite file but not a pnas study file (its meta table has columns "
                f"{', '.join(sorted(columns))}); choose another --storage"
            )
        marker = {str(k): v for k, v in db.execute("SELECT key, value FROM meta").fetchall()}
        if marker.get("marker") != MARKER:
            raise StoreError(f"{self.path} is an SQLite file but not a pnas study file; choose another --storage")
        try:
            schema = int(str(marker.get("schema")).strip())
        except ValueError:
            raise self._damaged(f"its schema version {marker.get('schema')!r} is not an integer") from None
        if schema > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer pnas (schema {schema}); upgrade pnas")
        missing = [t for t in ("studies", "trials", "artifacts") if t not in tables]
        if missing:
            raise self._damaged(f"table{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing")
        for table in ("studies", "trials", "artifacts"):
            lacking = _REQUIRED_COLUMNS[table] - self._columns(db, table)
            if lacking:
                raise self._damaged(
                    f"table {table} lacks column{'s' if len(lacking) > 1 else ''} {', '.join(sorted(lacking))}"
                )
        return True

    @staticmethod
    def _columns(db: sqlite3.Connection, table: str) -> set[str]:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}

    def _create_schema(self) -> None:
        """Create the tables and the marker in one transaction; whoever comes second finds them and checks them."""
        with self._transaction() as db:
            if self._check_schema(db):
                return
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('marker', ?), ('schema', ?)", (MARKER, str(SCHEMA_VERSION)))

    # --- errors ---------------------------------------------------------------
    @property
    def _where(self) -> str:
        return str(self.path) if self.path is not None else "memory"

    def _damaged(self, what: str) -> StoreError:
        return StoreError(
            f"{self._where} is a damaged pnas study file: {what}; restore it from a copy or choose another --storage"
        )

    def _read_only_error(self, reason: str | None = None) -> StoreReadOnly:
        reason = reason or self._read_only_reason
        if self.read_only and not reason:
            return StoreReadOnly(
                f"study storage {self._where} was opened for reading only; open it with create=True to write to it"
            )
        return StoreReadOnly(
            f"study storage {self._where} is read-only ({reason}): copy it to a writable place to continue the study"
        )

    def _error(self, exc: sqlite3.DatabaseError) -> StoreError:
        code = _primary_code(exc)
        text = str(exc)
        if code == _READONLY or "readonly" in text:
            return self._read_only_error(self._read_only_reason or text)
        if code in (_CORRUPT, _NOTADB) or "malformed" in text or "not a database" in text:
            return StoreError(
                f"{self._where} is damaged or not a pnas study file ({text}); "
                "restore it from a copy or choose another --storage"
            )
        if _is_busy(exc):
            return StoreError(
                f"study storage {self._where} is busy ({text}): another process kept it locked; run the command again"
            )
        return StoreError(f"cannot use study storage {self._where}: {text}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (a failed COMMIT included)."""
        if self.read_only:
            raise self._read_only_error()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def close(self) -> None:
        self.release_locks()
        self._db.close()

    # --- studies ------------------------------------------------------------
    @staticmethod
    def _study_from_row(row: Sequence[Any]) -> StudyInfo:
        return StudyInfo(row[0], row[1], _json_object(row[2], f"the config of study {row[1]!r}"), row[3], row[4])

    @_guarded
    def get_study(self, name: str) -> StudyInfo | None:
        row = self._db.execute(
            "SELECT id, name, config, state, created FROM studies WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else self._study_from_row(row)

    @_guarded
    def list_studies(self) -> list[StudyInfo]:
        rows = self._db.execute("SELECT id, name, config, state, created FROM studies ORDER BY id").fetchall()
        return [self._study_from_row(r) for r in rows]

    @_guarded
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

    @_guarded
    def update_study_config(self, study_id: int, config: dict[str, Any]) -> None:
        text = json.dumps(config, sort_keys=True)
        row = self._db.execute("SELECT config FROM studies WHERE id = ?", (study_id,)).fetchone()
        if row is not None and row[0] == text:
            return
        with self._transaction() as db:
            db.execute("UPDATE studies SET config = ? WHERE id = ?", (text, study_id))

    @_guarded
    def set_study_state(self, study_id: int, state: str) -> None:
        """Set the study's state; nothing is written when it already is ``state``."""
        row = self._db.execute("SELECT state FROM studies WHERE id = ?", (study_id,)).fetchone()
        if row is not None and row[0] == state:
            return
        with self._transaction() as db:
            db.execute("UPDATE studies SET state = ? WHERE id = ?", (state, study_id))

    # --- locking ------------------------------------------------------------
    def _lock_path(self) -> str:
        """One lock file per study file, whichever path (symbolic links included) reaches it."""
        return os.path.realpath(self.path) + ".lock"  # type: ignore[arg-type]

    def lock_study(self, study_id: int, name: str) -> None:
        """Take the OS lock that says this process drives the study.

        The lock is a byte-range lock on ``<storage>.lock`` beside the real file;
        the kernel drops it when the process dies, so a killed run never blocks
        its resume. A read-only store takes no lock: nobody can write through it.
        """
        if self.path is None or self.read_only or study_id in self._locked:
            return
        if self._lock_file is None:
            try:
                self._lock_file = open(self._lock_path(), "a+b")
            except OSError as exc:
                raise StoreError(f"cannot create the lock file {self._lock_path()}: {exc.strerror or exc}") from None
        try:
            fcntl.lockf(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, study_id, os.SEEK_SET)
        except OSError:
            raise StudyLocked(
                f"study {name!r} in {self.path} is being driven by another running process; "
                "wait for it to finish or stop it (a killed process releases its lock by itself)"
            ) from None
        self._locked.add(study_id)

    def is_driven(self, study_id: int) -> bool:
        """Whether some live process holds the study's lock (so "running" really runs).

        Creates nothing: without a lock file nobody drives the study; with one, a
        shared lock on a read-only handle conflicts with the driver's exclusive one.
        """
        if self.path is None or study_id in self._locked:
            return study_id in self._locked
        # Closing a descriptor drops every lock this process holds on the file, so reuse ours if we have one.
        handle = self._lock_file
        if handle is None:
            try:
                handle = open(self._lock_path(), "rb")
            except OSError:  # no lock file (nobody ever drove it from here), or one we may not read
                return False
        try:
            fcntl.lockf(handle, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, study_id, os.SEEK_SET)
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
    @_guarded
    def add_proposals(self, study_id: int, proposals: Sequence[tuple[str, int, float | None]]) -> None:
        """Record (cell, round, predicted) as pending, keeping any existing row of the same cell.

        Nothing is written when every cell already has a row (a replayed round).
        """
        known = "SELECT 1 FROM trials WHERE study_id = ? AND cell = ?"
        if all(self._db.execute(known, (study_id, cell)).fetchone() for cell, _, _ in proposals):
            return
        with self._transaction() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM trials WHERE study_id = ?", (study_id,)).fetchone()
            for cell, round_, predicted in proposals:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO trials (study_id, number, cell, round, predicted, status) "
                    "VALUES (?, ?, ?, ?, ?, 'pending')",
                    (study_id, count, cell, round_, predicted),
                )
                count += cursor.rowcount

    @_guarded
    def mark_running(self, study_id: int, cell: str, worker: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = 'running', worker = ?, started = ? "
                "WHERE study_id = ? AND cell = ? AND status IN ('pending', 'running')",
                (worker, time.time(), study_id, cell),
            )

    @_guarded
    def retry_trial(self, study_id: int, cell: str) -> None:
        """Make a trial that failed only because the machinery failed pending again.

        The one exception to "finished rows are immutable": such a failure (``extra.failure ==
        "machinery"``: its worker died, its node left) says nothing about the cell.
        """
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = 'pending', error = NULL, finished = NULL, extra = NULL "
                "WHERE study_id = ? AND cell = ? AND status = 'failed' "
                "AND json_extract(extra, '$.failure') = 'machinery'",
                (study_id, cell),
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
                    status,
                    m.get("accuracy"),
                    m.get("report_accuracy"),
                    m.get("params"),
                    m.get("mult_adds"),
                    m.get("examples"),
                    m.get("seconds"),
                    worker,
                    error,
                    started,
                    finished or time.time(),
                    json.dumps(provenance or {}, sort_keys=True),
                    json.dumps(extra, sort_keys=True),
                    study_id,
                    cell,
                ),
            )
            fault_point("result_commit")

    @_guarded
    def trial(self, study_id: int, cell: str) -> TrialRecord | None:
        row = self._db.execute(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study_id = ? AND cell = ?", (study_id, cell)
        ).fetchone()
        return _trial_from_row(row) if row else None

    @_guarded
    def trials(self, study_id: int, status: str | None = None) -> list[TrialRecord]:
        query = f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study_id = ?"
        args: tuple[Any, ...] = (study_id,)
        if status is not None:
            query += " AND status = ?"
            args += (status,)
        return [_trial_from_row(r) for r in self._db.execute(query + " ORDER BY number", args).fetchall()]

    # --- artifacts (e.g. each round's predictor) -----------------------------
    @_guarded
    def save_artifact(self, study_id: int, name: str, data: bytes, meta: dict[str, Any]) -> None:
        """Store (or replace) a named blob; nothing is written when the same blob and meta are stored."""
        packed, meta_text = zlib.compress(data), json.dumps(meta, sort_keys=True)
        row = self._db.execute(
            "SELECT data, meta FROM artifacts WHERE study_id = ? AND name = ?", (study_id, name)
        ).fetchone()
        if row is not None and bytes(row[0]) == packed and row[1] == meta_text:
            return
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO artifacts (study_id, name, meta, data, created) VALUES (?, ?, ?, ?, ?)",
                (study_id, name, meta_text, packed, time.time()),
            )

    @_guarded
    def load_artifact(self, study_id: int, name: str) -> tuple[bytes, dict[str, Any]] | None:
        row = self._db.execute(
            "SELECT data, meta FROM artifacts WHERE study_id = ? AND name = ?", (study_id, name)
        ).fetchone()
        if row is None:
            return None
        if not isinstance(row[0], bytes):
            raise _Damaged(f"the data of artifact {name!r} is not a blob")
        return zlib.decompress(row[0]), _json_object(row[1], f"the meta of artifact {name!r}")
