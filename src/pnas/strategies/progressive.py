"""The progressive search (Liu et al., ECCV 2018, Algorithm 1) as an ask/tell strategy.

Round 1 proposes every level-1 cell. Each later round fits the surrogate on
every result so far, expands every kept cell by every possible next block,
scores all children with the surrogate (no training) and proposes the top
``beam``. The cells of a round that trained successfully are the ones the
next round expands.

A resumed study replays its rounds from the store: a round whose children are
already there takes them as its picks, without fitting (a small record per
round keeps a digest of the predictions it chose from). Studies stored by
releases that kept each round's fitted predictor resume the same way; those
weights are no longer read.

With limits (``max_params``, ...) only children within them are ranked, and
level 1 holds only the cells within them; with several objectives the K
children come from the predicted Pareto fronts of (predicted accuracy, exact
costs, predicted latency) instead of the top K by predicted accuracy (see
:mod:`pnas.objectives`).

With a pruner that runs rounds as a fidelity ladder (``--pruner successive-halving``, see
:meth:`Strategy.use_widening`), each round starts more children than K: the first round all level-1
cells, each later one the top ``widen(K)`` of the ranked expansion (``K * eta**s``), in rank order, and
marks them ``finish=K``; the pruner stops the losing ones at its rungs, so that K (in the first round
1/eta per rung, at least K) train to the end. Only those are results: the predictor learns from them and
the next round expands them. A Pareto search (several objectives) is not widened: its pruner would judge
by accuracy alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pnas.checkpoints import checkpoint
from pnas.config import build_options
from pnas.evaluation.base import EvalResult
from pnas.pareto import select
from pnas.predictors import PREDICTORS, create_predictor
from pnas.predictors.acquisition import choose
from pnas.predictors.acquisition import scores as acquisition_scores
from pnas.predictors.ranking import member_scores_expansion, score_expansion
from pnas.space.base import SearchSpace
from pnas.strategies.base import (
    DEFAULT_PREDICTOR,
    Proposal,
    Strategy,
    declared_ensemble,
)
from pnas.strategies.options import ProgressiveOptions


def top_k_unique(children: list[Any], scores: np.ndarray, k: int) -> list[tuple[Any, float]]:
    """The ``k`` best-scored distinct children; ties keep expansion order (stable)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    chosen: list[tuple[Any, float]] = []
    seen: set[Any] = set()
    for index in order:
        child = children[index]
        if child in seen:
            continue
        seen.add(child)
        chosen.append((child, float(scores[index])))
        if len(chosen) == k:
            break
    return chosen


def first_occurrences(children: list[Any]) -> np.ndarray:
    """Indices of each distinct child's first appearance, in order."""
    seen: set[Any] = set()
    out = []
    for index, child in enumerate(children):
        if child not in seen:
            seen.add(child)
            out.append(index)
    return np.asarray(out, dtype=int)


