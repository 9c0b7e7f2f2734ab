"""A trial as the Study API hands it out, and what an objective may say of it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pnas.evaluation.base import EvalResult


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

    @property
    def key(self) -> str:
        return str(self.cell)


def as_result(value: float | EvalResult | TrialFailed) -> EvalResult | TrialFailed:
    """What ``tell`` was given, checked: an accuracy is a fraction in [0, 1]."""
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
