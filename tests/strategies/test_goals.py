"""Objectives and limits in every strategy: proposals within the limits, Pareto selection, its payoff."""

from __future__ import annotations

import random
import statistics

import numpy as np
import pytest

from pnas.evaluation.base import EvalResult
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.evaluation.table import TableEvaluator
from pnas.pareto import hypervolume
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies import STRATEGIES

BASELINES = {
    "random": {"budget": 40},
    "evolution": {"budget": 40, "population": 8, "batch": 4},
    "reinforce": {"budget": 24, "batch": 4},
}
PROGRESSIVE = {"beam": 6, "predictor": "mlp", "ensemble": 1, "predictor_options": {"epochs": 5}}


def drive(strategy, evaluator, tamper=None) -> list[tuple[object, EvalResult]]:
    """Run a strategy to the end; ``tamper`` may change each result before it is told."""
    strategy.use_cost_model(evaluator.cost_model())
    told = []
    while proposals := strategy.ask():
        for proposal in proposals:
            result = evaluator.evaluate(proposal.cell)
            if tamper is not None:
                result = tamper(proposal.cell, result)
            told.append((proposal.cell, result))
            strategy.tell(proposal, result)
    return told


@pytest.mark.parametrize("name", [*BASELINES, "pnas"])
def test_every_proposal_of_every_strategy_is_within_the_parameter_limit(name):
    evaluator = TableEvaluator()
    options = BASELINES.get(name, PROGRESSIVE)
    cap = 300_000
    strategy = STRATEGIES.create(name, Nb201Space(), seed=3, max_params=cap, **options)
    told = drive(strategy, evaluator)
    assert len(told) >= 20
    assert all(result.params <= cap for _, result in told)
    unlimited = drive(STRATEGIES.create(name, Nb201Space(), seed=3, **options), evaluator)
    assert any(result.params > cap for _, result in unlimited), "the cap must bind for this test to mean anything"


@pytest.mark.parametrize("name", [*BASELINES, "pnas"])
def test_mult_add_limits_hold_in_the_pnas_space(name):
    evaluator = SyntheticEvaluator()
    space = PnasSpace(blocks=2)
    one_block = evaluator.cost_model().costs(space.initial_cells())[:, 1]
    cap = int(np.median(one_block))
    strategy = STRATEGIES.create(name, space, seed=1, max_mult_adds=cap, **BASELINES.get(name, PROGRESSIVE))
    told = drive(strategy, evaluator)
    assert told and all(result.mult_adds <= cap for _, result in told)


def test_a_limit_no_first_cell_meets_is_refused_clearly():
    strategy = STRATEGIES.create("pnas", Nb201Space(), max_params=1000, **PROGRESSIVE)
    strategy.use_cost_model(TableEvaluator().cost_model())
    with pytest.raises(ValueError, match="no cell of one level meets the limits"):
        strategy.ask()


def test_a_goal_with_costs_needs_a_cost_model():
    strategy = STRATEGIES.create("random", Nb201Space(), objectives="accuracy,params", budget=5)
    with pytest.raises(ValueError, match="has no cost model"):
        strategy.use_cost_model(None)


def test_a_child_over_a_measured_limit_is_not_expanded_nor_kept():
    """Latency is known only once measured: a child over the limit is never a parent nor a member."""
    evaluator = SyntheticEvaluator()
    slow = "sep7x7"

    def with_latency(cell, result):
        ms = 50.0 if slow in str(cell) else 5.0
        return EvalResult(result.accuracy, params=result.params, mult_adds=result.mult_adds, extra={"latency_ms": ms})

    strategy = STRATEGIES.create("pnas", PnasSpace(blocks=2), max_latency_ms=20.0, **PROGRESSIVE)
    drive(strategy, evaluator, with_latency)
    assert strategy.history and all(slow not in str(c) for c in strategy.kept)
    evolution = STRATEGIES.create("evolution", PnasSpace(blocks=2), max_latency_ms=20.0, budget=30, population=6)
    drive(evolution, evaluator, with_latency)
    assert all(slow not in str(c) for c, _ in evolution.population)


