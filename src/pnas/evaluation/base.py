"""What an evaluator is: a cell goes in, an :class:`EvalResult` comes out.

Evaluators must be rebuildable from a plain config (``EvaluatorSpec``) so that
worker processes and cluster backends can construct their own copy; nothing
is pickled between processes except these specs and results.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pnas.registry import Registry


@dataclass(frozen=True)
class EvalResult:
    """One trained (or looked-up) child. Accuracies are fractions in [0, 1]."""

    accuracy: float
    """Validation accuracy: what strategies optimise."""
    report_accuracy: float | None = None
    """A held-out accuracy kept for reporting only (e.g. a table's test column)."""
    params: int | None = None
    mult_adds: int | None = None
    examples: int = 0
    """Training examples seen (epochs x images): the compute the paper's 8x claim counts."""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChildFailed(Exception):
    """A child that could not be evaluated (NaN loss, timeout, ...): recorded, the search goes on."""


ProgressCallback = Callable[[dict[str, Any]], None]
"""Receives progress events such as ``{"epoch": 1, "epochs": 3}`` from an evaluator."""


class Evaluator(ABC):
    """Turns a cell into an :class:`EvalResult`; raises ChildFailed (or anything) on failure."""

    name: str

    @abstractmethod
    def evaluate(self, cell: Any, progress: ProgressCallback | None = None) -> EvalResult: ...

    def prepare(self) -> None:
        """Load what every child needs and fail with a clear error before the study starts."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON-able settings that determine results; stored with the study."""

    def spec(self) -> EvaluatorSpec:
        return EvaluatorSpec(self.name, self.config())


@dataclass(frozen=True)
class EvaluatorSpec:
    """Name + config: enough to rebuild an evaluator in another process."""

    name: str
    config: dict[str, Any]

    def build(self) -> Evaluator:
        import pnas.evaluation  # noqa: F401  (registers the built-in evaluators)

        return EVALUATORS.create(self.name, **self.config)


EVALUATORS: Registry[Evaluator] = Registry("evaluator")
