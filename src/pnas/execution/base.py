"""The executor interface: where children get evaluated.

An executor takes jobs (a cell and its key) and yields one :class:`Outcome`
per job as each finishes, in any order; the study applies them in a fixed
order afterwards, so the choice of executor never changes a deterministic
study. Backends: in-process (:class:`pnas.execution.local.InProcessExecutor`),
a local process pool (:class:`pnas.execution.local.ProcessPoolExecutor`) and a
Ray cluster (:class:`pnas.execution.ray.RayExecutor`).

Every backend follows the same fault rules: a child's own failure (an
exception, a NaN loss, running past its time limit) is an outcome with an
error; a failure of the machinery under it (its worker died, its node left)
is retried, and after the retries is an outcome with ``machinery=True``.

An executor that :attr:`Executor.judges` takes a ``judge`` too: a child that
reports (``Evaluator.reports_steps``) asks it at each step whether to stop
(``judge(key, step, value)``: True stop, False go on, None not decidable yet:
ask again once anything else has happened, a report, an outcome or a death).
Jobs are started in the order given (the study gives them in trial order), so
the child that waits is never the one every other waits for.
"""

from __future__ import annotations

import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pnas.config import RUNTIME, option
from pnas.evaluation.base import (
    EvalResult,
    Evaluator,
    ProgressCallback,
    ReportCallback,
    TrialPruned,
    check_report,
)
from pnas.registry import Registry


@dataclass(frozen=True)
class Job:
    key: str
    """The cell's canonical text: unique within a study."""
    cell: Any


DEFAULT_MAX_RETRIES = 2
"""Times a child whose worker died under it is given to a new worker before it is recorded failed."""

DEFAULT_STOP_AFTER_FAILURES = 5
"""A run whose first this many children all fail with the same error stops with that error."""

TIMEOUT_GRACE_SECONDS = 2.0
"""How long past its limit a child may run before its worker is stopped: an evaluator that checks
the time itself (the trainer does, between steps) gets to fail with its own, more precise message."""


@dataclass(frozen=True)
class TimeLimit:
    """When a child must be stopped: ``seconds`` (plus :data:`TIMEOUT_GRACE_SECONDS`) after it began;
    None: never. Shared by the executors so that every one stops children by the same rule."""

    seconds: float | None

    def overdue(self, began: float | None, now: float) -> bool:
        """Whether a child that began at ``began`` (None: not yet) must be stopped at ``now``."""
        return self.seconds is not None and began is not None and now >= began + self.seconds + TIMEOUT_GRACE_SECONDS

    def wait(self, began: Iterable[float | None], most: float = 1.0) -> float:
        """Seconds to wait for news at most, never past the deadline of a child that began at one of ``began``."""
        if self.seconds is None:
            return most
        now, limit = time.time(), self.seconds + TIMEOUT_GRACE_SECONDS
        return max(0.0, min([most] + [b + limit - now for b in began if b is not None]))


def describe_error(exc: BaseException) -> str:
    """One line a user can read: the exception type and message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def timeout_error(limit: float) -> str:
    """The error of a child stopped by its executor; the same for every child, so that a study whose
    children all time out stops early (see :data:`DEFAULT_STOP_AFTER_FAILURES`)."""
    return f"timed out: it ran past its limit of {limit:g} s and its worker was stopped"


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
    pruned: tuple[int, float] | None = None
    """(step, value) where the child was stopped early; ``result`` then holds its costs up to there."""


PRUNED_UNREPORTED = "TrialPruned was raised before any value was reported: report the value reached first"
"""The error of a child that said it was pruned without saying where (recorded failed)."""


def evaluate_job(
    evaluator: Evaluator,
    cell: Any,
    progress: ProgressCallback | None,
    report: ReportCallback | None,
    *,
    debug: bool = False,
) -> tuple[EvalResult | None, str | None, tuple[int, float] | None]:
    """(result, error, pruned) of one child, as every executor records it: ``report`` is passed only when
    given (an evaluator that does not report takes none); an exception is the child's error (its traceback
    printed with ``debug``)."""
    try:
        if report is None:
            return evaluator.evaluate(cell, progress=progress), None, None
        asked = report

        def checked(step: int, value: float) -> bool:  # a bad report is the child's failure, not the study's
            return asked(*check_report(step, value))

        return evaluator.evaluate(cell, progress=progress, report=checked), None, None
    except TrialPruned as exc:
        if exc.step is None or exc.value is None:
            return None, PRUNED_UNREPORTED, None
        return exc.result or EvalResult(float(exc.value)), None, (int(exc.step), float(exc.value))
    except Exception as exc:  # a failed child is recorded; the search goes on
        if debug:
            traceback.print_exc()
        return None, describe_error(exc), None


Judge = Callable[[str, int, float], "bool | None"]
"""``judge(job_key, step, value)``: whether the child stops at this step (None: not decidable yet)."""

Question = tuple[int, float, float]
"""A child's report waiting for the judge: (step, value, when it was asked)."""