def test_latency_is_predicted_from_measured_children_and_limits_later_proposals():
    evaluator = SyntheticEvaluator()

    def with_latency(cell, result):
        return EvalResult(
            result.accuracy, params=result.params, mult_adds=result.mult_adds,
            extra={"latency_ms": 1.0 + result.params / 1000.0},
        )  # fmt: skip

    space = PnasSpace(blocks=3)
    rng = random.Random(0)
    sample = [space.random_cell(rng) for _ in range(200)]
    cap = float(np.median(1.0 + evaluator.cost_model().costs(sample)[:, 0] / 1000.0))
    strategy = STRATEGIES.create("random", space, seed=0, budget=60, batch=10, max_latency_ms=cap)
    told = drive(strategy, evaluator, with_latency)
    first = [r.extra["latency_ms"] for _, r in told[:10]]
    later = [r.extra["latency_ms"] for _, r in told[20:]]
    assert any(ms > cap for ms in first), "the first batch is drawn before any latency is known"
    assert np.mean([ms <= cap for ms in later]) > 0.9


def _volume(told, bound) -> float:
    return hypervolume([(r.accuracy, r.params / bound) for _, r in told], [True, False], [0.0, 1.0])


def test_pareto_progressive_search_beats_random_search_on_a_synthetic_two_objective_space():
    evaluator = SyntheticEvaluator()
    space = PnasSpace(blocks=2)
    bound = evaluator.cost_model().bound(2)[0]
    pareto, rand = [], []
    for seed in range(10):
        told = drive(
            STRATEGIES.create("pnas", space, seed=seed, objectives="accuracy,params", **PROGRESSIVE), evaluator
        )
        pareto.append(_volume(told, bound))
        budget = len(told)
        rand.append(
            _volume(
                drive(
                    STRATEGIES.create("random", space, seed=seed, objectives="accuracy,params", budget=budget),
                    evaluator,
                ),
                bound,
            )
        )
    assert statistics.mean(pareto) > statistics.mean(rand)


def test_pareto_evolution_chooses_parents_by_front():
    """With two objectives a small cell of lower accuracy survives tournaments that accuracy alone loses."""
    evaluator = SyntheticEvaluator()
    space = PnasSpace(blocks=2)
    pareto = STRATEGIES.create("evolution", space, seed=4, objectives="accuracy,params", budget=40, population=8)
    plain = STRATEGIES.create("evolution", space, seed=4, budget=40, population=8)
    a, b = drive(pareto, evaluator), drive(plain, evaluator)
    assert [c for c, _ in a][:8] == [c for c, _ in b][:8]  # the same random start
    assert [c for c, _ in a] != [c for c, _ in b]  # then other parents


def test_single_objective_configs_keep_the_paper_rule():
    """Accuracy alone and no limits: the same proposals as a strategy built without any goal option."""
    evaluator = SyntheticEvaluator()
    explicit = STRATEGIES.create("pnas", PnasSpace(blocks=2), objectives="accuracy", **PROGRESSIVE)
    default = STRATEGIES.create("pnas", PnasSpace(blocks=2), **PROGRESSIVE)
    assert [c for c, _ in drive(explicit, evaluator)] == [c for c, _ in drive(default, evaluator)]


def test_pareto_guided_search_spreads_along_the_front_that_accuracy_alone_ignores():
    """Two objectives: the guided search's hypervolume beats random search's and its own accuracy-only run's."""
    evaluator = SyntheticEvaluator()
    space = PnasSpace(blocks=2)
    bound = evaluator.cost_model().bound(2)[0]
    fast = {"predictor_options": {"epochs": 60}, "pool": 120, "budget": 30}
    volumes: dict[str, list[float]] = {"pareto": [], "accuracy": [], "random": []}
    for seed in range(6):
        for key, strategy, goal in (
            ("pareto", "guided", {"objectives": "accuracy,params", **fast}),
            ("accuracy", "guided", fast),
            ("random", "random", {"objectives": "accuracy,params", "budget": 30}),
        ):
            told = drive(STRATEGIES.create(strategy, space, seed=seed, **goal), evaluator)
            volumes[key].append(_volume(told, bound))
    means = {key: statistics.mean(values) for key, values in volumes.items()}
    assert means["pareto"] > means["random"] and means["pareto"] > means["accuracy"], means
