"""A predictor whose scores are not all numbers stops the round, naming the predictor."""

import math

import numpy as np
import pytest

from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.predictors import PREDICTORS
from pnas.predictors.base import NonFinitePredictions
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies.guided import GuidedSearch
from pnas.strategies.progressive import ProgressiveSearch
from pnas.study import optimize

BROKEN = "test-broken"


class ConstantPredictor:
    """Predicts one value for every cell (NaN or an infinity here); learns nothing."""

    value = math.nan

    def __init__(self, space, *, seed=0, ensemble=1):
        pass

    def fit(self, cells, accuracies):
        pass

    def predict(self, cells):
        scores = np.full(len(cells), 0.5)
        scores[::2] = self.value  # some good scores beside the bad ones
        return scores


@pytest.fixture(params=[math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def broken(request):
    predictor = type("Broken", (ConstantPredictor,), {"value": request.param})
    PREDICTORS.register(BROKEN, predictor)
    yield request.param
    PREDICTORS.unregister(BROKEN)


@pytest.mark.parametrize("acquisition", ["mean", "ucb"])  # scored children, or ensemble members' scores
def test_the_progressive_search_stops_naming_the_predictor(broken, acquisition):
    strategy = ProgressiveSearch(PnasSpace(2), beam=3, predictor=BROKEN, acquisition=acquisition)
    with pytest.raises(NonFinitePredictions, match=f"predictor '{BROKEN}' .* round 2") as error:
        optimize(strategy, SyntheticEvaluator())
    assert "\n" not in str(error.value)


def test_the_guided_search_stops_naming_the_predictor(broken):
    strategy = GuidedSearch(Nb201Space(), seed=0, budget=12, initial=4, batch=2, pool=40, predictor=BROKEN)
    with pytest.raises(NonFinitePredictions, match=f"predictor '{BROKEN}'"):
        optimize(strategy, SyntheticEvaluator())
