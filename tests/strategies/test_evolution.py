"""Regularized evolution: population, tournaments, aging, budget, parallel batches, replay."""

from __future__ import annotations

import json

import pytest
from strategy_support import OBJECTIVE, cells_of, drive

from pnas.evaluation.base import EvalResult
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies import STRATEGIES
from pnas.strategies.evolution import (
    RegularizedEvolution,
    default_population,
    default_sample,
)


@pytest.mark.parametrize("batch", [1, 4])
def test_stops_at_its_budget_with_distinct_cells_of_the_top_level(batch):
    space = PnasSpace(blocks=3)
    strategy = RegularizedEvolution(space, seed=2, budget=60, population=10, sample=3, batch=batch)
    batches = drive(strategy)
    cells = cells_of(batches)
    assert len(cells) == 60 == len(set(cells))
    assert all(c.num_blocks == 3 for c in cells)
    assert all(len(proposals) <= batch for proposals, _ in batches)
    assert strategy.ask() == []


def test_population_is_random_first_then_children_of_members_and_ages_out_the_oldest():
    space = Nb201Space()
    strategy = RegularizedEvolution(space, seed=0, budget=40, population=8, sample=3)
    cells = cells_of(drive(strategy))
    assert len(strategy.population) == 8
    assert [cell for cell, _ in strategy.population] == cells[-8:]  # the youngest 8 survive, oldest first
    # After the first 8 random cells, each child is one mutation away from an earlier cell.
    for i, child in enumerate(cells[8:], start=8):
        assert any(sum(a != b for a, b in zip(child.ops, parent.ops)) == 1 for parent in cells[:i])


def test_tournament_mutates_the_best_of_the_sample():
    space = Nb201Space()
    # With the sample as large as the population, the parent is always the population's best.
    strategy = RegularizedEvolution(space, seed=1, budget=30, population=6, sample=6)
    batches = drive(strategy)
    history = [(p.cell, r.accuracy) for proposals, results in batches for p, r in zip(proposals, results)]
    for i in range(6, len(history)):
        population = history[i - 6 : i]
        best = max(population, key=lambda m: m[1])[0]
        child = history[i][0]
        assert sum(a != b for a, b in zip(child.ops, best.ops)) == 1


def test_failed_children_never_join_the_population():
    space = Nb201Space()
    strategy = RegularizedEvolution(space, seed=0, budget=30, population=5, sample=2, batch=3)
    failed = set()
    told = 0
    while proposals := strategy.ask():
        for i, proposal in enumerate(proposals):
            result = None if i == 0 else OBJECTIVE.evaluate(proposal.cell)
            if result is None:
                failed.add(proposal.cell)
            strategy.tell(proposal, result)
            told += 1
    assert told == 30
    assert failed and not failed & {cell for cell, _ in strategy.population}
    assert len(strategy.population) == 5


def test_all_children_failing_still_ends():
    strategy = RegularizedEvolution(Nb201Space(), seed=0, budget=12, population=4, sample=2)
    told = 0
    while proposals := strategy.ask():
        for proposal in proposals:
            strategy.tell(proposal, None)
            told += 1
    assert told == 12


@pytest.mark.parametrize("batch", [1, 5])
def test_replay_with_the_same_seed_and_outcomes_proposes_the_same_cells(batch):
    def make():
        return RegularizedEvolution(PnasSpace(blocks=2), seed=9, budget=45, population=10, sample=4, batch=batch)

    first = drive(make())
    replay = make()
    for proposals, results in first[:4]:
        assert replay.ask() == proposals
        for proposal, result in zip(proposals, results):
            replay.tell(proposal, result)
    resumed = drive(replay)  # continues live after the replayed part, as a resumed study does
    assert cells_of(first[4:]) == cells_of(resumed)


def test_a_tiny_space_runs_out_and_ends():
    strategy = RegularizedEvolution(PnasSpace(blocks=1), seed=0, budget=400, population=20, sample=5)
    cells = cells_of(drive(strategy))
    assert len(cells) == len(set(cells)) <= 136
    assert strategy.ask() == []


def test_defaults_suit_the_budget():
    assert default_population(20) == 5 and default_sample(5) == 2
    assert default_population(200) == 50 and default_sample(50) == 12
    assert default_population(10_000) == 100 and default_sample(100) == 25
    assert default_sample(1) == 1
    strategy = RegularizedEvolution(Nb201Space(), budget=120)
    assert (strategy.population_size, strategy.sample_size) == (30, 7)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"population": 4, "sample": 5}, "must not exceed"),
        ({"population": 0}, "population"),
        ({"sample": -1}, "sample"),
        ({"batch": 0}, "batch"),
        ({"budget": 0}, "budget"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        RegularizedEvolution(Nb201Space(), **options)


def test_registered_with_a_json_config():
    strategy = STRATEGIES.create("evolution", Nb201Space(), seed=1, budget=40, population=8, sample=2, batch=2)
    assert isinstance(strategy, RegularizedEvolution)
    assert json.loads(json.dumps(strategy.config())) == {
        "name": "evolution",
        "seed": 1,
        "budget": 40,
        "batch": 2,
        "population": 8,
        "sample": 2,
    }


def test_tell_checks_batch_order():
    strategy = RegularizedEvolution(Nb201Space(), seed=0, budget=10, population=4, sample=2, batch=2)
    proposals = strategy.ask()
    with pytest.raises(RuntimeError, match="batch order"):
        strategy.tell(proposals[1], EvalResult(0.4))
