"""Pareto fronts, crowding and hypervolume on small hand-made fronts whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnas.pareto import crowding_distance, hypervolume, non_dominated, pareto_fronts, select

ACC_COST = (True, False)  # accuracy maximised, a cost minimised
POINTS = [
    (0.90, 500),  # 0: front 1 (most accurate)
    (0.80, 200),  # 1: front 1
    (0.70, 100),  # 2: front 1 (cheapest)
    (0.75, 300),  # 3: dominated by 1 -> front 2
    (0.60, 400),  # 4: dominated by 1, 2, 3 -> front 3
    (0.85, 350),  # 5: front 1
]


def test_fronts_by_hand():
    assert [f.tolist() for f in pareto_fronts(POINTS, ACC_COST)] == [[0, 1, 2, 5], [3], [4]]
    assert non_dominated(POINTS, ACC_COST).tolist() == [0, 1, 2, 5]
    assert pareto_fronts([], ACC_COST) == []


def test_equal_points_share_a_front():
    assert [f.tolist() for f in pareto_fronts([(0.8, 1), (0.8, 1), (0.7, 2)], ACC_COST)] == [[0, 1], [2]]


def test_crowding_by_hand():
    # ranges: accuracy 0.2, cost 400; the middle point's neighbours span 0.2/0.2 and 400/400, averaged
    d = crowding_distance([(0.9, 500), (0.8, 200), (0.7, 100)], ACC_COST)
    assert np.isinf(d[0]) and np.isinf(d[2]) and d[1] == pytest.approx(1.0)


def test_select_takes_whole_fronts_then_the_most_spread_of_the_next():
    assert sorted(select(POINTS, ACC_COST, 5).tolist()) == [0, 1, 2, 3, 5]
    # three of front 1's four: its extremes (0 and 2) and the one whose neighbours are farther apart
    chosen = sorted(select(POINTS, ACC_COST, 3).tolist())
    assert chosen[0] == 0 and 2 in chosen and len(chosen) == 3


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=30), st.integers(1, 30))
def test_with_accuracy_alone_select_is_the_papers_top_k(accuracies, k):
    chosen = select([(a,) for a in accuracies], (True,), k)
    kept = sorted((accuracies[i] for i in chosen), reverse=True)
    assert kept == sorted(accuracies, reverse=True)[: min(k, len(accuracies))]


def test_hypervolume_by_hand():
    # minimising both after the flip: reference (accuracy 0.5, cost 600)
    front = [(0.9, 500), (0.7, 100)]
    # union of [0.5, 0.9] x [500, 600] and [0.5, 0.7] x [100, 600]: 0.4*100 + 0.2*400 = 120
    assert hypervolume(front, ACC_COST, (0.5, 600)) == pytest.approx(120)
    assert hypervolume(front + [(0.4, 50)], ACC_COST, (0.5, 600)) == pytest.approx(120)  # beyond the reference
    assert hypervolume([], ACC_COST, (0.5, 600)) == 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1000)), min_size=1, max_size=20))
def test_hypervolume_never_falls_as_points_are_added(points):
    volumes = [hypervolume(points[: i + 1], ACC_COST, (0.0, 1000.0)) for i in range(len(points))]
    assert all(b >= a - 1e-9 for a, b in zip(volumes, volumes[1:]))


def test_bad_points_are_refused():
    with pytest.raises(ValueError, match="rows of 2 objectives"):
        pareto_fronts([(1, 2, 3)], ACC_COST)
    with pytest.raises(ValueError, match="finite"):
        pareto_fronts([(float("nan"), 2)], ACC_COST)
