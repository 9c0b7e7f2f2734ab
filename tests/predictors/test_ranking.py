"""Scoring a whole expansion: the fast path must equal predict() on every child."""

import numpy as np
import pytest
import torch

from pnas.predictors import create_predictor, score_expansion
from pnas.predictors.expansion import appended_blocks, build_expansion
from pnas.predictors.ranking import expand, top_k
from pnas.space import Cell, Nb201Space, PnasSpace

from .helpers import random_cells, synthetic_accuracy


@pytest.fixture(scope="module")
def parents(space):
    # mixed lengths, so parents of different levels share one expansion
    return random_cells(3, (2, 2), seed=21, space=space) + random_cells(2, (1, 1), seed=22, space=space)


@pytest.mark.parametrize("name", ["lstm", "mlp", "random"])
@pytest.mark.parametrize("ensemble", [1, 2])
def test_fast_path_equals_predict(space, parents, name, ensemble):
    train = random_cells(60, (1, 2), seed=23, space=space)
    predictor = create_predictor(name, space, seed=3, ensemble=ensemble, **({} if name == "random" else {"epochs": 5}))
    predictor.fit(train, [synthetic_accuracy(c) for c in train])
    children, scores = score_expansion(predictor, space, parents)
    assert children == expand(space, parents)
    assert len(children) == 3 * 528 + 2 * 300
    naive = predictor.predict(children)
    np.testing.assert_allclose(scores, naive, atol=1e-5, rtol=0)
    assert np.std(scores) > 1e-3


def test_slow_path_for_a_space_without_appended_blocks():
    space = Nb201Space()
    assert not space.children_append_one_block
    predictor = create_predictor("mlp", space, seed=0, epochs=2)
    cells = space.all_cells()[1::50]
    predictor.fit(cells, [0.5] * len(cells))
    parents = space.initial_cells()[:3]
    children, scores = score_expansion(predictor, space, parents)
    assert len(children) == 3 * 5 * 4
    np.testing.assert_array_equal(scores, predictor.predict(children))


def test_a_predictor_without_fast_path_is_called_on_the_children(space):
    class ByBlocks:
        def fit(self, cells, accuracies):
            pass

        def predict(self, cells):
            return np.array([len(c) / 10 for c in cells])

    children, scores = score_expansion(ByBlocks(), space, [Cell.parse("sep3x3(h1)+identity(h2)")])
    assert len(children) == 300 and np.all(scores == 0.2)


@pytest.mark.parametrize("blocks", [1, 2, 3, 4])
def test_pnas_appended_blocks_follow_the_space_children(space, blocks):
    parent = random_cells(1, (blocks, blocks), seed=blocks)[0]
    expected = [space.encode(child)[-1] for child in space.children(parent)]
    assert appended_blocks(space, parent) == expected


def test_no_children_past_the_last_level():
    space = PnasSpace(2)
    parent = Cell.parse("sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)")
    assert appended_blocks(space, parent) == [] and expand(space, [parent]) == []
    assert len(build_expansion(space, [parent])) == 0


def test_trie_shares_prefixes(space):
    parent = Cell.parse(
        "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1); sep3x3(b2)+sep3x3(h2); avg3x3(b3)+identity(b1)"
    )
    expansion = build_expansion(space, [parent, parent])
    assert len(expansion) == 2 * 1176
    # 6 first inputs, 21 ordered input pairs, 168 (pair, first op) per parent
    assert [len(level.up) for level in expansion.levels] == [12, 42, 336]


def test_build_expansion_refuses_a_space_that_inserts_blocks():
    with pytest.raises(ValueError, match="does not build children by appending"):
        build_expansion(Nb201Space(), Nb201Space().initial_cells()[:1])


def test_top_k_is_best_first_and_stable():
    assert top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3).tolist() == [1, 3, 2]


@pytest.mark.parametrize("name", ["lstm", "mlp"])
def test_fast_path_does_not_depend_on_the_thread_count(space, parents, name):
    train = random_cells(30, (1, 2), seed=24, space=space)
    predictor = create_predictor(name, space, seed=0, epochs=1)
    predictor.fit(train, [synthetic_accuracy(c) for c in train])
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = predictor.predict_children(space, parents)
        torch.set_num_threads(2)
        two = predictor.predict_children(space, parents)
        assert torch.get_num_threads() == 2  # the caller's setting is restored
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one, two)
