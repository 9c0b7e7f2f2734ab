"""The executor interface: where children get evaluated.

An executor takes jobs (a cell and its key) and yields one :class:`Outcome`
per job as each finishes, in any order; the study applies them in a fixed
order afterwards, so the choice of executor never changes a deterministic
study. Backends: in-process (:class:`pnas.execution.local.InProcessExecutor`),
a local process pool (:class:`pnas.execution.local.ProcessPoolExecutor`); a
cluster backend implements the same two methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pnas.evaluation.base import EvalResult
from pnas.registry import Registry


@dataclass(frozen=True)
class Job:
    key: str
    """The cell's canonical text: unique within a study."""
    cell: Any


DEFAULT_MAX_RETRIES = 2
"""Times a child whose worker died under it is given to a new worker before it is recorded failed."""


@dataclass(frozen=True)
class Outcome:
    key: str
    result: EvalResult | None
    error: str | None
    worker: str
    started: float
    finished: float
    machinery: bool = False
    """The failure was the machinery's (the worker died, a node left), not the child's own: such a
    child is recorded failed only after its retries, and is trained again when the study resumes."""


EventCallback = Callable[[str, dict[str, Any]], None]
"""Called as ``on_event(job_key, event)``; events are ``{"type": "start", "worker": ...}``,
the evaluator's progress dictionaries (``{"type": "progress", "epoch": ...}``) and
``{"type": "retry", "attempt": n, "reason": ...}`` when a child is given to a new worker."""


class Executor(ABC):
    @abstractmethod
    def run(self, jobs: Sequence[Job], on_event: EventCallback | None = None) -> Iterator[Outcome]:
        """Evaluate every job; yield each outcome as soon as it is known."""

    def close(self) -> None:
        """Release workers. Called once, when the study ends or is interrupted."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


EXECUTORS: Registry[Executor] = Registry("executor", "pnas.executors")
"""Factories are ``(evaluator, **options)``; every executor option is a runtime one (where and how
fast children run never changes a deterministic study)."""
