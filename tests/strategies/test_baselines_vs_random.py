"""On objectives with structure, the guided strategies must beat random search.

Same space, same number of trained models, mean best over 10 seeds: a
strategy that loses to random search there is broken, not unlucky.
"""

from __future__ import annotations

import statistics

import pytest

from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.evaluation.table import TableEvaluator
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies import STRATEGIES

SEEDS = range(10)
PNAS_BEAM = 40
PNAS_MODELS = 136 + PNAS_BEAM  # every 1-block cell, then the top K of the 2-block children


def best_accuracy(strategy, evaluator) -> tuple[float, int]:
    """The best validation accuracy a strategy finds, and how many models it trained."""
    best, models = 0.0, 0
    while proposals := strategy.ask():
        for proposal in proposals:
            result = evaluator.evaluate(proposal.cell)
            best = max(best, result.accuracy)
            models += 1
            strategy.tell(proposal, result)
    return best, models


def mean_best(name: str, space_factory, evaluator, expected_models: int, **options) -> float:
    values = []
    for seed in SEEDS:
        best, models = best_accuracy(STRATEGIES.create(name, space_factory(), seed=seed, **options), evaluator)
        assert models == expected_models
        values.append(best)
    return statistics.mean(values)


@pytest.fixture(scope="module")
def synthetic_random() -> float:
    return mean_best("random", lambda: PnasSpace(blocks=2), SyntheticEvaluator(seed=0), PNAS_MODELS, budget=PNAS_MODELS)


def test_evolution_beats_random_search_on_a_synthetic_objective(synthetic_random):
    evolution = mean_best(
        "evolution", lambda: PnasSpace(blocks=2), SyntheticEvaluator(seed=0), PNAS_MODELS, budget=PNAS_MODELS
    )
    assert evolution > synthetic_random + 0.03


def test_progressive_search_beats_random_search_and_its_random_predictor_control(synthetic_random):
    evaluator = SyntheticEvaluator(seed=0)

    def pnas(predictor: str, **options) -> float:
        return mean_best(
            "pnas",
            lambda: PnasSpace(blocks=2),
            evaluator,
            PNAS_MODELS,
            beam=PNAS_BEAM,
            predictor=predictor,
            ensemble=1,
            **options,
        )

    learned = pnas("mlp", predictor_options={"epochs": 20})
    control = pnas("random")
    assert learned > synthetic_random + 0.03
    assert learned > control + 0.03


def test_evolution_beats_random_search_on_nas_bench_201():
    table = TableEvaluator()
    random_search = mean_best("random", Nb201Space, table, 100, budget=100)
    evolution = mean_best("evolution", Nb201Space, table, 100, budget=100)
    assert evolution > random_search + 0.002  # the gap is about 0.8 points of validation accuracy here


@pytest.mark.slow
def test_reinforce_beats_random_search_on_a_synthetic_objective(synthetic_random):
    reinforce = mean_best(
        "reinforce", lambda: PnasSpace(blocks=2), SyntheticEvaluator(seed=0), PNAS_MODELS, budget=PNAS_MODELS
    )
    assert reinforce > synthetic_random + 0.03