class ProgressiveSearch(Strategy):
    """``ProgressiveSearch(space, ProgressiveOptions(beam=8))``, or the options as keywords
    (``ProgressiveSearch(space, beam=8)``); the defaults are :class:`ProgressiveOptions`' (the CLI's).
    The surrogate is named apart: ``predictor`` (default :attr:`default_predictor`), its ``ensemble``
    size (default: the predictor's declared one) and its other ``predictor_options``."""

    name = "pnas"
    default_predictor = DEFAULT_PREDICTOR
    rounds_are_levels = True

    def __init__(
        self,
        space: SearchSpace,
        options: ProgressiveOptions | None = None,
        *,
        predictor: str | None = None,
        ensemble: int | None = None,
        predictor_options: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        options = build_options(ProgressiveOptions, options, values)
        super().__init__(space, seed=options.seed, goal=options.goal())
        self.options = options
        self.acquisition, self.kappa = options.acquisition, options.kappa
        self.draws = np.random.default_rng([options.seed % (2**63), 0xAC0])
        self.beam = options.beam
        self.predictor_name = predictor or self.default_predictor
        self.ensemble = declared_ensemble(self.predictor_name) if ensemble is None else ensemble
        self.predictor_options = dict(predictor_options or {})
        self._new_predictor(0)  # a bad name or option fails now, not after the first round's training
        self.level = 0
        self.kept: list[Any] = []
        self.history: list[tuple[Any, float]] = []
        self._told = 0
        self._batch_size = 0
        self.predictor: Any = None
        self.widen: Callable[[int], int] | None = None

    def use_widening(self, widen: Callable[[int], int]) -> None:
        self.widen = widen

    @property
    def ladder(self) -> bool:
        """Whether rounds run as a fidelity ladder: a pruner offers to widen them (beyond K), and one
        objective ranks the children."""
        return self.widen is not None and not self.goal.multi and self.widen(self.beam) > self.beam

    @property
    def width(self) -> int:
        """Children a later round starts: ``widen(K)`` on a ladder, else K."""
        return self.widen(self.beam) if self.widen is not None and self.ladder else self.beam

    def _marked(self, proposals: list[Proposal]) -> list[Proposal]:
        """On a ladder, the round's proposals marked ``finish=K``; as they are otherwise."""
        if not self.ladder:
            return proposals
        return [Proposal(p.cell, p.round, p.predicted, finish=self.beam) for p in proposals]

    def predictor_config(self) -> dict[str, Any]:
        """The ``predictor`` section of the study's configuration."""
        declared = PREDICTORS.component(self.predictor_name).specs if self.predictor_name in PREDICTORS else None
        ensemble = {"ensemble": self.ensemble} if declared is None or "ensemble" in declared else {}
        return {"name": self.predictor_name, **ensemble, **self.predictor_options}

    def ask(self) -> list[Proposal]:
        if self._told < self._batch_size:
            raise RuntimeError("every proposal of a batch must be told before the next ask")
        if self.level == 0:
            proposals = self._marked([Proposal(cell, 1) for cell in self._first_cells()])
        elif self.level >= self.space.max_level or not self.kept:  # the space's size is the study's
            return []
        else:
            proposals = self._marked(self._replayed(self.level + 1) or self._ranked())
            self.record_latency_predictions(self.level + 1, [p.cell for p in proposals])
        self.level += 1
        self.kept = []
        self._told, self._batch_size = 0, len(proposals)
        return proposals

    def _replayed(self, round_: int) -> list[Proposal]:
        """The round's picks as the study holds them (none in a round not proposed yet): a resumed study
        walks its earlier rounds without fitting. Thompson sampling also needs the draws' state after the
        round, which a study stored before decisions were recorded lacks: such a round is ranked again."""
        picks = self.stored_picks(round_)
        if not picks:
            return []
        if self.acquisition == "thompson":
            decision = self.stored_decision(round_)
            if decision is None or "draws" not in decision:
                return []
            self.draws.bit_generator.state = decision["draws"]
        return [Proposal(cell, round_, predicted) for cell, predicted in picks]

    def _ranked(self) -> list[Proposal]:
        """Fit the predictor on every result so far, rank every child of the kept cells, take the K best."""
        self.predictor = self._fitted_predictor(self.level)
        if self.acquisition == "mean":
            children, scores = score_expansion(self.predictor, self.space, self.kept)
            predictions = self.checked_predictions(self.level + 1, scores)
        else:
            children, scores, predictions = self._acquired()
        proposals = [Proposal(c, self.level + 1, s) for c, s in self._choose(children, scores)]
        draws = {"draws": self.draws.bit_generator.state} if self.acquisition == "thompson" else {}
        picks = [(p.cell, p.predicted) for p in proposals]
        self.record_decision(self.level + 1, predictions, len(self.history), picks, **draws)
        return proposals

    def _acquired(self) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """Every child, its acquisition score and the members' scores they combine (for Thompson sampling,
        K draws give the K picks a descending score; the rest score below them)."""
        children, members = member_scores_expansion(self.predictor, self.space, self.kept)
        self.checked_predictions(self.level + 1, members)
        best = max(accuracy for _, accuracy in self.history)
        if self.acquisition != "thompson":
            return children, acquisition_scores(self.acquisition, members, best=best, kappa=self.kappa), members
        index = first_occurrences(children)
        picks = choose("thompson", members[:, index], self.width, best=best, rng=self.draws)
        ranked = np.zeros(len(children))
        ranked[index[picks]] = np.arange(len(picks), 0, -1, dtype=float)
        return children, ranked, members

    def _first_cells(self) -> list[Any]:
        """Every level-1 cell within the limits (all of them without limits)."""
        cells = self.space.initial_cells()
        if not self.goal.limits:
            return cells
        kept = [cell for cell, ok in zip(cells, self.costs.within(cells)) if ok]
        if not kept:
            raise ValueError(
                f"no cell of one {self.space.level_noun} meets the limits "
                f"({', '.join(f'{k} {v:,}' for k, v in self.goal.limits.items())}): raise them, or make the "
                "network smaller (fewer filters or cells)"
            )
        return kept

    def _choose(self, children: list[Any], scores: np.ndarray) -> list[tuple[Any, float]]:
        """The K children to train: the top K by predicted accuracy (the paper's rule; on a ladder the top
        :attr:`width`), or with several objectives K from the predicted Pareto fronts, crowding breaking the
        last front's ties; only children within the limits take part."""
        if not self.goal.uses_costs:
            return top_k_unique(children, scores, self.width)
        index = first_occurrences(children)
        distinct = [children[i] for i in index]
        estimates = self.costs.estimate(distinct)
        ok = self.goal.within(estimates)
        index = index[ok]
        distinct = [cell for cell, keep in zip(distinct, ok) if keep]
        estimates = {name: values[ok] for name, values in estimates.items()}
        if not self.goal.multi:
            return top_k_unique(distinct, scores[index], self.width)
        points = self.costs.objective_matrix(scores[index], estimates)
        chosen = select(points, self.goal.maximize, self.beam)
        return [(distinct[i], float(scores[index[i]])) for i in chosen]

    def tell(self, proposal: Proposal, result: EvalResult | None) -> None:
        self._told += 1
        self.costs.observe(proposal.cell, result)
        if result is not None:
            if self.costs.meets_limits(result):  # a child over a measured limit is not expanded
                self.kept.append(proposal.cell)
            self.history.append((proposal.cell, result.accuracy))

    def _new_predictor(self, level: int) -> Any:
        return create_predictor(
            self.predictor_name,
            self.space,
            seed=self.seed * 1000 + level,
            ensemble=self.ensemble,
            **self.predictor_options,
        )

    def _fitted_predictor(self, level: int) -> Any:
        """The surrogate fitted on every result so far."""
        predictor = self._new_predictor(level)
        predictor.fit([c for c, _ in self.history], [a for _, a in self.history])
        checkpoint("predictor_fit")
        return predictor
