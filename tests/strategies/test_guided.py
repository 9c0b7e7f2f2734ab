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


ZERO_COST = {"predictor_options": {"epochs": 30, "features": "paths,zero-cost"}, "pool": 40, "screen": 6}


def test_costly_features_are_computed_only_for_trained_cells_and_the_first_ranking_best(zero_cost_rows):
    computed = zero_cost_rows
    strategy = GuidedSearch(Nb201Space(), seed=7, budget=12, initial=5, **ZERO_COST)
    cells = drive(strategy, TableEvaluator())
    steps = len(strategy.step_seconds)
    assert steps == 7 and len(computed) == len(set(computed))  # each cell scored once
    assert len(computed) <= len(cells) + 6 * steps < 40 * steps  # not the whole pool of every step


def test_zero_cost_rows_are_kept_in_the_study_and_not_computed_again_on_resume(tmp_path, zero_cost_rows):
    computed = zero_cost_rows

    def make():
        return GuidedSearch(Nb201Space(), seed=6, budget=10, initial=5, **ZERO_COST)

    counts: dict[str, int] = {}
    storage = str(tmp_path / "s.db")
    with pytest.raises(Interrupted):
        optimize(make(), CountingEvaluator(counts, stop_after=7), storage=storage, study_name="s")
    before_kill = set(computed)
    assert before_kill
    computed.clear()
    with optimize(make(), CountingEvaluator(counts), storage=storage, study_name="s") as study:
        resumed = trials_of(study)
    assert computed and not set(computed) & before_kill  # only the steps after the kill score cells
    computed.clear()
    optimize(make(), CountingEvaluator(counts), storage=storage, study_name="s").close()
    assert computed == []  # the finished study replays from its stored rows alone
    assert resumed == trials_of(optimize(make(), CountingEvaluator({}), storage=None, study_name="s"))


def test_the_pnas_pool_holds_progressive_expansions_of_the_best_cells():
    space = PnasSpace(blocks=3)
    strategy = GuidedSearch(space, seed=2, budget=20, **FAST)
    drive(strategy, SyntheticEvaluator())
    parents = [cell for cell, _ in sorted(strategy.history, key=lambda item: -item[1])[:10]]
    prefixes = {parent.blocks[:-1] for parent in parents}
    pool = strategy._pool()
    expanded = [cell for cell in pool if cell.blocks[:-1] in prefixes]
    assert len(expanded) >= 0.25 * len(pool) - 2  # the expansion share, and some mutations land there too
    without = GuidedSearch(space, seed=2, budget=20, expand=0.0, **FAST)
    drive(without, SyntheticEvaluator())
    assert sum(cell.blocks[:-1] in prefixes for cell in without._pool()) < len(expanded)


def test_studies_from_before_screening_and_expansions_resume_as_they_ran():
    from pnas.search import SearchConfig, build_search

    specs = STRATEGIES.component("guided").specs
    assert specs["screen"].absent_means == 0 and specs["expand"].absent_means == 0.0
    new = build_search(SearchConfig(strategy="guided", seed=0, budget=30)).config
    assert new["strategy"]["screen"] == 50 and new["strategy"]["expand"] == 0.25
    earlier = {**new, "strategy": {k: v for k, v in new["strategy"].items() if k not in ("screen", "expand")}}
    resumed = build_search(SearchConfig(strategy="guided", seed=0, budget=30), stored=earlier).config
    assert resumed["strategy"]["screen"] == 0 and resumed["strategy"]["expand"] == 0.0
    with pytest.raises(ValueError, match="expand"):
        GuidedSearch(PnasSpace(blocks=2), expand=1.5)
    with pytest.raises(ValueError, match="screen"):
        GuidedSearch(PnasSpace(blocks=2), screen=-1)


def test_each_step_records_its_fitting_and_ranking_seconds_in_the_study(tmp_path):
    def make():
        return GuidedSearch(Nb201Space(), seed=8, budget=9, initial=5, **FAST)

    storage = str(tmp_path / "s.db")
    with optimize(make(), TableEvaluator(), storage=storage, study_name="s") as study:
        rounds = study.rounds()
    assert [r.fit_seconds is None for r in rounds] == [True] * 5 + [False] * 4  # the random start fits nothing
    assert all(r.fit_seconds > 0 and r.rank_seconds > 0 for r in rounds[5:])
    with optimize(make(), TableEvaluator(), storage=storage, study_name="s") as again:
        assert [r.to_json() for r in again.rounds()] == [r.to_json() for r in rounds]  # a replay keeps them
