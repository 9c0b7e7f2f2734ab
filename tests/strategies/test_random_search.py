"""Random search: uniform, no repeats, stops at its budget, replays exactly."""

from __future__ import annotations

import json

import pytest

from pnas.evaluation.base import EvalResult, Evaluator
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies import STRATEGIES
from pnas.strategies.random_search import RandomSearch

OBJECTIVE = SyntheticEvaluator(seed=3)


def drive(strategy, evaluate=OBJECTIVE.evaluate, max_asks: int = 10_000):
    """Ask/tell until the strategy is done; the batches it proposed and the results it was told."""
    batches = []
    for _ in range(max_asks):
        proposals = strategy.ask()
        if not proposals:
            return batches
        results = [evaluate(p.cell) for p in proposals]
        for proposal, result in zip(proposals, results):
            strategy.tell(proposal, result)
        batches.append((proposals, results))
    raise AssertionError("the strategy never finished")


def cells_of(batches) -> list:
    return [p.cell for proposals, _ in batches for p in proposals]


@pytest.mark.parametrize("batch", [None, 1, 7])
def test_stops_at_its_budget_without_repeats(batch):
    strategy = RandomSearch(PnasSpace(blocks=2), seed=1, budget=30, batch=batch)
    batches = drive(strategy)
    cells = cells_of(batches)
    assert len(cells) == 30 == len(set(cells))
    assert all(c.num_blocks == 2 for c in cells)
    assert strategy.ask() == [] and strategy.ask() == []
    expected = 1 if batch is None else -(-30 // batch)
    assert len(batches) == expected
    assert [p.round for proposals, _ in batches for p in proposals][-1] == expected


def test_a_space_smaller_than_the_budget_is_exhausted_and_ends():
    strategy = RandomSearch(PnasSpace(blocks=1), seed=0, budget=500)
    cells = cells_of(drive(strategy))
    assert 120 <= len(cells) <= 136 and len(set(cells)) == len(cells)
    assert strategy.ask() == []


def test_replay_with_the_same_seed_and_outcomes_proposes_the_same_cells():
    first = drive(RandomSearch(Nb201Space(), seed=5, budget=40, batch=8))
    replay = RandomSearch(Nb201Space(), seed=5, budget=40, batch=8)
    for proposals, results in first:
        assert replay.ask() == proposals
        for proposal, result in zip(proposals, results):
            replay.tell(proposal, result)
    assert replay.ask() == []
    other_seed = cells_of(drive(RandomSearch(Nb201Space(), seed=6, budget=40, batch=8)))
    assert other_seed != cells_of(first)


def test_failed_children_count_against_the_budget():
    strategy = RandomSearch(Nb201Space(), seed=0, budget=10, batch=3)
    told = 0
    while proposals := strategy.ask():
        for proposal in proposals:
            strategy.tell(proposal, None)
            told += 1
    assert told == 10


def test_the_ask_tell_contract_is_enforced():
    strategy = RandomSearch(Nb201Space(), seed=0, budget=5, batch=2)
    proposals = strategy.ask()
    with pytest.raises(RuntimeError, match="not told"):
        strategy.ask()
    with pytest.raises(RuntimeError, match="batch order"):
        strategy.tell(proposals[1], EvalResult(0.5))
    strategy.tell(proposals[0], EvalResult(0.5))
    strategy.tell(proposals[1], EvalResult(0.5))
    with pytest.raises(RuntimeError, match="no proposal"):
        strategy.tell(proposals[1], EvalResult(0.5))


@pytest.mark.parametrize("options", [{"budget": 0}, {"budget": 2.5}, {"batch": 0}, {"budget": True}])
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError, match="whole number"):
        RandomSearch(Nb201Space(), **options)


def test_registered_with_a_json_config():
    strategy = STRATEGIES.create("random", Nb201Space(), seed=4, budget=12, batch=3)
    assert isinstance(strategy, RandomSearch)
    assert json.loads(json.dumps(strategy.config())) == {
        "name": "random", "seed": 4, "budget": 12, "batch": 3,
    }


def test_global_random_state_is_untouched():
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    drive(RandomSearch(Nb201Space(), seed=0, budget=20))
    assert random.random() == expected


class Interrupted(BaseException):
    """Stands in for a kill in the middle of a study (like Ctrl-C, not a failed child)."""


class CountingEvaluator(Evaluator):
    """The synthetic objective, counting evaluations per cell; raises after ``stop_after`` of them."""

    name = "counting"

    def __init__(self, counts: dict[str, int], stop_after: int | None = None) -> None:
        self.counts, self.stop_after = counts, stop_after

    def evaluate(self, cell, progress=None) -> EvalResult:
        if self.stop_after is not None and sum(self.counts.values()) >= self.stop_after:
            raise Interrupted
        self.counts[str(cell)] = self.counts.get(str(cell), 0) + 1
        return OBJECTIVE.evaluate(cell)

    def config(self) -> dict:
        return {"objective": OBJECTIVE.config()}


def trials_of(study) -> list[tuple[str, str, float | None]]:
    return [(t.cell, t.status, t.accuracy) for t in study.trials()]


RESUME_BUDGET = 30


def make_for_resume():
    return RandomSearch(Nb201Space(), seed=3, budget=RESUME_BUDGET, batch=5)


def test_a_study_resumes_after_interruption_without_repeating_a_model(tmp_path):
    from pnas.study import optimize

    counts: dict[str, int] = {}
    storage = str(tmp_path / "study.db")
    with pytest.raises(Interrupted):
        optimize(make_for_resume(), CountingEvaluator(counts, stop_after=13), storage=storage, study_name="s")
    study = optimize(make_for_resume(), CountingEvaluator(counts), storage=storage, study_name="s")
    assert max(counts.values()) == 1  # no cell was trained twice
    assert len(counts) == RESUME_BUDGET
    uninterrupted = optimize(make_for_resume(), CountingEvaluator({}), storage=None, study_name="s")
    assert trials_of(study) == trials_of(uninterrupted)
