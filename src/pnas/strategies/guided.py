"""Predictor-guided local search: train few cells, each chosen by the surrogate near the best so far.

The progressive search spends its first round training every one-level cell and ranks only the
children of what it kept. At small budgets that is most of the budget. This strategy starts from
``initial`` random cells (of the space's full size), then repeats: refit the predictor on every
result so far, draw a pool of candidates (mutations at edit distance 1 and 2 of the best trained
cells, plus some random cells), rank the pool by an acquisition of the ensemble's predictions
(:mod:`pnas.predictors.acquisition`) and train the top ``batch``. Local moves around good cells
keep the predictor where it has data; the acquisition's spread term sends some picks where the
members disagree. It is the shape of BANANAS's search (White et al., AAAI 2021) and of
predictor-guided local search in general, in this project's spaces, predictors and store.

Each step's fitted predictor is stored as an artifact, so a resumed study ranks its pools with
exactly the predictors of the first run (pools and Thompson draws come from seeded generators).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from pnas.checkpoints import checkpoint
from pnas.config import option
from pnas.evaluation.base import EvalResult
from pnas.predictors import create_predictor
from pnas.predictors.acquisition import ACQUISITIONS, choose, member_predictions
from pnas.space.base import SearchSpace
from pnas.strategies.base import STRATEGIES, DeriveContext
from pnas.strategies.random_search import BudgetedStrategy, WorkerBatchOptions, positive_int

PARENTS = 10
"""The best trained cells whose mutations fill the pool."""

RANDOM_SHARE = 0.1
"""Part of the pool drawn uniformly from the space, so a pool never holds only one neighbourhood."""

POOL_ATTEMPTS = 20
"""Draws per pool slot before a pool is left smaller (the neighbourhoods are exhausted)."""


def default_initial(budget: int) -> int:
    """A fifth of the budget, at least 5 (never more than the budget)."""
    return min(budget, max(5, budget // 5))


class GuidedSearch(BudgetedStrategy):
    """Random start, then predictor-ranked mutations of the best cells, ``batch`` at a time."""

    name = "guided"
    default_predictor = "feature-mlp"
    """Refitted after every batch on tens of cells: the small, fast path-encoding ensemble."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        budget: int = 100,
        batch: int = 1,
        initial: int | None = None,
        pool: int = 500,
        acquisition: str = "ei",
        kappa: float = 1.0,
        predictor: str = "feature-mlp",
        ensemble: int = 5,
        predictor_options: dict[str, Any] | None = None,
        **goal: Any,
    ) -> None:
        super().__init__(space, seed=seed, budget=budget, batch=positive_int("batch", batch), **goal)
        self.initial = default_initial(self.budget) if initial is None else positive_int("initial", initial)
        self.pool_size = positive_int("pool", pool)
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"unknown acquisition {acquisition!r}: choose one of {', '.join(ACQUISITIONS)}")
        if not kappa >= 0:
            raise ValueError(f"kappa must be >= 0, got {kappa!r}")
        self.acquisition, self.kappa = acquisition, float(kappa)
        self.predictor_name, self.ensemble = predictor, ensemble
        self.predictor_options = dict(predictor_options or {})
        self._new_predictor(0)  # a bad predictor name or option fails now, not after the first cells train
        self.history: list[tuple[Any, float]] = []
        self.draws = np.random.default_rng([seed % (2**63), 0x6E1DED])
        self.step_seconds: list[dict[str, float]] = []
        """Fitting and ranking seconds of each guided step (indicative: they depend on the machine)."""

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "initial": self.initial,
            "pool": self.pool_size,
            "acquisition": self.acquisition,
            "kappa": self.kappa,
        }

    def predictor_config(self) -> dict[str, Any]:
        """The ``predictor`` section of the study's configuration."""
        return {"name": self.predictor_name, "ensemble": self.ensemble, **self.predictor_options}

    def propose(self, n: int) -> list[Any]:
        if self.told < self.initial:
            return self.random_cells(min(n, self.initial - self.told))
        if len(self.history) < 2:  # too few results to fit a predictor on
            return self.random_cells(n)
        fit_start = time.perf_counter()
        predictor = self._fitted(self.round + 1)
        fitted = time.perf_counter()
        pool = self._pool()
        if not pool:
            return self.random_cells(n)
        members = member_predictions(predictor, pool)
        best = max(accuracy for _, accuracy in self.history)
        picks = choose(self.acquisition, members, n, best=best, kappa=self.kappa, rng=self.draws)
        self.step_seconds.append({"fit": fitted - fit_start, "rank": time.perf_counter() - fitted})
        return [pool[i] for i in picks]

    def observe(self, cell: Any, result: EvalResult | None, batch_done: bool) -> None:
        if result is not None:
            self.history.append((cell, result.accuracy))

    def _pool(self) -> list[Any]:
        """Unseen cells within the limits: mutations (one or two changes) of the best trained cells, and
        a share of random cells."""
        ranked = sorted(self.history, key=lambda item: -item[1])
        parents = [cell for cell, _ in ranked[:PARENTS]]
        pool: list[Any] = []
        in_pool: set[Any] = set()
        randoms = int(round(self.pool_size * RANDOM_SHARE))
        for slot in range(self.pool_size):
            cell = None
            for _ in range(POOL_ATTEMPTS):
                if slot < self.pool_size - randoms:
                    candidate = self.space.mutate(parents[slot % len(parents)], self.rng)
                    if self.rng.random() < 0.5:
                        candidate = self.space.mutate(candidate, self.rng)
                else:
                    candidate = self.space.random_cell(self.rng)
                if not self.excluded(candidate, in_pool):
                    cell = candidate
                    break
            if cell is not None:
                pool.append(cell)
                in_pool.add(cell)
        return pool

    def _new_predictor(self, step: int) -> Any:
        return create_predictor(
            self.predictor_name,
            self.space,
            seed=self.seed * 1000 + step,
            ensemble=self.ensemble,
            **self.predictor_options,
        )

    def _fitted(self, step: int) -> Any:
        """The predictor fitted on every result so far; loaded when a first run stored it."""
        name = f"guided-predictor-step-{step}"
        predictor = self._new_predictor(step)
        stored = self.artifacts.load_artifact(name) if self.artifacts else None
        if stored is not None and hasattr(predictor, "load_state_dict"):
            predictor.load_state_dict(stored[0])
            return predictor
        predictor.fit([c for c, _ in self.history], [a for _, a in self.history])
        checkpoint("predictor_fit")
        if self.artifacts and hasattr(predictor, "state_dict"):
            self.artifacts.save_artifact(name, predictor.state_dict(), {"step": step, "trained_on": len(self.history)})
        return predictor


@dataclass(frozen=True)
class GuidedOptions(WorkerBatchOptions):
    initial: int | None = option(
        None, "Random cells before the predictor guides (default: a fifth of the budget, at least 5).", low=1
    )
    pool: int = option(500, "Candidates ranked by the predictor at each step.", low=1)
    acquisition: str = option(
        "ei",
        "How candidates are ranked: mean prediction, ucb (mean + kappa spreads), ei (expected improvement) or "
        "thompson (one ensemble member per pick).",
        choices=ACQUISITIONS,
    )
    kappa: float = option(1.0, "Spreads added to the mean by --acquisition ucb.", low=0)

    @staticmethod
    def derive(values: dict[str, Any], context: DeriveContext) -> None:
        WorkerBatchOptions.derive(values, context)


STRATEGIES.register(
    "guided",
    GuidedSearch,
    options=GuidedOptions,
    uses=("predictor",),
    help="Predictor-guided local search: random start, then acquisition-ranked mutations of the best cells.",
)
