"""What a strategy knows of a cell's costs before training it, and how it weighs cells against its goal.

Parameters and mult-adds come exactly from the evaluator's cost model (the network the evaluator
would build, counted without building it); latency from a :class:`LatencyPredictor` refitted on
every child measured so far. The study driver hands the cost model over
(:meth:`pnas.strategies.base.Strategy.use_cost_model`) once the evaluator is prepared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pnas.evaluation.base import CostModel, EvalResult
from pnas.objectives import Goal, measured_values
from pnas.predictors.latency import MIN_MEASURED, LatencyPredictor, latency_features
from pnas.space.base import SearchSpace


class CellCosts:
    """Estimated objective values of cells: exact params and mult-adds, predicted latency."""

    def __init__(self, space: SearchSpace, goal: Goal) -> None:
        self.space, self.goal = space, goal
        self.model: CostModel | None = None
        self._measured: list[tuple[Any, float]] = []
        self._latency: LatencyPredictor | None = None
        self._fitted_on = 0

    def use(self, model: CostModel | None) -> None:
        if model is None and self.goal.uses_costs:
            raise ValueError(
                "this study's objectives or limits need the cells' costs before training, and its evaluator "
                "has no cost model: use the train or table evaluator (or synthetic for a dry run)"
            )
        self.model = model

    def costs(self, cells: Sequence[Any]) -> np.ndarray:
        """[len(cells), 2] float: parameters and mult-adds."""
        if self.model is None:
            raise RuntimeError("no cost model: the study driver hands it over before the first ask")
        return np.asarray(self.model.costs(cells), dtype=float).reshape(len(cells), 2)

    def observe(self, cell: Any, result: EvalResult | None) -> None:
        """Keep a trained cell's measured latency for the latency predictor."""
        if result is not None and self.goal.uses_latency:
            latency = result.extra.get("latency_ms")
            if latency is not None:
                self._measured.append((cell, float(latency)))

    def predicted_latency(self, cells: Sequence[Any], costs: np.ndarray | None = None) -> np.ndarray:
        """Predicted ms per cell; NaN while fewer than :data:`MIN_MEASURED` cells were measured."""
        if len(self._measured) < MIN_MEASURED:
            return np.full(len(cells), np.nan)
        if self._latency is None or self._fitted_on != len(self._measured):
            known = [cell for cell, _ in self._measured]
            features = latency_features(self.space, known, self.costs(known))
            self._latency = LatencyPredictor().fit(features, [ms for _, ms in self._measured])
            self._fitted_on = len(self._measured)
        costs = self.costs(cells) if costs is None else costs
        return self._latency.predict(latency_features(self.space, cells, costs))

    def estimate(self, cells: Sequence[Any]) -> dict[str, np.ndarray]:
        """Objective -> estimated values for what the goal uses (``params``, ``mult_adds``, ``latency``)."""
        if not self.goal.uses_costs or not cells:
            return {}
        costs = self.costs(cells)
        out = {"params": costs[:, 0], "mult_adds": costs[:, 1]}
        if self.goal.uses_latency:
            out["latency"] = self.predicted_latency(cells, costs)
        return out

    def within(self, cells: Sequence[Any]) -> np.ndarray:
        """Which cells meet the goal's limits as far as is known before training."""
        if not self.goal.limits:
            return np.ones(len(cells), dtype=bool)
        return self.goal.within(self.estimate(cells))

    def meets_limits(self, result: EvalResult) -> bool:
        """Whether a trained cell's measured values meet every limit."""
        return not self.goal.violations(measured_values(result))

    def objective_matrix(self, accuracy: Sequence[float], estimates: dict[str, np.ndarray]) -> np.ndarray:
        """Rows of the goal's objectives: ``accuracy`` then each cost (unknown latency counts as the worst
        known, so a cell is never preferred for a value nobody has seen)."""
        columns = [np.asarray(accuracy, dtype=float)]
        for name in self.goal.costs:
            column = np.asarray(estimates[name], dtype=float)
            if np.isnan(column).any():
                worst = np.nanmax(column) if not np.isnan(column).all() else 0.0
                column = np.where(np.isnan(column), worst, column)
            columns.append(column)
        return np.stack(columns, axis=1)
