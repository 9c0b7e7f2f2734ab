"""The feature ensemble: learns from few cells, saves and loads exactly, spreads where it does not know."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from pnas.evaluation.table import TableEvaluator
from pnas.predictors import PREDICTORS
from pnas.predictors.features import FeatureEnsemble, parse_features, token_features
from pnas.space import Nb201Space, PnasSpace


def _sample(space, count, seed=0):
    rng = random.Random(seed)
    cells = []
    while len(cells) < count:
        cell = space.random_cell(rng)
        if cell not in cells:
            cells.append(cell)
    return cells


@pytest.fixture(scope="module")
def nb201():
    rows = TableEvaluator().table.fractions("cifar10-val")
    cells = _sample(Nb201Space(), 400, seed=1)
    return cells, [rows[c] for c in cells]


def test_ranks_unseen_nb201_cells_from_a_hundred_trained_ones(nb201):
    cells, accuracies = nb201
    predictor = FeatureEnsemble(Nb201Space(), seed=0)
    predictor.fit(cells[:100], accuracies[:100])
    rho = spearmanr(predictor.predict(cells[100:]), accuracies[100:]).statistic
    assert rho > 0.6


def test_state_round_trip_and_determinism(nb201):
    cells, accuracies = nb201
    a, b = FeatureEnsemble(Nb201Space(), seed=3), FeatureEnsemble(Nb201Space(), seed=3)
    a.fit(cells[:50], accuracies[:50])
    b.fit(cells[:50], accuracies[:50])
    assert np.array_equal(a.predict_members(cells[50:80]), b.predict_members(cells[50:80]))
    loaded = FeatureEnsemble(Nb201Space(), seed=99)
    loaded.load_state_dict(a.state_dict())
    assert np.array_equal(loaded.predict(cells[50:80]), a.predict(cells[50:80]))
    with pytest.raises(ValueError, match="3-member"):
        FeatureEnsemble(Nb201Space(), ensemble=3).load_state_dict(a.state_dict())


def test_members_disagree_more_far_from_the_data(nb201):
    cells, accuracies = nb201
    predictor = FeatureEnsemble(Nb201Space(), seed=0)
    predictor.fit(cells[:60], accuracies[:60])
    seen = predictor.predict_members(cells[:60]).std(axis=0).mean()
    unseen = predictor.predict_members(cells[60:]).std(axis=0).mean()
    assert unseen > seen > 0


def test_pnas_cells_with_tokens_and_paths():
    space = PnasSpace(blocks=2)
    cells = _sample(space, 40)
    targets = [0.5 + 0.01 * sum(b.op1 == "sep3x3" for b in c.blocks) for c in cells]
    predictor = PREDICTORS.create("feature-mlp", space, seed=0, ensemble=3, features="paths,tokens", epochs=50)
    predictor.fit(cells, targets)
    assert predictor.predict(cells).shape == (40,)
    assert token_features(space, cells[:2]).shape == (2, 2 * (2 * 3 + 2 * 8))


def test_bad_features_are_refused():
    with pytest.raises(ValueError, match="unknown feature set 'zero'"):
        parse_features("paths,zero")
    with pytest.raises(ValueError, match="at least one"):
        parse_features(" ")


def test_zero_cost_features_are_standardised_beside_the_paths(nb201):
    cells, accuracies = nb201
    predictor = FeatureEnsemble(Nb201Space(), seed=0, features="paths,zero-cost", epochs=30)
    predictor.fit(cells[:8], accuracies[:8])
    weights = predictor.state_dict()
    zero_cost = weights["spread"] != 1.0
    assert int(zero_cost.sum()) >= 2  # synflow and the counts are scaled; the 0/1 path columns are not
    assert predictor.predict(cells[8:10]).shape == (2,)


def test_zero_cost_rows_with_a_probe_add_the_naswot_score_of_the_proxy_network():
    from pnas.evaluation.base import Probe
    from pnas.nets.zero_cost import naswot
    from pnas.predictors.features import ZeroCostFeatures, proxy_network, zero_cost_row

    space = PnasSpace(blocks=2)
    cell = _sample(space, 1, seed=3)[0]
    images = torch.randn(8, 1, 14, 14, generator=torch.Generator().manual_seed(0))
    probe = Probe(images=images, num_classes=5)
    row = zero_cost_row(space, cell, probe)
    assert row.shape == (4,) and np.isfinite(row).all()
    assert row[3] == pytest.approx(naswot(proxy_network(space, cell, in_channels=1, num_classes=5), images))
    assert zero_cost_row(space, cell).shape == (3,)  # no images: the data-free three
    source = ZeroCostFeatures(space, probe)
    assert source.columns == ("synflow", "params", "mult_adds", "naswot")
    assert np.array_equal(source.rows([cell, cell]), np.stack([row, row])) and source.computed == 1


def test_zero_cost_rows_remembered_from_a_store_are_not_computed_again():
    from pnas.predictors.features import ZeroCostFeatures

    space = Nb201Space()
    cells = _sample(space, 3, seed=4)
    first = ZeroCostFeatures(space)
    rows = first.rows(cells)
    kept, kept_rows = first.take_new()
    assert kept == cells and first.take_new()[0] == []  # each row handed out once
    second = ZeroCostFeatures(space)
    second.remember(kept, kept_rows)
    assert np.array_equal(second.rows(cells), rows) and second.computed == 0
    with pytest.raises(ValueError, match="computed with other features"):
        second.remember(kept, kept_rows[:, :2])


@pytest.fixture
def small_feature_cache():
    """The process's feature caches emptied and limited to 5 cells for the test, emptied again after."""
    import pnas.predictors.features as features

    features.CACHES.reset(limit=5)
    yield features
    features.CACHES.reset()


def test_a_full_feature_cache_starts_over_without_losing_the_rows_asked_for(small_feature_cache):
    features = small_feature_cache
    space = Nb201Space()
    cells = _sample(space, 8, seed=5)
    first = features.cell_features(space, cells[:4], ["paths"])
    both = features.cell_features(space, cells[:4] + cells[4:7], ["paths"])  # 4 known + 3 new > 5
    assert np.array_equal(both[:4], first) and both.shape[0] == 7
