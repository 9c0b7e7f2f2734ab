"""A user's objective as an evaluator: ``study.optimize(objective)`` and ``--evaluator objective``.

The objective is a function ``objective(trial) -> float | EvalResult`` (the validation accuracy as a
fraction in [0, 1]); it raises :class:`pnas.TrialFailed` for a cell it cannot evaluate. It may report
the value after each step (``trial.report(value, step)``), ask ``trial.should_prune()`` and raise
:class:`pnas.TrialPruned` to stop: the study's pruner decides as it does for the built-in evaluators. Worker
processes rebuild it from its import path (``package.module:function``), so an objective run on
several workers must be a function at the top level of an importable module (or of the script that
runs the study, when the script guards its own work with ``if __name__ == "__main__":``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pnas.config import option
from pnas.evaluation.base import (
    EVALUATORS,
    ChildFailed,
    EvalResult,
    Evaluator,
    EvaluatorSpec,
    ProgressCallback,
    ReportCallback,
    TrialPruned,
)

Objective = Callable[[Any], Any]


def import_path(objective: Objective) -> str:
    """``module:qualname`` of a function that another process can import, or a ValueError saying why not."""
    module = getattr(objective, "__module__", None)
    name = getattr(objective, "__qualname__", None)
    if not module or not name or "<" in name:
        raise ValueError(
            f"the objective {objective!r} cannot be imported by worker processes (a lambda, a nested function or a "
            "callable object): define it as a function at the top level of a module, or run with workers=1"
        )
    return f"{module}:{name}"


def load_objective(path: str) -> Objective:
    """The function at ``module:qualname``; a ValueError naming the path when it cannot be found."""
    module_name, colon, name = path.partition(":")
    if not colon or not module_name or not name:
        raise ValueError(f"objective {path!r}: give it as package.module:function")
    try:
        found: Any = importlib.import_module(module_name)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"objective {path!r} cannot be imported: {exc}") from None
    if not callable(found):
        raise ValueError(f"objective {path!r} is not a function")
    objective: Objective = found
    return objective


class ObjectiveEvaluator(Evaluator):
    """Calls the user's objective with each trial (it gets the :class:`pnas.Trial`, not only the cell)."""

    name = "objective"
    takes_trials = True
    reports_steps = True

    def __init__(self, objective: str | Objective) -> None:
        if isinstance(objective, str):
            self.path: str | None = objective
            self.objective = load_objective(objective)
        else:
            self.objective = objective
            try:
                self.path = import_path(objective)
            except ValueError:
                self.path = None  # fine in this process; a worker pool asks for the path and says why not

    def evaluate(
        self, cell: Any, progress: ProgressCallback | None = None, *, report: ReportCallback | None = None
    ) -> EvalResult:
        """``cell`` is the :class:`pnas.Trial`; its ``report`` asks ``report`` (where the study gives one)."""
        from pnas.study.trial import Trial, TrialFailed, as_result

        if report is not None and isinstance(cell, Trial):
            cell.bind(report)
        try:
            value = as_result(self.objective(cell))
        except TrialFailed as exc:
            raise ChildFailed(str(exc) or "the objective said the trial failed") from None
        except TrialPruned as exc:
            raise _where(exc, cell) from None
        if isinstance(value, TrialFailed):
            raise ChildFailed(str(value) or "the objective said the trial failed")
        if isinstance(value, TrialPruned):
            raise _where(value, cell)
        return value

    def config(self) -> dict[str, Any]:
        return {"objective_function": self.path}

    def spec(self) -> EvaluatorSpec:
        """What a worker process rebuilds it from: the objective's import path (a ValueError saying why
        when the objective has none)."""
        return EvaluatorSpec(self.name, {"objective_function": self.path or import_path(self.objective)})


def _where(pruned: TrialPruned, trial: Any) -> TrialPruned:
    """``pruned`` with the step and value it stopped at: the trial's last report where the objective gave none."""
    if pruned.step is not None and pruned.value is not None:
        return pruned
    reports = getattr(trial, "reports", None) or []
    if not reports:
        return pruned  # recorded failed: pruned before reporting anything
    step, value = reports[-1]
    return TrialPruned(str(pruned), step=step, value=value, result=pruned.result)


@dataclass(frozen=True)
class ObjectiveOptions:
    objective_function: str = option(
        "",
        "The function that evaluates a trial, as package.module:function (it takes a pnas.Trial and returns the validation accuracy).",
    )


def _objective_evaluator(objective_function: str = "") -> ObjectiveEvaluator:
    if not objective_function:
        raise ValueError("--objective-function is required with --evaluator objective: give package.module:function")
    return ObjectiveEvaluator(objective_function)


EVALUATORS.register(
    "objective",
    _objective_evaluator,
    options=ObjectiveOptions,
    help="Your own Python function evaluates each cell (--objective-function package.module:function).",
)
