"""A study store in this process's memory: plain dicts, no SQLite, gone when the process ends.

It keeps the contract of :class:`pnas.storage.base.StudyStorage` exactly as
the SQLite store does (numbering, immutability, "nothing changes, nothing is
written"), so tests of code that uses a store can run on either. Values are
kept as JSON text, as in a study file: a config or metric that would not go
into a file does not go in here either, and every read returns new dicts.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pnas.checkpoints import checkpoint
from pnas.storage.base import (
    MACHINERY_FAILURE,
    OPEN_STATES,
    StoreError,
    StudyInfo,
    TrialRecord,
    TrialState,
    finished_status,
)


@dataclass
class _Study:
    id: int
    name: str
    config: str
    state: str
    created: float
    trials: dict[str, _Trial] = field(default_factory=dict)  # cell -> trial, in number order
    artifacts: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # name -> (data, meta)


@dataclass(frozen=True)
class _Trial:
    """A trial as stored: the record's fields with provenance and extra as JSON text."""

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
    provenance: str | None = None
    extra: str | None = None

    def record(self) -> TrialRecord:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values["provenance"] = json.loads(self.provenance) if self.provenance else {}
        values["extra"] = json.loads(self.extra) if self.extra else {}
        return TrialRecord(**values)


def _real(value: Any) -> float | None:
    return None if value is None else float(value)


