"""The contract every study store keeps, the records it returns and the errors it raises.

A store holds studies; a study holds trials (one per distinct cell) and named
artifacts (e.g. each round's fitted predictor). The rest of the project talks
to a store only through :class:`StudyStorage`, so a backend is any class with
these methods that keeps the rules below. Two backends ship:
:class:`pnas.storage.sqlite.StudyStore` (one SQLite file, for runs that must
survive a kill and be read elsewhere) and
:class:`pnas.storage.memory.MemoryStore` (dicts in this process, for tests).

What is immutable once written:

* A study's ``id`` and ``name``; its ``created`` time. Only its ``config``
  (:meth:`~StudyStorage.update_study_config`, a study grown on resume) and
  its ``state`` (:meth:`~StudyStorage.set_study_state`) change.
* A trial's ``number``, ``cell`` and ``round``, given by the first
  :meth:`~StudyStorage.add_proposals` that names the cell.
* A finished trial (:attr:`TrialState.DONE`, :attr:`TrialState.FAILED` or
  :attr:`TrialState.PRUNED`):
  :meth:`~StudyStorage.mark_running` and :meth:`~StudyStorage.record_result`
  leave it as it is. The exceptions concern failures that say nothing about
  the cell: :meth:`~StudyStorage.retry_trial` reopens a trial that failed only
  because the machinery failed (``extra == {"failure": "machinery", ...}``),
  and :meth:`~StudyStorage.mark_machinery_failure` gives a failed trial that
  mark (a study stopped because its children all failed the same way).

A trial goes ``pending -> running -> done | failed | pruned``; a pending or
running trial left by a killed process is simply trained again on resume. A
pruned trial was stopped early by the study's pruner: it is as final as a done
one, and its ``extra`` keeps the step and value it reached
(``{"pruned": {"step": s, "value": v}}``).

Every write is durable when the call returns (the SQLite store commits one
transaction per call), and a write that would change nothing writes nothing.

Errors: :class:`StoreError` for anything a user can act on (a bad path, a
damaged or foreign file, a duplicate study name), :class:`StudyLocked` when
another live process drives the study, :class:`StoreReadOnly` for a write to
a store opened for reading or on read-only media. Calling a method of a
closed store is a programming error (the SQLite store raises
``sqlite3.ProgrammingError``, the memory store ``RuntimeError``).

Concurrency is each backend's to state; see their class docstrings. In short:
one store object may be shared by the threads of a process (each call holds
the store's lock); the SQLite store also lets many processes read a file
while one process drives each study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class StoreError(Exception):
    """A problem with the storage a user can act on (bad path, not a study file, ...)."""


class StudyLocked(StoreError):
    """Another live process is driving the study."""


class StoreReadOnly(StoreError):
    """A write was asked of a store that cannot be written (read-only file, folder or medium)."""


class TrialState(StrEnum):
    """A trial's status; the values are the strings stored in study files.

    A ``str`` enum: ``TrialState.DONE == "done"``, it hashes, prints and
    serialises to JSON as ``"done"``, so code and files that use the plain
    strings read the same.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    PRUNED = "pruned"
    """Stopped early by the study's pruner: final, never a result (see :mod:`pnas.pruners`)."""

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATES


OPEN_STATES = (TrialState.PENDING, TrialState.RUNNING)
FINISHED_STATES = (TrialState.DONE, TrialState.FAILED, TrialState.PRUNED)
MACHINERY_FAILURE = "machinery"
"""``extra["failure"]`` of a trial that failed because its worker died or its node left."""


@dataclass(frozen=True)
class TrialRecord:
    """An immutable view of one candidate of a study."""

    number: int
    cell: str
    round: int
    status: TrialState
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
            "status": str(self.status),
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


def finished_status(status: str) -> TrialState:
    """The state a result may set: done, failed or pruned; anything else is a ValueError."""
    try:
        state = TrialState(status)
    except ValueError:
        state = None
    if state is None or not state.finished:
        raise ValueError(f"a result's status is 'done', 'failed' or 'pruned', got {status!r}")
    return state


