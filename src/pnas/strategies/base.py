"""The ask/tell interface every search strategy implements.

A strategy proposes cells (``ask``) and is told their outcomes (``tell``); it
never trains anything itself, so the same strategy runs behind the local loop,
a process pool or a cluster. Strategies must be deterministic given their
seed and the sequence of outcomes they are told: that is what makes a study
resumable by replay (see :mod:`pnas.study`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Protocol

from pnas.evaluation.base import EvalResult
from pnas.registry import Registry
from pnas.space.base import SearchSpace


@dataclass(frozen=True)
class Proposal:
    """A cell a strategy wants evaluated."""

    cell: Any
    round: int
    """Progressive search: the cell's level b. Other strategies: their batch number."""
    predicted: float | None = None
    """The surrogate's score when the cell was chosen, if any."""


class ArtifactStore(Protocol):
    """Where a strategy keeps named tensors (e.g. each round's predictor) durably."""

    def save_artifact(self, name: str, tensors: dict[str, Any], meta: dict[str, Any]) -> None: ...

    def load_artifact(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None: ...


class Strategy(ABC):
    """Base class. ``ask()`` returns the next batch (empty when finished);
    every proposal of a batch is told (in batch order) before the next ask."""

    name: str = "strategy"

    def __init__(self, space: SearchSpace, *, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.artifacts: ArtifactStore | None = None

    @abstractmethod
    def ask(self) -> list[Proposal]: ...

    @abstractmethod
    def tell(self, proposal: Proposal, result: EvalResult | None) -> None:
        """``result`` is None when the child failed."""

    def config(self) -> dict[str, Any]:
        """JSON-able options that determine the strategy's choices (stored with the study)."""
        return {"name": self.name, "seed": self.seed}


STRATEGIES: Registry[Strategy] = Registry("strategy")
