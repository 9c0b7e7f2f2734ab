"""A trial as the Study API hands it out, and what an objective may say of it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pnas.evaluation.base import EvalResult, ReportCallback, TrialPruned, check_report

__all__ = ["Trial", "TrialFailed", "TrialPruned", "as_result"]


class TrialFailed(Exception):
    """Raised by an objective (or given to ``study.tell``): this cell could not be evaluated. The trial is
    recorded failed with the message, and the search goes on."""


@dataclass(frozen=True)
class Trial:
    """One cell the strategy asked for. ``str(trial.cell)`` is the cell's text (its key in the study)."""

    number: int
    """The trial's number in the study: 0, 1, 2, ... in the order cells were first proposed."""
    round: int
    """The progressive search's level b (the cell's block count); other strategies' batch number."""
    cell: Any
    """The space's cell object (:class:`pnas.space.Cell` or :class:`pnas.space.Nb201Cell`, ...)."""
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The study's nested configuration: what the cell should be evaluated with."""
    predicted: float | None = None
    """The surrogate's score when the cell was chosen, if a predictor chose it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reports", [])
        object.__setattr__(self, "_judge", None)
        object.__setattr__(self, "_stop", False)

    @property
    def key(self) -> str:
        return str(self.cell)

    # --- intermediate values, for the study's pruner -----------------------------------
    def report(self, value: float, step: int) -> None:
        """The validation accuracy so far (a fraction in [0, 1]) after ``step`` (an epoch, say): steps rise
        from one report to the next. The study's pruner decides at once whether this trial should stop
        (:meth:`should_prune`), on what the trials numbered below it reported at the same step."""
        step, value = check_report(step, value)
        reports: list[tuple[int, float]] = self.__dict__["_reports"]
        if reports and step <= reports[-1][0]:
            raise ValueError(
                f"trial {self.number} already reported step {reports[-1][0]}: report each step once, steps rising"
            )
        reports.append((step, value))
        judge: ReportCallback | None = self.__dict__.get("_judge")
        object.__setattr__(self, "_stop", judge is not None and judge(step, value) is True)

    def should_prune(self) -> bool:
        """Whether the study's pruner says this trial should stop after its last report: then raise
        ``pnas.TrialPruned()`` (the trial is recorded pruned at that step and value)."""
        return bool(self.__dict__.get("_stop", False))

    @property
    def reports(self) -> list[tuple[int, float]]:
        """What this trial reported, ``[(step, value), ...]``."""
        return list(self.__dict__.get("_reports", []))

    def bind(self, judge: ReportCallback | None) -> None:
        """Where :meth:`report` asks for a decision (the study, or the worker's pipe to it): set by the study."""
        object.__setattr__(self, "_judge", judge)

    def __getstate__(self) -> dict[str, Any]:  # a copy in another process reports through its own channel
        return {**self.__dict__, "_judge": None, "_stop": False}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def as_result(value: float | EvalResult | TrialFailed | TrialPruned) -> EvalResult | TrialFailed | TrialPruned:
    """What ``tell`` was given, checked: an accuracy is a fraction in [0, 1]."""
    if isinstance(value, TrialPruned):
        return value
    result: EvalResult | TrialFailed
    if isinstance(value, TrialFailed | EvalResult):
        result = value
    else:
        try:  # a float, or a number that converts to one (numpy scalars, a 0-d tensor)
            accuracy = float(value) if not isinstance(value, str | bytes | bool) else None
        except (TypeError, ValueError):
            accuracy = None
        if accuracy is None:
            raise TypeError(
                f"a trial's value is its validation accuracy (a float in [0, 1]), an EvalResult or "
                f"pnas.TrialFailed, got {type(value).__name__}"
            )
        result = EvalResult(accuracy=accuracy)
    if isinstance(result, EvalResult):
        accuracy = result.accuracy
        if not isinstance(accuracy, int | float) or not math.isfinite(accuracy) or not 0.0 <= accuracy <= 1.0:
            hint = " (a percentage? divide by 100)" if isinstance(accuracy, int | float) and 1 < accuracy <= 100 else ""
            raise ValueError(f"a trial's accuracy is a fraction in [0, 1], got {accuracy!r}{hint}")
    return result
