"""Whether each built-in strategy's rounds are cell sizes (only the progressive search's are)."""

from pnas.strategies import STRATEGIES
from pnas.strategies.base import Strategy, rounds_are_levels


def test_only_the_progressive_search_has_rounds_of_one_cell_size():
    levels = {c.name: c.factory.rounds_are_levels for c in STRATEGIES.components()}
    assert levels == {name: name == "pnas" for name in ("evolution", "guided", "pnas", "random", "reinforce")}
    assert Strategy.rounds_are_levels is False  # a plugin's strategy has batches unless it says otherwise


def test_a_stored_study_s_strategy_name_tells_it():
    assert rounds_are_levels("pnas") and not rounds_are_levels("guided")
    assert not rounds_are_levels("a-strategy-not-installed-here")
