"""Random search: uniform, no repeats, stops at its budget, replays exactly."""

from __future__ import annotations

import json

import pytest
from strategy_support import cells_of, drive

from pnas.evaluation.base import EvalResult
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies import STRATEGIES
from pnas.strategies.random_search import RandomSearch


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


@pytest.mark.parametrize(
    "options, message",
    [
        ({"budget": 0}, "budget must be at least 1"),
        ({"budget": 2.5}, "budget must be a whole number"),
        ({"batch": 0}, "batch must be at least 1"),
        ({"budget": True}, "budget must be a whole number"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        RandomSearch(Nb201Space(), **options)


def test_registered_with_a_json_config():
    strategy = STRATEGIES.create("random", Nb201Space(), seed=4, budget=12, batch=3)
    assert isinstance(strategy, RandomSearch)
    assert json.loads(json.dumps(strategy.config())) == {
        "name": "random",
        "seed": 4,
        "budget": 12,
        "batch": 3,
    }


def test_global_random_state_is_untouched():
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    drive(RandomSearch(Nb201Space(), seed=0, budget=20))
    assert random.random() == expected


def test_a_huge_budget_is_proposed_lazily_as_one_round_with_the_same_cells():
    import time

    from pnas.strategies.random_search import LAZY_CHUNK

    started = time.monotonic()
    first = RandomSearch(PnasSpace(5), seed=2, budget=10**9).ask()
    assert len(first) == LAZY_CHUNK and time.monotonic() - started < 30  # not a billion cells up front
    lazy, eager = (
        RandomSearch(PnasSpace(2), seed=2, budget=2500),
        RandomSearch(PnasSpace(2), seed=2, budget=2500, batch=2500),
    )
    lazy_batches, eager_batches = drive(lazy), drive(eager)
    assert [len(proposals) for proposals, _ in lazy_batches] == [LAZY_CHUNK, LAZY_CHUNK, 2500 - 2 * LAZY_CHUNK]
    assert {p.round for proposals, _ in lazy_batches for p in proposals} == {1}  # still the one round it always was
    assert cells_of(lazy_batches) == cells_of(eager_batches)
