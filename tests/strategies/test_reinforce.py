"""The REINFORCE controller: budget, replay, learning, and its own random generators."""

from __future__ import annotations

import json

import pytest
import torch
from strategy_support import cells_of, drive

from pnas.evaluation.base import EvalResult
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies import STRATEGIES
from pnas.strategies.reinforce import Controller, Reinforce


@pytest.mark.parametrize("batch", [1, 4])
def test_stops_at_its_budget_with_distinct_cells(batch):
    strategy = Reinforce(PnasSpace(blocks=2), seed=0, budget=24, batch=batch)
    batches = drive(strategy)
    cells = cells_of(batches)
    assert len(cells) == 24 == len(set(cells))
    assert all(c.num_blocks == 2 for c in cells)
    assert all(len(p) == batch for p, _ in batches)
    assert strategy.ask() == []


def test_replay_with_the_same_seed_and_outcomes_proposes_the_same_cells():
    def make():
        return Reinforce(Nb201Space(), seed=4, budget=30, batch=3)

    first = drive(make())
    replay = make()
    for proposals, results in first[:5]:
        assert replay.ask() == proposals
        for proposal, result in zip(proposals, results):
            replay.tell(proposal, result)
    assert cells_of(drive(replay)) == cells_of(first[5:])  # resumed live, same as uninterrupted
    assert cells_of(drive(Reinforce(Nb201Space(), seed=5, budget=30, batch=3))) != cells_of(first)


def reward_conv3x3(cell) -> EvalResult:
    """A reward that only counts 3x3 convolutions: a controller must learn to emit them."""
    return EvalResult(accuracy=sum(op == "nor_conv_3x3" for op in cell.ops) / 6)


def test_the_controller_learns_to_emit_rewarded_tokens():
    strategy = Reinforce(Nb201Space(), seed=0, budget=150, batch=5, lr=0.02)
    conv3x3 = 3  # the token of nor_conv_3x3 on every edge
    before = (strategy.controller.sample(500, torch.Generator().manual_seed(0)) == conv3x3).float().mean()
    cells = cells_of(drive(strategy, reward_conv3x3))
    after = (strategy.controller.sample(500, torch.Generator().manual_seed(0)) == conv3x3).float().mean()
    assert before < 0.3 and after > 0.6
    early = sum(reward_conv3x3(c).accuracy for c in cells[:30]) / 30
    late = sum(reward_conv3x3(c).accuracy for c in cells[-30:]) / 30
    assert late > early + 0.25  # the proposals follow the policy, new cells near its mode included
    assert strategy.baseline is not None and strategy.baseline > early


def test_a_collapsed_policy_falls_back_to_unseen_cells_and_ends():
    space = PnasSpace(blocks=1)
    strategy = Reinforce(space, seed=0, budget=300, batch=20, lr=0.5)
    cells = cells_of(drive(strategy, lambda cell: EvalResult(1.0 if cell.blocks[0].op1 == "sep3x3" else 0.0)))
    assert len(cells) == len(set(cells)) <= 136
    assert strategy.ask() == []


def test_failed_children_count_but_do_not_enter_the_update():
    strategy = Reinforce(Nb201Space(), seed=0, budget=8, batch=2)
    before = [p.detach().clone() for p in strategy.controller.parameters()]
    told = 0
    while proposals := strategy.ask():
        for proposal in proposals:
            strategy.tell(proposal, None)
            told += 1
    assert told == 8
    assert strategy.baseline is None
    assert all(torch.equal(a, b) for a, b in zip(before, strategy.controller.parameters()))


def test_log_prob_matches_the_sampling_distribution():
    generator = torch.Generator().manual_seed(0)
    controller = Controller([3, 2, 4], hidden=8, layers=2, generator=generator)
    every = torch.tensor([[a, b, c] for a in range(3) for b in range(2) for c in range(4)])
    total = controller.log_prob(every).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-5)  # a proper distribution over all sequences
    draws = controller.sample(4000, torch.Generator().manual_seed(1))
    first_token = torch.bincount(draws[:, 0], minlength=3).float() / 4000
    marginal = controller.log_prob(every).exp().reshape(3, 8).sum(1)
    assert torch.allclose(first_token, marginal, atol=0.03)


def test_global_random_state_is_untouched():
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    drive(Reinforce(Nb201Space(), seed=0, budget=10, batch=2))
    assert torch.equal(torch.rand(1), expected)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"lr": 0}, "lr"),
        ({"baseline_decay": 1.0}, "baseline_decay"),
        ({"batch": 0}, "batch"),
        ({"hidden": 0}, "hidden"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        Reinforce(Nb201Space(), **options)


def test_registered_with_a_json_config():
    strategy = STRATEGIES.create("reinforce", Nb201Space(), seed=2, budget=20, batch=4)
    assert isinstance(strategy, Reinforce)
    config = json.loads(json.dumps(strategy.config()))
    assert config["name"] == "reinforce" and config["budget"] == 20 and config["batch"] == 4
    assert {"lr", "baseline_decay", "hidden", "layers"} <= set(config)