def _integer(value: Any) -> Any:
    """What an INTEGER column keeps: a whole float becomes an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    @functools.wraps(method)
    def wrapper(self: MemoryStore, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            if self._studies is None:
                raise RuntimeError("the memory store is closed")
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class MemoryStore:
    """A :class:`~pnas.storage.base.StudyStorage` in memory, for tests and throwaway runs.

    One process only (nothing else can see it). One store may be shared by
    threads: every call holds the store's lock, so each call is atomic, as a
    transaction of the SQLite store is. Its lock on a study keeps nobody out
    (nobody else can reach it) but makes :meth:`is_driven` true until
    :meth:`release_locks` or :meth:`close`. After :meth:`close` every call
    raises ``RuntimeError``.
    """

    path = None
    read_only = False

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self._studies: dict[str, _Study] | None = {}  # by name, in creation order
        self._by_id: dict[int, _Study] = {}
        self._driven: set[int] = set()

    def close(self) -> None:
        with self._mutex:
            self._driven.clear()
            self._studies, self._by_id = None, {}

    # --- studies ------------------------------------------------------------
    @staticmethod
    def _info(study: _Study) -> StudyInfo:
        return StudyInfo(study.id, study.name, json.loads(study.config), study.state, study.created)

    @_locked
    def get_study(self, name: str) -> StudyInfo | None:
        study = self._studies.get(name)  # type: ignore[union-attr]
        return None if study is None else self._info(study)

    @_locked
    def list_studies(self) -> list[StudyInfo]:
        return [self._info(s) for s in self._studies.values()]  # type: ignore[union-attr]

    @_locked
    def create_study(self, name: str, config: dict[str, Any]) -> StudyInfo:
        if name in self._studies:  # type: ignore[operator]
            raise StoreError(f"study {name!r} already exists in memory")
        study = _Study(len(self._by_id) + 1, name, json.dumps(config, sort_keys=True), "running", time.time())
        self._studies[name] = self._by_id[study.id] = study  # type: ignore[index]
        return self._info(study)

    @_locked
    def update_study_config(self, study_id: int, config: dict[str, Any]) -> None:
        study = self._by_id.get(study_id)
        if study is not None:
            study.config = json.dumps(config, sort_keys=True)

    @_locked
    def set_study_state(self, study_id: int, state: str) -> None:
        study = self._by_id.get(study_id)
        if study is not None:
            study.state = state

    # --- locking ------------------------------------------------------------
    @_locked
    def lock_study(self, study_id: int, name: str) -> None:
        self._driven.add(study_id)

    @_locked
    def is_driven(self, study_id: int) -> bool:
        return study_id in self._driven

    def release_locks(self) -> None:
        with self._mutex:
            self._driven.clear()

    # --- trials -------------------------------------------------------------
    @_locked
    def add_proposals(self, study_id: int, proposals: Sequence[tuple[str, int, float | None]]) -> None:
        study = self._by_id.get(study_id)
        if study is None:
            return
        for cell, round_, predicted in proposals:
            if cell not in study.trials:
                study.trials[cell] = _Trial(len(study.trials), cell, round_, TrialState.PENDING, _real(predicted))

    def _open_trial(self, study_id: int, cell: str) -> _Trial | None:
        study = self._by_id.get(study_id)
        trial = study.trials.get(cell) if study is not None else None
        return trial if trial is not None and trial.status in OPEN_STATES else None

    def _put(self, study_id: int, trial: _Trial) -> None:
        self._by_id[study_id].trials[trial.cell] = trial

    @_locked
    def mark_running(self, study_id: int, cell: str, worker: str) -> None:
        trial = self._open_trial(study_id, cell)
        if trial is not None:
            self._put(study_id, replace(trial, status=TrialState.RUNNING, worker=worker, started=time.time()))

    @_locked
    def retry_trial(self, study_id: int, cell: str) -> None:
        study = self._by_id.get(study_id)
        trial = study.trials.get(cell) if study is not None else None
        if trial is None or trial.status != TrialState.FAILED:
            return
        extra = json.loads(trial.extra) if trial.extra else {}
        if extra.get("failure") == MACHINERY_FAILURE:
            self._put(study_id, replace(trial, status=TrialState.PENDING, error=None, finished=None, extra=None))

    @_locked
    def mark_machinery_failure(self, study_id: int, cell: str) -> None:
        study = self._by_id.get(study_id)
        trial = study.trials.get(cell) if study is not None else None
        if trial is None or trial.status != TrialState.FAILED:
            return
        extra = json.loads(trial.extra) if trial.extra else {}
        if extra.get("failure") != MACHINERY_FAILURE:
            self._put(
                study_id, replace(trial, extra=json.dumps({**extra, "failure": MACHINERY_FAILURE}, sort_keys=True))
            )

    @_locked
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
        state = finished_status(status)
        m = dict(metrics or {})
        extra = json.dumps(m.pop("extra", None) or {}, sort_keys=True)
        provenance_text = json.dumps(provenance or {}, sort_keys=True)
        trial = self._open_trial(study_id, cell)
        if trial is None:
            return
        finished_trial = replace(
            trial,
            status=state,
            accuracy=_real(m.get("accuracy")),
            report_accuracy=_real(m.get("report_accuracy")),
            params=_integer(m.get("params")),
            mult_adds=_integer(m.get("mult_adds")),
            examples=_integer(m.get("examples")),
            seconds=_real(m.get("seconds")),
            worker=trial.worker if worker is None else worker,
            error=error,
            started=trial.started if started is None else _real(started),
            finished=_real(finished or time.time()),
            provenance=provenance_text,
            extra=extra,
        )
        checkpoint("result_commit")  # before the result lands, as the SQLite store's is before COMMIT
        self._put(study_id, finished_trial)

    @_locked
    def trial(self, study_id: int, cell: str) -> TrialRecord | None:
        study = self._by_id.get(study_id)
        trial = study.trials.get(cell) if study is not None else None
        return None if trial is None else trial.record()

    @_locked
    def trials(self, study_id: int, status: str | None = None) -> list[TrialRecord]:
        study = self._by_id.get(study_id)
        if study is None:
            return []
        wanted = None if status is None else TrialState(status)
        return [t.record() for t in study.trials.values() if wanted is None or t.status == wanted]

    # --- artifacts ------------------------------------------------------------
    @_locked
    def save_artifact(self, study_id: int, name: str, data: bytes, meta: dict[str, Any]) -> None:
        study = self._by_id.get(study_id)
        if study is not None:
            study.artifacts[name] = (bytes(data), json.dumps(meta, sort_keys=True))

    @_locked
    def load_artifact(self, study_id: int, name: str) -> tuple[bytes, dict[str, Any]] | None:
        study = self._by_id.get(study_id)
        found = study.artifacts.get(name) if study is not None else None
        return None if found is None else (found[0], json.loads(found[1]))
