"""Acquisition functions on hand-made means and spreads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnas.predictors.acquisition import choose, member_predictions, scores

# three candidates, four members: a sure mediocre one, an uncertain one, a sure good one
MEMBERS = np.array(
    [
        [0.50, 0.30, 0.70],
        [0.50, 0.90, 0.70],
        [0.50, 0.30, 0.70],
        [0.50, 0.90, 0.70],
    ]
)


def test_mean_is_the_papers_rule():
    assert scores("mean", MEMBERS, best=0.0).tolist() == pytest.approx([0.5, 0.6, 0.7])
    assert choose("mean", MEMBERS, 2, best=0.0) == [2, 1]


def test_ucb_adds_kappa_spreads():
    # spreads: 0 (floored), 0.3, 0 (floored)
    ucb = scores("ucb", MEMBERS, best=0.0, kappa=2.0)
    assert ucb.tolist() == pytest.approx([0.5, 0.6 + 2 * 0.3, 0.7], abs=1e-5)
    assert choose("ucb", MEMBERS, 1, best=0.0, kappa=2.0) == [1]
    assert choose("ucb", MEMBERS, 1, best=0.0, kappa=0.0) == [2]


def test_expected_improvement_matches_its_formula():
    best = 0.75
    ei = scores("ei", MEMBERS, best=best)
    z = (0.6 - best) / 0.3
    phi, cdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi), 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert ei[1] == pytest.approx((0.6 - best) * cdf + 0.3 * phi)
    assert ei[0] == pytest.approx(0.0, abs=1e-9) and ei[2] == pytest.approx(0.0, abs=1e-9)  # sure and below best
    assert choose("ei", MEMBERS, 1, best=best) == [1]  # only the uncertain one may improve


def test_thompson_picks_each_members_favourite_without_repeats():
    members = np.array([[0.9, 0.1, 0.5], [0.1, 0.9, 0.5]])
    rng = np.random.default_rng(0)
    picks = choose("thompson", members, 3, best=0.0, rng=rng)
    assert sorted(picks) == [0, 1, 2]
    again = choose("thompson", members, 3, best=0.0, rng=np.random.default_rng(0))
    assert picks == again  # seeded: a replay draws the same
    with pytest.raises(ValueError, match="random generator"):
        choose("thompson", members, 1, best=0.0)


def test_unknown_acquisition_is_refused():
    with pytest.raises(ValueError, match="unknown acquisition 'pi'"):
        scores("pi", MEMBERS, best=0.0)


def test_member_predictions_of_a_single_model_is_one_row():
    class One:
        def predict(self, cells):
            return np.array([0.1 * len(c) for c in cells])

    assert member_predictions(One(), ["a", "bb"]).shape == (1, 2)


@pytest.mark.parametrize("acquisition", ["ucb", "ei", "thompson"])
def test_the_progressive_search_ranks_its_expansion_by_an_acquisition(acquisition):
    from pnas.evaluation.synthetic import SyntheticEvaluator
    from pnas.space import PnasSpace
    from pnas.strategies import STRATEGIES

    evaluator = SyntheticEvaluator()

    def run(name):
        strategy = STRATEGIES.create(
            "pnas", PnasSpace(blocks=2), seed=1, beam=4, predictor="mlp", ensemble=3,
            predictor_options={"epochs": 5}, acquisition=name,
        )  # fmt: skip
        cells = []
        while proposals := strategy.ask():
            for proposal in proposals:
                cells.append(proposal.cell)
                strategy.tell(proposal, evaluator.evaluate(proposal.cell))
        return strategy, cells

    strategy, cells = run(acquisition)
    assert len(cells) == 136 + 4 and len(set(cells)) == len(cells)
    assert strategy.config()["acquisition"] == acquisition
    assert run(acquisition)[1] == cells  # deterministic, so a study replays
    assert "acquisition" not in run("mean")[0].config()  # the paper's rule stores as every study before it