def decide(judge: Judge, key: str, question: Question, began: float | None) -> tuple[bool | None, float | None]:
    """Ask ``judge`` a waiting question again: (its decision, None if it cannot decide yet; the child's start
    moved on by the time it waited, so that waiting never counts against its time limit)."""
    step, value, since = question
    decision = judge(key, step, value)
    if decision is None:
        return None, began
    return bool(decision), None if began is None else began + time.time() - since


EventCallback = Callable[[str, dict[str, Any]], None]
"""Called as ``on_event(job_key, event)``; events are ``{"type": "start", "worker": ...}``,
the evaluator's progress dictionaries (``{"type": "progress", "epoch": ...}``),
``{"type": "retry", "attempt": n, "reason": ...}`` when a child is given to a new worker, and
``{"type": "workers", "starting": n}`` when n worker processes start (keyed by the first job waiting
for them; a worker loads what the evaluator needs before its first child starts)."""


class ExecutorUnavailable(RuntimeError):
    """An executor that cannot start here (its library missing, its cluster unreachable or refusing us);
    the message is one line saying what to do."""


class Executor(ABC):
    stop_after_failures: int = DEFAULT_STOP_AFTER_FAILURES
    """Read by the study driver: a run whose first this many children all fail with one error stops."""

    judges: bool = False
    """Whether :meth:`run` takes a ``judge`` and lets reporting children ask it (see the module docstring):
    only such an executor runs a study whose pruner may stop children."""

    @abstractmethod
    def run(
        self, jobs: Sequence[Job], on_event: EventCallback | None = None, judge: Judge | None = None
    ) -> Iterator[Outcome]:
        """Evaluate every job, starting them in the order given; yield each outcome as soon as it is known."""

    def slots(self) -> int:
        """Children this executor runs at once: a strategy that proposes in batches proposes this many
        by default, so that none of them idles. One, unless the executor says otherwise."""
        return 1

    def close(self) -> None:
        """Release workers. Called once, when the study ends or is interrupted."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class ExecutorOptions:
    """The options every built-in executor has: its fault rules."""

    max_retries: int = option(
        DEFAULT_MAX_RETRIES,
        "Times a child whose worker died (killed, out of memory, its node gone) is trained again before it is "
        "recorded failed; such children are also trained again when the study resumes.",
        low=0,
        high=100,
        decides=RUNTIME,
    )
    child_timeout: float | None = option(
        None,
        "Seconds after which a child is stopped for real (its worker killed) and recorded failed (unset: no limit).",
        low=0,
        decides=RUNTIME,
    )
    stop_after_failures: int = option(
        DEFAULT_STOP_AFTER_FAILURES,
        "Stop the study with the error when the first N children of a run all fail with the same error (a broken "
        "evaluator, data missing on a worker); they are trained again on resume. 0: never stop.",
        low=0,
        decides=RUNTIME,
    )


def check_fault_options(max_retries: int, child_timeout: float | None, stop_after_failures: int) -> None:
    """The same errors for every executor built from Python (the command line checks ranges itself)."""
    if max_retries < 0:
        raise ValueError(f"--max-retries must be >= 0, got {max_retries}")
    if child_timeout is not None and not child_timeout > 0:
        raise ValueError(f"--child-timeout must be positive seconds, got {child_timeout}")
    if stop_after_failures < 0:
        raise ValueError(f"--stop-after-failures must be >= 0, got {stop_after_failures}")


EXECUTORS: Registry[Executor] = Registry("executor", "pnas.executors")
"""Factories are ``(evaluator, **options)``; every executor option is a runtime one (where and how
fast children run never changes a deterministic study)."""
