"""The progressive search's algorithm, with a deterministic stand-in evaluator and predictor."""

import numpy as np
import pytest

from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.predictors import PREDICTORS
from pnas.predictors.ranking import expand
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies.progressive import ProgressiveSearch, top_k_unique
from pnas.study import optimize

FITS: list[int] = []


class OraclePredictor:
    """Scores cells with the synthetic objective itself (perfect ranking); counts fits."""

    def __init__(self, space, *, seed=0, ensemble=1):
        self.objective = SyntheticEvaluator(seed=1)

    def fit(self, cells, accuracies):
        FITS.append(len(cells))

    def predict(self, cells):
        return np.array([self.objective.score(str(c)) for c in cells])


PREDICTORS.register("test-oracle", OraclePredictor)


def test_rounds_train_all_initial_cells_then_the_predicted_top_k():
    FITS.clear()
    space = PnasSpace(3)
    strategy = ProgressiveSearch(space, beam=6, predictor="test-oracle")
    study = optimize(strategy, SyntheticEvaluator(seed=1))
    rounds = {r.b: r for r in study.rounds()}
    assert (rounds[1].done, rounds[2].done, rounds[3].done) == (136, 6, 6)
    assert FITS == [136, 142]  # refit on everything seen before each new round
    level2 = [t for t in study.trials() if t.round == 2]
    children = expand(space, space.initial_cells())
    scores = OraclePredictor(space).predict(children)
    expected = {str(c) for c, _ in top_k_unique(children, scores, 6)}
    assert {t.cell for t in level2} == expected
    assert all(t.predicted is not None for t in level2)
    # with a perfect predictor the chosen children are the best of the whole expansion
    assert min(t.accuracy for t in level2) >= np.sort(scores)[-6] - 1e-12
    assert rounds[2].spearman == pytest.approx(1.0)


def test_only_successful_children_are_expanded():
    space = PnasSpace(2)
    strategy = ProgressiveSearch(space, beam=4, predictor="test-oracle")
    first = strategy.ask()
    for i, p in enumerate(first):
        strategy.tell(p, None if i >= 2 else SyntheticEvaluator().evaluate(p.cell))
    second = strategy.ask()
    parents = {str(p.cell).split(";")[0] for p in second}
    assert parents <= {str(first[0].cell), str(first[1].cell)}
    assert len(second) == 4 and all(p.round == 2 for p in second)
    for p in second:
        strategy.tell(p, None)
    assert strategy.ask() == []


def test_top_k_unique_skips_duplicates_and_keeps_ties_stable():
    chosen = top_k_unique(["a", "b", "a", "c", "d"], np.array([0.5, 0.9, 0.95, 0.9, 0.1]), 3)
    assert chosen == [("a", 0.95), ("b", 0.9), ("c", 0.9)]


def test_runs_on_nb201_from_one_edge_cells_up():
    space = Nb201Space()
    strategy = ProgressiveSearch(space, beam=5, predictor="test-oracle")
    study = optimize(strategy, SyntheticEvaluator())
    counts = [r.done + r.failed for r in study.rounds()]
    assert counts == [24, 5, 5, 5, 5, 5]


def test_bad_settings_fail_at_once():
    with pytest.raises(ValueError, match="beam"):
        ProgressiveSearch(PnasSpace(2), beam=0)
    with pytest.raises(ValueError, match="unknown predictor 'nope'"):
        ProgressiveSearch(PnasSpace(2), predictor="nope")
