"""The predictor-guided local search: budget, no repeats, resume by replay, pools near the best, payoff."""

from __future__ import annotations

import statistics

import pytest
from strategy_support import CountingEvaluator, Interrupted, trials_of

from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.evaluation.table import TableEvaluator
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies import STRATEGIES
from pnas.strategies.guided import GuidedSearch, default_initial
from pnas.study import optimize

FAST = {"predictor_options": {"epochs": 60}, "pool": 120}


def drive(strategy, evaluator) -> list:
    strategy.use_cost_model(evaluator.cost_model())
    cells = []
    while proposals := strategy.ask():
        for proposal in proposals:
            cells.append(proposal.cell)
            strategy.tell(proposal, evaluator.evaluate(proposal.cell))
    return cells


@pytest.mark.parametrize("space", [Nb201Space(), PnasSpace(blocks=2)], ids=["nb201", "pnas"])
def test_stops_at_its_budget_and_never_proposes_a_cell_twice(space):
    strategy = GuidedSearch(space, seed=1, budget=24, batch=3, **FAST)
    cells = drive(strategy, SyntheticEvaluator())
    assert len(cells) == 24 and len(set(cells)) == 24
    assert strategy.step_seconds and all(s["fit"] >= 0 and s["rank"] >= 0 for s in strategy.step_seconds)


def test_initial_cells_default_to_a_fifth_of_the_budget():
    assert default_initial(25) == 5 and default_initial(100) == 20 and default_initial(3) == 3
    strategy = GuidedSearch(Nb201Space(), seed=0, budget=30, **FAST)
    assert strategy.initial == 6


def _edges_apart(a, b) -> int:
    return sum(x != y for x, y in zip(a.ops, b.ops))


def test_the_pool_holds_mutations_one_or_two_changes_from_the_best_cells_and_some_random_ones():
    evaluator = TableEvaluator()
    strategy = GuidedSearch(Nb201Space(), seed=3, budget=40, **FAST)
    drive_cells = []
    while len(strategy.history) < 12 and (proposals := strategy.ask()):
        for proposal in proposals:
            drive_cells.append(proposal.cell)
            strategy.tell(proposal, evaluator.evaluate(proposal.cell))
    parents = [cell for cell, _ in sorted(strategy.history, key=lambda item: -item[1])[:10]]
    pool = strategy._pool()
    assert len(pool) == len(set(pool)) and not set(pool) & set(drive_cells)
    near = [min(_edges_apart(cell, parent) for parent in parents) for cell in pool]
    assert sum(d in (1, 2) for d in near) >= 0.85 * len(pool)
    assert any(d > 2 for d in near), "a share of random cells keeps the pool from one neighbourhood"


def test_pnas_space_pool_cells_are_valid_cells_of_the_space():
    space = PnasSpace(blocks=3)
    strategy = GuidedSearch(space, seed=2, budget=20, **FAST)
    drive(strategy, SyntheticEvaluator())
    for cell in strategy._pool():
        assert cell.num_blocks == 3 and space.parse(space.format(cell)) == cell


def test_limits_hold_for_every_proposal():
    evaluator = TableEvaluator()
    cells = drive(GuidedSearch(Nb201Space(), seed=4, budget=30, max_params=300_000, **FAST), evaluator)
    assert all(evaluator.evaluate(cell).params <= 300_000 for cell in cells)


def test_an_interrupted_guided_study_resumes_to_the_uninterrupted_study(tmp_path):
    def make():
        return GuidedSearch(Nb201Space(), seed=5, budget=20, batch=2, acquisition="thompson", **FAST)

    counts: dict[str, int] = {}
    storage = str(tmp_path / "s.db")
    with pytest.raises(Interrupted):
        optimize(make(), CountingEvaluator(counts, stop_after=11), storage=storage, study_name="s")
    with optimize(make(), CountingEvaluator(counts), storage=storage, study_name="s") as study:
        assert max(counts.values()) == 1 and len(counts) == 20
        resumed = trials_of(study)
    assert resumed == trials_of(optimize(make(), CountingEvaluator({}), storage=None, study_name="s"))


def test_registered_with_the_fast_predictor_by_default():
    from pnas.search import SearchConfig, build_search

    built = build_search(SearchConfig(space="nb201", strategy="guided", budget=30))
    assert built.config["predictor"]["name"] == "feature-mlp"
    assert built.config["strategy"]["acquisition"] == "ei"
    assert isinstance(STRATEGIES.create("guided", Nb201Space(), budget=10), GuidedSearch)


def test_guided_beats_evolution_on_a_synthetic_objective_at_a_small_budget():
    evaluator = SyntheticEvaluator(seed=1)
    space = PnasSpace(blocks=3)
    budget = 30

    def best(strategy) -> float:
        return max(evaluator.evaluate(cell).accuracy for cell in drive(strategy, evaluator))

    guided = [best(GuidedSearch(space, seed=s, budget=budget, **FAST)) for s in range(10)]
    evolution = [best(STRATEGIES.create("evolution", space, seed=s, budget=budget)) for s in range(10)]
    assert statistics.mean(guided) > statistics.mean(evolution)
