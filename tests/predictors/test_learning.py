"""Each predictor must learn a target with structure and rank unseen, longer cells."""

import numpy as np
import pytest
from scipy import stats

from pnas.predictors import create_predictor

from .helpers import random_cells, synthetic_accuracy


@pytest.fixture(scope="module")
def split(space):
    cells = random_cells(400, (1, 3), seed=11, space=space)
    train, held_out = cells[:250], [c for c in cells[250:] if len(c) >= 2]
    held_out += random_cells(100, (4, 4), seed=12, space=space)  # longer than anything trained on
    return train, held_out


@pytest.mark.parametrize("name", ["lstm", "mlp"])
@pytest.mark.parametrize("ensemble", [1, 5])
def test_ranks_held_out_cells(split, space, name, ensemble):
    train, held_out = split
    predictor = create_predictor(name, space, seed=0, ensemble=ensemble)
    predictor.fit(train, [synthetic_accuracy(c) for c in train])
    rho = stats.spearmanr(predictor.predict(held_out), [synthetic_accuracy(c) for c in held_out]).statistic
    assert rho >= 0.6, f"{name} x{ensemble}: Spearman {rho:.3f} on held-out cells"


def test_the_random_control_does_not_rank(split, space):
    train, held_out = split
    predictor = create_predictor("random", space, seed=0)
    predictor.fit(train, [synthetic_accuracy(c) for c in train])
    rho = stats.spearmanr(predictor.predict(held_out), [synthetic_accuracy(c) for c in held_out]).statistic
    assert abs(rho) < 0.3
    assert np.all(predictor.predict(held_out) == predictor.predict(held_out))