@runtime_checkable
class StudyStorage(Protocol):
    """What the project asks of a study store. Methods take a study by its ``id``.

    Reads return fresh values (records are frozen; their dicts are copies), so
    a caller may keep them. A cell without a trial reads as None and is left
    alone by the trial writes. Study ids come from :meth:`create_study` or
    :meth:`get_study`; an id no study has reads as nothing, and what a write
    to it leaves is undefined.
    """

    path: Path | None
    """The file behind the store, or None when it lives in memory."""

    read_only: bool
    """True when every write raises :class:`StoreReadOnly` (a reader, or read-only media)."""

    # --- studies ------------------------------------------------------------
    def get_study(self, name: str) -> StudyInfo | None:
        """The study named ``name``, or None."""
        ...

    def list_studies(self) -> list[StudyInfo]:
        """Every study, in creation order."""
        ...

    def create_study(self, name: str, config: dict[str, Any]) -> StudyInfo:
        """Create a study in state ``running``; a name already taken is a :class:`StoreError`.

        ``config`` must be JSON (it is stored as JSON and read back as a new dict).
        """
        ...

    def update_study_config(self, study_id: int, config: dict[str, Any]) -> None:
        """Replace the study's config (a study grown on resume); nothing is written if it is the same."""
        ...

    def set_study_state(self, study_id: int, state: str) -> None:
        """Set the study's state (``running``, ``complete``, ...); nothing is written if it already is."""
        ...

    # --- the driver's lock --------------------------------------------------
    def lock_study(self, study_id: int, name: str) -> None:
        """Say that this store's process drives the study, or raise :class:`StudyLocked`.

        Taking a lock this store already holds does nothing. The lock dies with
        its process, so a killed driver never blocks its resume. A store that
        nobody else can reach (memory) or write (read-only) refuses no one.
        """
        ...

    def is_driven(self, study_id: int) -> bool:
        """Whether a live process holds the study's lock (so a ``running`` study really runs)."""
        ...

    def release_locks(self) -> None:
        """Drop every lock this store holds."""
        ...

    # --- trials -------------------------------------------------------------
    def add_proposals(self, study_id: int, proposals: Sequence[tuple[str, int, float | None]]) -> None:
        """Record each ``(cell, round, predicted)`` as a pending trial, once per cell.

        Trials are numbered 0, 1, 2, ... in the order their cell was first
        proposed; a cell that already has a trial (in the store or earlier in
        ``proposals``) keeps it unchanged. Nothing is written when every cell
        is known (a replayed round).
        """
        ...

    def mark_running(self, study_id: int, cell: str, worker: str) -> None:
        """A pending (or running) trial starts on ``worker`` now; a finished one is left as it is."""
        ...

    def retry_trial(self, study_id: int, cell: str) -> None:
        """Make a trial pending again only if it failed because the machinery failed.

        Its status becomes pending and its error, finish time and extra are
        cleared; any other trial (done, failed by the child, open) is left as it is.
        """
        ...

    def mark_machinery_failure(self, study_id: int, cell: str) -> None:
        """Mark a failed trial's failure as the machinery's (its error kept), so that a resume trains it
        again; any other trial is left as it is."""
        ...

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
        """Finish an open trial as ``done``, ``failed`` or ``pruned`` (any other status is a ValueError).

        ``metrics`` gives accuracy, report_accuracy, params, mult_adds,
        examples, seconds and ``extra`` (a JSON dict); ``worker`` and
        ``started`` keep the stored values when None; ``finished`` defaults to
        now. A finished trial is never overwritten: recording it again does
        nothing.
        """
        ...

    def trial(self, study_id: int, cell: str) -> TrialRecord | None:
        """The trial of ``cell``, or None."""
        ...

    def trials(self, study_id: int, status: str | None = None) -> list[TrialRecord]:
        """The study's trials in number order, only those in ``status`` if given (a ValueError if no state)."""
        ...

    # --- artifacts ------------------------------------------------------------
    def save_artifact(self, study_id: int, name: str, data: bytes, meta: dict[str, Any]) -> None:
        """Store or replace the named blob and its JSON meta; nothing is written if they are the same."""
        ...

    def load_artifact(self, study_id: int, name: str) -> tuple[bytes, dict[str, Any]] | None:
        """``(data, meta)`` as saved, or None."""
        ...

    def close(self) -> None:
        """Release the locks and the file; the store is not used afterwards."""
        ...
