"""Helpers shared by the strategy tests."""

from __future__ import annotations

from pnas.evaluation.base import EvalResult, Evaluator
from pnas.evaluation.synthetic import SyntheticEvaluator

OBJECTIVE = SyntheticEvaluator(seed=3)


def drive(strategy, evaluate=OBJECTIVE.evaluate, max_asks: int = 10_000):
    """Ask/tell until the strategy is done; the batches it proposed and the results it was told."""
    batches = []
    for _ in range(max_asks):
        proposals = strategy.ask()
        if not proposals:
            return batches
        results = [evaluate(p.cell) for p in proposals]
        for proposal, result in zip(proposals, results):
            strategy.tell(proposal, result)
        batches.append((proposals, results))
    raise AssertionError("the strategy never finished")


def cells_of(batches) -> list:
    return [p.cell for proposals, _ in batches for p in proposals]


class Interrupted(BaseException):
    """Stands in for a kill in the middle of a study (like Ctrl-C, not a failed child)."""


class CountingEvaluator(Evaluator):
    """The synthetic objective, counting evaluations per cell; raises after ``stop_after`` of them."""

    name = "counting"

    def __init__(self, counts: dict[str, int], stop_after: int | None = None) -> None:
        self.counts, self.stop_after = counts, stop_after

    def evaluate(self, cell, progress=None) -> EvalResult:
        if self.stop_after is not None and sum(self.counts.values()) >= self.stop_after:
            raise Interrupted
        self.counts[str(cell)] = self.counts.get(str(cell), 0) + 1
        return OBJECTIVE.evaluate(cell)

    def config(self) -> dict:
        return {"objective": OBJECTIVE.config()}


def trials_of(study) -> list[tuple[str, str, float | None]]:
    return [(t.cell, t.status, t.accuracy) for t in study.trials()]
