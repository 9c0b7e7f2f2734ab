"""Shapes, variable lengths, seeding, weights and errors of the built-in predictors."""

import numpy as np
import pytest
import torch

from pnas.predictors import PREDICTORS, Ensemble, create_predictor
from pnas.predictors.ensemble import fold_indices
from pnas.space import Nb201Space

from .helpers import random_cells, synthetic_accuracy

QUICK = {"epochs": 3}
NEURAL = ["lstm", "mlp"]


def quick(name, space, **kwargs):
    options = QUICK if name != "random" else {}
    return create_predictor(name, space, **kwargs, **options)


@pytest.fixture(scope="module")
def data(space):
    cells = random_cells(40, (1, 2), seed=1, space=space)
    return cells, [synthetic_accuracy(c) for c in cells]


def test_registry_names_and_unknown_name():
    assert {"lstm", "mlp", "random"} <= set(PREDICTORS.names())
    with pytest.raises(ValueError, match="unknown predictor 'gbdt'"):
        create_predictor("gbdt", Nb201Space())


@pytest.mark.parametrize("name", ["lstm", "mlp", "random"])
@pytest.mark.parametrize("ensemble", [1, 3])
def test_predicts_longer_and_mixed_length_cells_in_0_1(space, data, name, ensemble):
    cells, accuracies = data
    predictor = quick(name, space, seed=0, ensemble=ensemble)
    predictor.fit(cells, accuracies)  # 1- and 2-block cells
    mixed = random_cells(30, (1, 5), seed=2, space=space)
    scores = predictor.predict(mixed)
    assert scores.shape == (30,) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1))
    assert len(np.unique(scores)) > 20  # cells are told apart
    # a cell's score does not depend on the other cells of the batch
    alone = np.concatenate([predictor.predict([c]) for c in mixed[:5]])
    np.testing.assert_allclose(alone, scores[:5], atol=1e-6)


@pytest.mark.parametrize("name", NEURAL)
def test_works_on_nb201_with_empty_and_full_cells(name):
    space = Nb201Space()
    cells = space.all_cells()[::97]
    levels = {space.level(c) for c in cells}
    assert 0 in levels or min(levels) <= 1
    predictor = quick(name, space, seed=0)
    predictor.fit(cells, [0.1 + 0.1 * space.level(c) for c in cells])
    empty = space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    scores = predictor.predict([empty] + cells)
    assert scores.shape == (len(cells) + 1,) and np.all((scores >= 0) & (scores <= 1))


@pytest.mark.parametrize("name", ["lstm", "mlp", "random"])
@pytest.mark.parametrize("ensemble", [1, 2])
def test_same_seed_is_bit_identical_and_other_seeds_differ(space, data, name, ensemble):
    cells, accuracies = data
    test = random_cells(20, (2, 3), seed=3, space=space)
    runs = []
    for seed in (5, 5, 6):
        predictor = quick(name, space, seed=seed, ensemble=ensemble)
        predictor.fit(cells, accuracies)
        runs.append(predictor.predict(test))
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("name", NEURAL)
def test_refitting_starts_again_from_the_seed(space, data, name):
    cells, accuracies = data
    predictor = quick(name, space, seed=1)
    predictor.fit(cells[:10], accuracies[:10])
    predictor.fit(cells, accuracies)
    fresh = quick(name, space, seed=1)
    fresh.fit(cells, accuracies)
    assert np.array_equal(predictor.predict(cells), fresh.predict(cells))


@pytest.mark.parametrize("name", NEURAL)
def test_the_global_rng_is_left_alone(space, data, name):
    cells, accuracies = data
    before = torch.random.get_rng_state().clone()
    predictor = quick(name, space, seed=0, ensemble=2)
    predictor.fit(cells, accuracies)
    predictor.predict(cells)
    assert torch.equal(before, torch.random.get_rng_state())


@pytest.mark.parametrize("name", ["lstm", "mlp", "random"])
@pytest.mark.parametrize("ensemble", [1, 3])
def test_state_dict_round_trip_gives_identical_predictions(space, data, name, ensemble):
    cells, accuracies = data
    predictor = quick(name, space, seed=7, ensemble=ensemble)
    predictor.fit(cells, accuracies)
    state = predictor.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    fresh = quick(name, space, seed=7, ensemble=ensemble)
    fresh.load_state_dict({k: v.clone() for k, v in state.items()})
    assert np.array_equal(fresh.predict(cells), predictor.predict(cells))


def test_weights_of_another_shape_are_refused(space, data):
    cells, accuracies = data
    small = create_predictor("mlp", space, hidden=8, epochs=1)
    small.fit(cells, accuracies)
    with pytest.raises(ValueError, match="same space and options"):
        create_predictor("mlp", space).load_state_dict({k + "x": v for k, v in small.state_dict().items()})
    with pytest.raises(ValueError, match="do not fit"):
        create_predictor("mlp", space).load_state_dict(small.state_dict())


@pytest.mark.parametrize("name", NEURAL)
def test_predict_before_fit_is_refused(space, name):
    with pytest.raises(ValueError, match="not been fitted"):
        create_predictor(name, space).predict(random_cells(2, (1, 1), seed=0))


@pytest.mark.parametrize(
    "accuracies, message",
    [([93.0, 95.0], "divide percentages by 100"), ([0.5], "one accuracy per cell"), ([0.5, float("nan")], "NaN")],
)
def test_bad_accuracies_are_refused(space, accuracies, message):
    cells = random_cells(2, (1, 1), seed=0)
    for name in ("lstm", "random"):
        with pytest.raises(ValueError, match=message):
            create_predictor(name, space, ensemble=2).fit(cells, accuracies)


def test_bad_options_are_refused(space):
    with pytest.raises(ValueError, match="unknown predictor option.*hiden"):
        create_predictor("lstm", space, hiden=10)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        create_predictor("mlp", space, epochs=0)
    with pytest.raises(ValueError, match="ensemble must be a positive integer"):
        create_predictor("mlp", space, ensemble=0)
    with pytest.raises(ValueError, match="takes no options"):
        create_predictor("random", space, epochs=3)


def test_ensemble_members_each_leave_out_a_different_fifth():
    folds = fold_indices(100, 5, seed=0)
    left_out = [set(range(100)) - set(keep.tolist()) for keep in folds]
    assert all(len(keep) == 80 for keep in folds)
    assert set().union(*left_out) == set(range(100))  # every cell left out exactly once
    assert sum(len(s) for s in left_out) == 100
    assert not np.array_equal(fold_indices(100, 5, seed=1)[0], folds[0])
    assert all(len(keep) >= 1 for keep in fold_indices(2, 5, seed=0))


def test_ensemble_averages_its_members(space, data):
    cells, accuracies = data
    ensemble = create_predictor("mlp", space, ensemble=3, epochs=2)
    assert isinstance(ensemble, Ensemble) and len(ensemble.members) == 3
    ensemble.fit(cells, accuracies)
    members = np.mean([m.predict(cells) for m in ensemble.members], axis=0)
    np.testing.assert_allclose(ensemble.predict(cells), members, atol=1e-6)


def test_ensemble_fitted_on_parallel_threads_equals_one_by_one(space, data):
    cells, accuracies = data
    before = torch.get_num_threads()
    runs = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            ensemble = create_predictor("lstm", space, seed=4, ensemble=3, epochs=2)
            ensemble.fit(cells, accuracies)
            assert torch.get_num_threads() == threads
            runs.append(ensemble.predict(cells))
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(runs[0], runs[1])
