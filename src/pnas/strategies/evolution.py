"""Regularized (aging) evolution (Real, Aggarwal, Huang and Le, AAAI 2019: AmoebaNet).

The population starts with ``population`` random cells. Then each child comes
from a tournament: ``sample`` members drawn at random without replacement, the
one with the best validation accuracy is mutated (``space.mutate``: one input
or one operator changes), the child joins the population and the *oldest*
member leaves, whatever its accuracy. Aging keeps the population young, which
the paper found regularizes against cells that were lucky once.

Parallel-safe: with ``batch`` > 1, a whole batch of children is drawn from the
current population before any of them is told, so workers can train it at
once. A failed child never joins the population (it still counts against the
budget). A mutation that lands on a cell already proposed in the study, or
over one of the study's limits, is redrawn, so every proposal trains a new
model. With several objectives a tournament's winner is the contender on the
best Pareto front of the population, then the one with the largest crowding
distance (NSGA-II's crowded comparison), with aging as before.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

import numpy as np

from pnas.evaluation.base import EvalResult
from pnas.objectives import MEASURES, measured_values
from pnas.pareto import crowding_distance, pareto_fronts
from pnas.space.base import SearchSpace
from pnas.strategies.options import EvolutionOptions
from pnas.strategies.random_search import BudgetedStrategy, draw_unseen

MUTATION_ATTEMPTS = 100
"""Mutations of a parent tried for an unseen child before falling back to a random cell."""


def default_population(budget: int) -> int:
    """A quarter of the budget, between 4 and 100 (Real et al. used P = 100 over 20k models).

    A population larger than the budget would leave no room for evolution; a
    quarter leaves three quarters of the budget to tournaments.
    """
    return max(4, min(100, budget // 4))


def default_sample(population: int) -> int:
    """A quarter of the population, at least 2 but never more than the population
    (Real et al.'s main CIFAR-10 run: P = 100, S = 25)."""
    return min(population, max(2, population // 4))


class RegularizedEvolution(BudgetedStrategy):
    """Aging evolution with tournament selection over ``budget`` trained models."""

    name = "evolution"
    options_class = EvolutionOptions
    options: EvolutionOptions

    def __init__(self, space: SearchSpace, options: EvolutionOptions | None = None, **values: Any) -> None:
        super().__init__(space, options, **values)
        population = self.options.population or default_population(self.budget)
        sample = self.options.sample or default_sample(population)
        self.options = replace(self.options, population=population, sample=sample)  # stored as chosen
        self.population_size, self.sample_size = population, sample
        if self.sample_size > self.population_size:
            raise ValueError(
                f"sample ({self.sample_size}) must not exceed population ({self.population_size}): "
                "a tournament draws its members from the population"
            )
        self.population: deque[tuple[Any, float]] = deque()
        """(cell, validation accuracy), oldest first."""
        self._values: dict[Any, tuple[float, ...]] = {}
        """Each living member's measured objectives (a Pareto search's tournaments compare these)."""
        self._filled = False

    def propose(self, n: int) -> list[Any]:
        cells: list[Any] = []
        batch_seen: set[Any] = set()
        members = list(self.population)
        # Random cells until the population first reaches its size (failed ones are replaced);
        # from then on it only changes by aging.
        random_left = 0 if self._filled else self.population_size - len(members)
        for _ in range(n):
            if random_left > 0:
                cell = self.random_unseen(batch_seen)
                random_left -= 1
            else:
                cell = self._child(members, batch_seen)
            if cell is None:
                break
            cells.append(cell)
            batch_seen.add(cell)
        return cells

    def _child(self, members: list[tuple[Any, float]], batch_seen: set[Any]) -> Any | None:
        """Tournament: mutate the best of ``sample`` random members (an unseen mutation if possible)."""
        if not members:
            return self.random_unseen(batch_seen)
        contenders = self.rng.sample(members, min(self.sample_size, len(members)))
        if self.goal.multi:
            parent = self._pareto_winner(members, contenders)
        else:
            parent = max(contenders, key=lambda member: member[1])[0]
        child = draw_unseen(
            lambda: self.space.mutate(parent, self.rng),
            lambda c: self.excluded(c, batch_seen),
            MUTATION_ATTEMPTS,
        )
        return child if child is not None else self.random_unseen(batch_seen)

    def _pareto_winner(self, members: list[tuple[Any, float]], contenders: list[tuple[Any, float]]) -> Any:
        """NSGA-II's crowded comparison within the population: the contender on the best front, then the
        one with the most room around it, then the oldest."""
        points = np.array([self._values[cell] for cell, _ in members])
        rank = np.empty(len(members), dtype=int)
        crowding = np.empty(len(members))
        for number, front in enumerate(pareto_fronts(points, self.goal.maximize)):
            rank[front] = number
            crowding[front] = crowding_distance(points[front], self.goal.maximize)
        position = {cell: i for i, (cell, _) in enumerate(members)}
        best = min(contenders, key=lambda m: (rank[position[m[0]]], -crowding[position[m[0]]], position[m[0]]))
        return best[0]

    def observe(self, cell: Any, result: EvalResult | None, batch_done: bool) -> None:
        if result is None:
            return
        self.population.append((cell, result.accuracy))
        if self.goal.multi:
            values = measured_values(result)
            self._values[cell] = tuple(float(values[MEASURES[name]] or 0.0) for name in self.goal.objectives)
        if len(self.population) > self.population_size:
            gone, _ = self.population.popleft()
            self._values.pop(gone, None)
        if len(self.population) == self.population_size:
            self._filled = True
