"""The study store: one SQLite file (WAL) per storage, many studies per file.

It keeps the contract of :class:`pnas.storage.base.StudyStorage`. How, and
what else every reader (CLI, reports, a notebook on another machine) relies on:

* One row per distinct cell per study (``UNIQUE(study_id, cell)``): a cell is
  never trained twice in a study.
* A trial goes ``pending -> running -> done | failed | pruned``; finished
  rows are immutable. ``pending``/``running`` rows left by a killed process are
  simply evaluated again on resume.
* Every write is its own transaction, committed before the call returns, so a
  kill loses at most the child that was being trained.
* Nothing is pickled: configs and metrics are JSON, tensors are safetensors
  bytes. Opening a shared study file never runs code from it.
* Only one process drives a study at a time (an OS file lock that dies with its
  process, see :meth:`StudyStore.lock_study` and :mod:`pnas.storage.locking`),
  whatever path reaches the file; readers never need the lock.
* Readers (``create=False``) open the file read-only: they never write to it,
  so a study on read-only media, or another program's file opened by mistake,
  stays as it was. Only a writer creates a store, and it checks that an
  existing file is a pnas store before changing anything in it.
* Readers leave no file beside the study either. A live WAL connection always
  keeps the ``-wal`` file, so a WAL store with no ``-wal`` beside it is one
  nobody has open: a reader opens it ``immutable`` (no ``-wal``/``-shm`` of its
  own) while holding SQLite's shared lock on it, and switches to a plain
  read-only connection as soon as a ``-wal`` appears (a writer started), so it
  sees that writer's commits and never a half-written file. With a ``-wal``
  present (a search is running, or one was killed) it opens ``mode=ro`` and
  shares the writer's files, seeing each commit.
* One store object may be shared by threads: each call holds the store's
  lock. Many processes may read a file while one writes; writers wait for
  each other (transactions, ``BEGIN IMMEDIATE``, 30 s busy timeout).
* Every low-level failure (a damaged file, a foreign table, a value that does
  not decode) reaches the caller as one :class:`StoreError` naming the file.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pnas.checkpoints import checkpoint
from pnas.storage.base import (
    MACHINERY_FAILURE,
    OPEN_STATES,
    StoreError,
    StoreReadOnly,
    StudyInfo,
    StudyLocked,
    TrialRecord,
    TrialState,
    finished_status,
)
from pnas.storage.locking import STUDY_FILES, STUDY_LOCKS, FileKey, StudyClaim

# StudyClaim stays importable from here, where drivers and their tests have imported it.
__all__ = [
    "StoreError",
    "StoreReadOnly",
    "StudyClaim",
    "StudyInfo",
    "StudyLocked",
    "StudyStore",
    "TrialRecord",
    "TrialState",
]

SCHEMA_VERSION = 1
MARKER = "pnas-study-store"


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
    try:
        values[3] = TrialState(values[3])
    except ValueError:
        raise _Damaged(f"the status of {what} is {values[3]!r}") from None
    return TrialRecord(*values)


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    return _primary_code(exc) in (_BUSY, _LOCKED) or "locked" in str(exc)


_Method = TypeVar("_Method", bound=Callable[..., Any])
_T = TypeVar("_T")


def _guarded(method: _Method) -> _Method:
    """Hold the store's lock, and turn what SQLite, JSON or zlib raise about the file into one StoreError naming it."""

    @functools.wraps(method)
    def wrapper(self: StudyStore, *args: Any, **kwargs: Any) -> Any:
        try:
            with self._mutex:
                if self._immutable:
                    return self._read_stably(lambda: method(self, *args, **kwargs))
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
    read-only, so it never changes the file nor leaves files beside it.

    A store object may be shared by threads (each call holds its lock). Many
    processes may read a file while others write it; each study is driven by
    one store at a time (:meth:`lock_study`).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True) -> None:
        self.path = None if path in (None, ":memory:") else Path(path)
        self.read_only = False
        self._read_only_reason = ""
        self._mutex = threading.RLock()
        self._immutable = False  # a reader opened with immutable=1 (see _open_reader)
        self._pinned = False  # whether that reader holds SQLite's shared lock on the file
        self._memory_locks: set[int] = set()  # the studies a store in memory drives
        self._file: FileKey | None = None  # its file among this process's study files, while open
        if self.path is None:
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._create_schema()
            return
        if not create and not self.path.exists():
            raise StoreError(f"no study file at {self.path}: run `pnas search` first, or pass --storage PATH")
        self._file = STUDY_FILES.attach(self.path)  # before SQLite opens it: see pnas.storage.locking
        try:
            self._db = self._open_file(create)
            if self._file is None:  # a new file, made by SQLite just now
                self._file = STUDY_FILES.attach(self.path)
        except BaseException:
            self._forget_file()
            raise

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
        self._db = self._open_reader(head)
        try:
            if not self._read_stably(lambda: self._check_schema(self._db)):
                raise StoreError(
                    f"{path} holds no study yet (an empty file: a search starting there has not stored its "
                    "study yet, or the file is not a pnas study file); try again once it has, or choose another "
                    "--storage"
                )
        except BaseException:
            self._db.close()
            self._unpin()
            raise
        return self._db

    def _read_head(self) -> bytes:
        try:
            with open(self.path, "rb") as f:  # type: ignore[arg-type]
                head: bytes = f.read(100)
                return head
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

    def _connect_reader(self, query: str) -> sqlite3.Connection:
        uri = "file:" + urllib.parse.quote(os.path.abspath(self.path))  # type: ignore[arg-type]
        return sqlite3.connect(f"{uri}?{query}", uri=True, isolation_level=None, timeout=30.0, check_same_thread=False)

    def _wal_path(self) -> str:
        return os.path.realpath(self.path) + "-wal"  # type: ignore[arg-type]

    def _open_reader(self, head: bytes) -> sqlite3.Connection:
        """Open for reading only, creating no file beside the store.

        A WAL store with no ``-wal`` beside it is open nowhere (a live WAL
        connection always keeps that file), so it opens ``immutable``: a
        ``mode=ro`` connection would create a ``-wal`` and a ``-shm`` that it
        cannot remove. While it is so, the reader holds SQLite's shared lock
        on the file (see :meth:`pnas.storage.locking.StudyFiles.pin`): a writer may still open it and
        commit (to its ``-wal``, which the reader then notices), but cannot
        remove that ``-wal`` again nor write the file in rollback mode.
        Otherwise (a ``-wal`` is there, or the store is in rollback mode,
        which creates nothing) it opens ``mode=ro`` and sees every commit of a
        live writer.
        """
        in_wal_mode = len(head) >= 20 and head[18] == 2 and head[19] == 2
        if in_wal_mode and not os.path.exists(self._wal_path()):
            pinned = STUDY_FILES.pin(self._file)
            if not os.path.exists(self._wal_path()):  # checked again under the lock: still nobody has it open
                self._pinned, self._immutable = pinned, True
                return self._connect_reader("mode=ro&immutable=1")
            if pinned:
                STUDY_FILES.unpin(self._file)  # type: ignore[arg-type]
        return self._connect_reader("mode=ro")

    def _unpin(self) -> None:
        if self._pinned and self._file is not None:
            STUDY_FILES.unpin(self._file)
        self._pinned = False

    def _go_live(self) -> None:
        """A writer has opened the file of this immutable reader: read through a ``mode=ro`` connection from now on.

        The pin goes only once that connection has read, and so holds a shared
        lock of its own: in between, a closing writer could delete its files
        under it.
        """
        live = self._connect_reader("mode=ro")
        try:
            live.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except BaseException:
            live.close()
            raise
        self._db.close()
        self._db, self._immutable = live, False
        self._unpin()

    def _read_stably(self, read: Callable[[], _T]) -> _T:
        """Run a read; on an immutable connection, keep its answer only if no writer opened the file meanwhile.

        The file itself changes only through a writer's ``-wal`` (a checkpoint),
        which the reader's shared lock keeps in place once it exists; so a
        ``-wal`` absent before and after the read means the read saw a file
        nobody touched. Otherwise the read is made again through a live
        connection. Costs a stat before and after each read.
        """
        if self._immutable and os.path.exists(self._wal_path()):
            self._go_live()
        if not self._immutable:
            return read()
        try:
            result = read()
        except (sqlite3.DatabaseError, _Damaged, zlib.error):
            if not os.path.exists(self._wal_path()):
                raise
            self._go_live()
            return read()
        if os.path.exists(self._wal_path()):
            self._go_live()
            return read()
        return result

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
        with self._mutex:
            self.release_locks()
            self._db.close()
            self._unpin()
            self._forget_file()

    def _forget_file(self) -> None:
        """The last of this store's file: its connection is closed by now (see pnas.storage.locking)."""
        if self._file is not None:
            STUDY_FILES.detach(self._file)
            self._file = None

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
    def lock_study(self, study_id: int, name: str) -> None:
        """Take the OS lock that says this store drives the study.

        The lock is a byte-range lock on the study file itself (its inode,
        whatever path reaches it: see :mod:`pnas.storage.locking`); the kernel
        drops it when the process dies, so a killed run never blocks its
        resume. Another process, or another store of this process, is
        refused with :class:`StudyLocked` until this store releases it. A
        read-only store takes no lock: nobody can write through it. A store in
        memory only notes it (nobody else can reach it).
        """
        with self._mutex:
            if self.path is None:
                self._memory_locks.add(study_id)
            elif not self.read_only and self._file is not None:
                STUDY_FILES.take(self._file, STUDY_LOCKS + study_id, self, name, self.path)

    def is_driven(self, study_id: int) -> bool:
        """Whether some live process holds the study's lock (so "running" really runs); creates nothing."""
        if self.path is None:
            return study_id in self._memory_locks
        return self._file is not None and STUDY_FILES.is_held(self._file, STUDY_LOCKS + study_id)

    def release_locks(self) -> None:
        with self._mutex:
            self._memory_locks.clear()
            if self._file is not None:
                STUDY_FILES.release(self._file, self)

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
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (study_id, count, cell, round_, predicted, TrialState.PENDING),
                )
                count += cursor.rowcount

    @_guarded
    def mark_running(self, study_id: int, cell: str, worker: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = ?, worker = ?, started = ? "
                "WHERE study_id = ? AND cell = ? AND status IN (?, ?)",
                (TrialState.RUNNING, worker, time.time(), study_id, cell, *OPEN_STATES),
            )

    @_guarded
    def retry_trial(self, study_id: int, cell: str) -> None:
        """Make a trial that failed only because the machinery failed pending again.

        The one exception to "finished rows are immutable": such a failure (``extra.failure ==
        "machinery"``: its worker died, its node left) says nothing about the cell.
        """
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = ?, error = NULL, finished = NULL, extra = NULL "
                "WHERE study_id = ? AND cell = ? AND status = ? AND json_extract(extra, '$.failure') = ?",
                (TrialState.PENDING, study_id, cell, TrialState.FAILED, MACHINERY_FAILURE),
            )

    @_guarded
    def mark_machinery_failure(self, study_id: int, cell: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET extra = json_set(coalesce(extra, '{}'), '$.failure', ?) "
                "WHERE study_id = ? AND cell = ? AND status = ? "
                "AND coalesce(json_extract(extra, '$.failure'), '') != ?",
                (MACHINERY_FAILURE, study_id, cell, TrialState.FAILED, MACHINERY_FAILURE),
            )

    @_guarded
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
        """Finish a trial (``done``, ``failed`` or ``pruned``); a finished trial is never overwritten."""
        state = finished_status(status)
        m = dict(metrics or {})
        extra = m.pop("extra", None) or {}
        with self._transaction() as db:
            db.execute(
                "UPDATE trials SET status = ?, accuracy = ?, report_accuracy = ?, params = ?, mult_adds = ?, "
                "examples = ?, seconds = ?, worker = COALESCE(?, worker), error = ?, started = COALESCE(?, started), "
                "finished = ?, provenance = ?, extra = ? "
                "WHERE study_id = ? AND cell = ? AND status IN (?, ?)",
                (
                    state,
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
                    *OPEN_STATES,
                ),
            )
            checkpoint("result_commit")  # inside the transaction, before COMMIT

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
            args += (TrialState(status),)
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
