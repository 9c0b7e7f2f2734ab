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


STRATEGIES: Registry[Strategy] = Registry("strategy", "pnas.strategies")
"""Factories are ``(space, **options)``; one that uses a predictor (``uses=("predictor",)``) also gets
``predictor=<name>``, ``ensemble=<members>`` and ``predictor_options=<that section's other options>``."""


@dataclass(frozen=True)
class DeriveContext:
    """What an options class may derive its unset defaults from (see ``derive`` below)."""

    space: SearchSpace
    workers: int
    beam: int
    """The progressive search's K: baselines default to as many models as it would train."""


def progressive_model_count(space: SearchSpace, beam: int, max_level: int | None = None) -> int:
    """Models the progressive search trains: all level-1 cells, then ``beam`` per level."""
    levels = min(max_level or space.max_level, space.max_level)
    return len(space.initial_cells()) + beam * (levels - 1)
