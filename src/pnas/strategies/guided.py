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

In a space that grows cells block by block (PNAS) the pool also holds progressive expansions of the
best cells: the last block replaced by any other, the neighbourhood the progressive search would
rank. Features that build a network per cell (zero-cost proxies) are computed only for the trained
cells and for the candidates a first ranking without them keeps (``screen``). With several
objectives, parents and picks come from Pareto fronts of the acquisition's score beside each cost's
estimate, as in the progressive search.

A resumed study replays its steps from the store: a step whose picks are already there takes them,
without fitting (its pool is still drawn, so later pools come from the same random stream; a small
record per step keeps a digest of the predictions it chose from and, for Thompson sampling, the
draws' state). Each step's new zero-cost rows are kept too, so a resumed study builds no network it
has scored. Studies stored by releases that kept every step's fitted predictor resume the same way;
those weights are no longer read.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from pnas.checkpoints import checkpoint
from pnas.config import build_options
from pnas.evaluation.base import EvalResult
from pnas.objectives import MEASURES, measured_values
from pnas.pareto import select
from pnas.predictors import create_predictor
from pnas.predictors.acquisition import choose, member_predictions, scores
from pnas.predictors.features import COSTLY_FEATURES, ZeroCostFeatures
from pnas.space.base import SearchSpace
from pnas.strategies.base import declared_ensemble
from pnas.strategies.options import GuidedOptions
from pnas.strategies.random_search import BudgetedStrategy

PARENTS = 10
"""The best trained cells whose mutations fill the pool."""

RANDOM_SHARE = 0.1
"""Part of the pool drawn uniformly from the space, so a pool never holds only one neighbourhood."""

POOL_ATTEMPTS = 20
"""Draws per pool slot before a pool is left smaller (the neighbourhoods are exhausted)."""

SIBLINGS_KEPT = 64
"""Prefixes whose children are kept from one pool to the next (about 20 MB at most in the 5-block space)."""

ZERO_COST_ARTIFACT = "guided-zero-cost-step-{}"
"""The zero-cost rows a step computed, kept in the study so a resumed search does not compute them again."""


def default_initial(budget: int) -> int:
    """A fifth of the budget, at least 5 (never more than the budget)."""
    return min(budget, max(5, budget // 5))


class GuidedSearch(BudgetedStrategy):
    """Random start, then predictor-ranked mutations of the best cells, ``batch`` at a time.

    Built from :class:`GuidedOptions` or its fields as keywords; the predictor is named apart (as for
    :class:`~pnas.strategies.progressive.ProgressiveSearch`)."""

    name = "guided"
    default_predictor = "feature-mlp"
    """Refitted after every batch on tens of cells: the small, fast path-encoding ensemble."""

    options: GuidedOptions

    def __init__(
        self,
        space: SearchSpace,
        options: GuidedOptions | None = None,
        *,
        predictor: str | None = None,
        ensemble: int | None = None,
        predictor_options: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        super().__init__(space, build_options(GuidedOptions, options, values))
        initial = self.options.initial or default_initial(self.budget)
        self.options = replace(self.options, initial=initial)  # stored as chosen
        self.initial, self.pool_size = initial, self.options.pool
        self.screen, self.expand = self.options.screen, self.options.expand
        self.acquisition, self.kappa = self.options.acquisition, self.options.kappa
        self.predictor_name = predictor or self.default_predictor
        self.ensemble = declared_ensemble(self.predictor_name) if ensemble is None else ensemble
        self.predictor_options = dict(predictor_options or {})
        self._zero_cost: ZeroCostFeatures | None = None
        self._new_predictor(0)  # a bad predictor name or option fails now, not after the first cells train
        self.history: list[tuple[Any, float]] = []
        self._values: dict[Any, tuple[float, ...]] = {}
        """With several objectives: each trained cell's measured objective values."""
        self.draws = np.random.default_rng([self.options.seed % (2**63), 0x6E1DED])
        self.step_seconds: list[dict[str, float]] = []
        """Fitting and ranking seconds of each guided step (indicative: they depend on the machine)."""
        self._siblings: dict[Any, list[Any]] = {}
        """Every child of the prefixes whose expansions pools drew (parents stay parents for many steps)."""

    def predictor_config(self) -> dict[str, Any]:
        """The ``predictor`` section of the study's configuration."""
        return {"name": self.predictor_name, "ensemble": self.ensemble, **self.predictor_options}

    def propose(self, n: int) -> list[Any]:
        if self.told < self.initial:
            return self.random_cells(min(n, self.initial - self.told))
        if len(self.history) < 2:  # too few results to fit a predictor on
            return self.random_cells(n)
        step = self.round + 1
        self._recall_zero_cost(step)
        pool = self._pool()  # drawn on replay too: later pools continue the same random stream
        if not pool:
            return self.random_cells(n)
        replayed = self._replayed(step)
        return self._ranked(step, pool, n) if replayed is None else replayed

    def _replayed(self, step: int) -> list[Any] | None:
        """The step's picks as the study holds them (None in a step not proposed yet), so a resumed study
        walks its earlier steps without fitting. Thompson sampling also needs the draws' state after the
        step, which a study stored before decisions were recorded lacks: such a step is ranked again."""
        # the round's trials begin with any cells enqueued for it, already taken (and seen) by this ask
        picks = [(cell, predicted) for cell, predicted in self.stored_picks(step) if cell not in self.seen]
        if not picks:
            return None
        if self.acquisition == "thompson":
            decision = self.stored_decision(step)
            if decision is None or "draws" not in decision:
                return None
            self.draws.bit_generator.state = decision["draws"]
        self.predicted = dict(picks)
        return [cell for cell, _ in picks]

    def _ranked(self, step: int, pool: list[Any], n: int) -> list[Any]:
        """Fit the predictor on every result so far and take the pool's ``n`` best by the acquisition."""
        fit_start = time.perf_counter()
        predictor = self._fitted(step)
        fitted = time.perf_counter()
        best = max(accuracy for _, accuracy in self.history)
        if self._screens(predictor, len(pool), n):
            # a cheap first ranking without the costly features, so they are computed for few candidates
            cheap_features = [f for f in predictor.features if f not in COSTLY_FEATURES]
            cheap = self._fitted(step, features=",".join(cheap_features) or "paths")
            first = "ucb" if self.acquisition == "thompson" else self.acquisition
            screened = self.checked_predictions(step, member_predictions(cheap, pool))
            kept = self._choose(first, screened, pool, self.screen, best)
            pool = [pool[i] for i in kept]
        members = self.checked_predictions(step, member_predictions(predictor, pool))
        picks = self._choose(self.acquisition, members, pool, n, best)
        self.step_seconds.append({"fit": fitted - fit_start, "rank": time.perf_counter() - fitted})
        self.record_predictor_seconds(step, **self.step_seconds[-1])
        mean = members.mean(axis=0)
        self.predicted = {pool[i]: float(mean[i]) for i in picks}
        draws = {"draws": self.draws.bit_generator.state} if self.acquisition == "thompson" else {}
        chosen = [(pool[i], self.predicted[pool[i]]) for i in picks]
        self.record_decision(step, members, len(self.history), chosen, **draws)
        self._keep_zero_cost(step)
        return [pool[i] for i in picks]

    def observe(self, cell: Any, result: EvalResult | None, batch_done: bool) -> None:
        if result is not None:
            self.history.append((cell, result.accuracy))
            if self.goal.multi:
                values = measured_values(result)
                self._values[cell] = tuple(float(values[MEASURES[name]] or 0.0) for name in self.goal.objectives)

    def _choose(self, rule: str, members: np.ndarray, pool: list[Any], k: int, best: float) -> list[int]:
        """``k`` candidates by the acquisition; with several objectives, the ``k`` best by Pareto fronts of
        the acquisition's score beside each cost's estimate (crowding breaking the last front's ties)."""
        if not self.goal.multi:
            return choose(rule, members, k, best=best, kappa=self.kappa, rng=self.draws)
        if rule == "thompson":  # one member's prediction per candidate: a posterior sample of each
            score = members[self.draws.integers(len(members), size=members.shape[1]), np.arange(members.shape[1])]
        else:
            score = scores(rule, members, best=best, kappa=self.kappa)
        points = self.costs.objective_matrix(score, self.costs.estimate(pool))
        return [int(i) for i in select(points, self.goal.maximize, k)]

    def _parents(self) -> list[Any]:
        """The best trained cells: by accuracy, or with several objectives by Pareto front and crowding."""
        if not self.goal.multi:
            ranked = sorted(self.history, key=lambda item: -item[1])
            return [cell for cell, _ in ranked[:PARENTS]]
        cells = [cell for cell, _ in self.history]
        points = np.array([self._values[cell] for cell in cells])
        return [cells[i] for i in select(points, self.goal.maximize, PARENTS)]

    def _pool(self) -> list[Any]:
        """Unseen cells within the limits: mutations (one or two changes) of the best trained cells, in a
        space that grows cells block by block also their progressive expansions (the parent's last block
        replaced by any other, as the progressive search would expand its first blocks), and a share of
        random cells."""
        parents = self._parents()
        randoms = int(round(self.pool_size * RANDOM_SHARE))
        expanding = getattr(self.space, "children_append_one_block", False) and self.space.max_level > 1
        expansions = int(round(self.pool_size * self.expand)) if expanding else 0
        mutations = self.pool_size - randoms - expansions
        siblings = self._siblings
        if len(siblings) > SIBLINGS_KEPT:
            siblings.clear()

        def expansion(parent: Any) -> Any:
            prefix = type(parent)(parent.blocks[:-1])
            if prefix not in siblings:
                siblings[prefix] = self.space.children(prefix)
            return self.rng.choice(siblings[prefix])

        pool: list[Any] = []
        in_pool: set[Any] = set()
        for slot in range(self.pool_size):
            parent = parents[slot % len(parents)]
            cell = None
            for _ in range(POOL_ATTEMPTS):
                if slot < mutations:
                    candidate = self.space.mutate(parent, self.rng)
                    if self.rng.random() < 0.5:
                        candidate = self.space.mutate(candidate, self.rng)
                elif slot < mutations + expansions and self.space.level(parent) > 1:
                    candidate = expansion(parent)
                else:
                    candidate = self.space.random_cell(self.rng)
                if not self.excluded(candidate, in_pool):
                    cell = candidate
                    break
            if cell is not None:
                pool.append(cell)
                in_pool.add(cell)
        return pool

    def _screens(self, predictor: Any, pool: int, n: int) -> bool:
        """Whether a step ranks its pool twice: when the predictor has costly features, a first ranking
        is set and it leaves more than the picks."""
        costly = getattr(predictor, "costly_features", ())
        return bool(costly) and n < self.screen < pool

    def use_zero_cost(self, source: ZeroCostFeatures) -> None:
        """Zero-cost rows from elsewhere (a benchmark's cache of data-free rows shared by its runs); rows
        this search computes are still kept in its study."""
        self._zero_cost = source

    def use_probe(self, probe: Any) -> None:
        super().use_probe(probe)
        if self._zero_cost is not None and self._zero_cost.probe is not probe:
            self._zero_cost = None  # rows on other images (or none) are not these rows

    def _zero_cost_source(self) -> ZeroCostFeatures:
        """The study's zero-cost rows (with its images where it has them), one object for every step."""
        if self._zero_cost is None:
            self._zero_cost = ZeroCostFeatures(self.space, self.probe)
        return self._zero_cost

    def _recall_zero_cost(self, step: int) -> None:
        """Rows this step computed in an earlier run of the study, read back instead of computed."""
        stored = self.artifacts.load_artifact(ZERO_COST_ARTIFACT.format(step)) if self.artifacts else None
        if stored is not None:
            tensors, meta = stored
            cells = [self.space.parse(text) for text in meta["cells"]]
            self._zero_cost_source().remember(cells, tensors["rows"].double().numpy())

    def _keep_zero_cost(self, step: int) -> None:
        if self._zero_cost is None or self.artifacts is None:
            return
        cells, rows = self._zero_cost.take_new()
        if not cells:
            return
        name = ZERO_COST_ARTIFACT.format(step)
        stored = self.artifacts.load_artifact(name)
        if stored is not None:  # a run stopped within this step kept part of it: keep both
            cells = [self.space.parse(text) for text in stored[1]["cells"]] + cells
            rows = np.concatenate([stored[0]["rows"].double().numpy(), rows])
        meta = {"cells": [self.space.format(c) for c in cells], "columns": list(self._zero_cost.columns)}
        self.artifacts.save_artifact(name, {"rows": torch.from_numpy(np.ascontiguousarray(rows))}, meta)

    def _new_predictor(self, step: int, features: str | None = None) -> Any:
        options = dict(self.predictor_options)
        if features is not None:
            options["features"] = features
        predictor = create_predictor(
            self.predictor_name, self.space, seed=self.seed * 1000 + step, ensemble=self.ensemble, **options
        )
        if getattr(predictor, "costly_features", ()):
            predictor.use_zero_cost(self._zero_cost_source())
        return predictor

    def _fitted(self, step: int, features: str | None = None) -> Any:
        """The predictor fitted on every result so far (``features``: the screening one, on these features)."""
        predictor = self._new_predictor(step, features)
        predictor.fit([c for c, _ in self.history], [a for _, a in self.history])
        checkpoint("predictor_fit")
        return predictor
