"""Each pruner's rule against a hand computation, and the pruners as registered components."""

from __future__ import annotations

import pytest

from pnas.config import OptionError
from pnas.pruners import PRUNERS, Ladder, MedianPruner, NoPruner, SuccessiveHalving


def test_none_never_prunes_and_is_not_written_into_a_study():
    pruner = NoPruner()
    assert not pruner.prunes and not pruner.should_prune(9, 1, 0.0, [0.9] * 20)


def test_median_prunes_below_the_median_of_earlier_trials_at_the_step():
    pruner = MedianPruner()  # percentile 50, no warm-up steps, 5 startup trials
    peers = [0.2, 0.4, 0.6, 0.8, 0.9]  # median 0.6
    assert pruner.should_prune(5, 1, 0.59, peers)
    assert not pruner.should_prune(5, 1, 0.6, peers)  # equal to the median: kept
    assert not pruner.should_prune(4, 1, 0.0, peers[:4])  # 4 peers < 5 startup trials
    even = [0.1, 0.3, 0.5, 0.7, 0.9, 1.0]  # linear interpolation: (0.5 + 0.7) / 2
    assert pruner.should_prune(6, 1, 0.59, even) and not pruner.should_prune(6, 1, 0.61, even)


def test_median_percentile_warmup_and_startup():
    peers = [0.1, 0.2, 0.3, 0.4, 0.5]
    quarter = MedianPruner(percentile=25)  # 0.1 + 0.25 * (0.5 - 0.1) = 0.2
    assert quarter.should_prune(5, 1, 0.19, peers) and not quarter.should_prune(5, 1, 0.21, peers)
    warm = MedianPruner(warmup_steps=3)
    assert not warm.should_prune(5, 2, 0.0, peers) and warm.should_prune(5, 3, 0.0, peers)
    eager = MedianPruner(startup_trials=0)
    assert not eager.should_prune(0, 1, 0.0, []) and eager.should_prune(1, 1, 0.0, [0.5])


def test_successive_halving_rungs_and_the_top_third():
    pruner = SuccessiveHalving()  # min_steps 1, eta 3: rungs at 1, 3, 9, 27, ...
    assert [s for s in range(1, 30) if pruner.rung(s)] == [1, 3, 9, 27]
    assert [s for s in range(1, 30) if SuccessiveHalving(min_steps=2, eta=2).rung(s)] == [2, 4, 8, 16]
    assert not pruner.should_prune(0, 1, 0.1, [])  # the first trial always continues
    assert not pruner.should_prune(2, 2, 0.0, [0.9, 0.9])  # not a rung
    # n = 3 competitors keep max(1, 3 // 3) = 1: pruned when one peer is strictly better
    assert pruner.should_prune(2, 1, 0.5, [0.6, 0.1])
    assert not pruner.should_prune(2, 1, 0.6, [0.6, 0.1])  # a tie is not better
    # n = 6 keep 2: the third best stops, the second best continues
    assert pruner.should_prune(5, 3, 0.7, [0.9, 0.8, 0.1, 0.2, 0.3])
    assert not pruner.should_prune(5, 3, 0.85, [0.9, 0.8, 0.1, 0.2, 0.3])


def test_successive_halving_on_a_stream_of_trials():
    """Trials 0..8 at rung 1, each against the ones before it: a hand-computed list of who stops."""
    values = [0.5, 0.7, 0.4, 0.9, 0.6, 0.8, 0.3, 0.95, 0.65]
    pruner = SuccessiveHalving()
    stopped = [n for n, v in enumerate(values) if pruner.should_prune(n, 1, v, values[:n])]
    # trial 1 (0.7): none better, keep max(1, 2 // 3) = 1 -> on; trial 2 (0.4): 2 better, keep 1 -> stop;
    # trial 3 (0.9): best -> on; trial 4 (0.6): 2 better (0.7, 0.9), keep 1 -> stop; trial 5 (0.8): 1 better,
    # keep 2 -> on; trial 6 (0.3): 6 better, keep 2 -> stop; trial 7 (0.95): best -> on; trial 8 (0.65):
    # 4 better (0.7, 0.9, 0.8, 0.95), keep 3 -> stop
    assert stopped == [2, 4, 6, 8]


def test_pruners_are_registered_with_their_options():
    assert {"none", "median", "successive-halving"} <= set(PRUNERS.names())
    assert set(PRUNERS.component("median").specs) == {"percentile", "warmup_steps", "startup_trials"}
    assert set(PRUNERS.component("successive-halving").specs) == {"min_steps", "eta", "ladder"}
    assert PRUNERS.create("median", percentile=30).config() == {
        "name": "median",
        "percentile": 30.0,
        "warmup_steps": 0,
        "startup_trials": 5,
    }
    with pytest.raises(OptionError, match="eta must be at least 2"):
        SuccessiveHalving(eta=1)


def test_the_ladder_widens_a_round_by_eta_per_rung_and_keeps_a_third_at_each():
    pruner = SuccessiveHalving()  # rungs 1, 3, 9, ...
    assert pruner.rungs(4) == [1, 3] and pruner.rungs(0) == [] and pruner.rungs(9) == [1, 3, 9]
    assert [pruner.widening(2, last) for last in (0, 1, 2, 3, 4, 9)] == [2, 6, 6, 18, 18, 54]
    assert SuccessiveHalving(ladder=False).widening(2, 4) == 2 and MedianPruner().widening(2, 4) == 2
    assert pruner.places(Ladder(started=18, finish=2, last_step=4), 2) == [6, 2]  # 18 -> 6 -> 2
    assert pruner.places(Ladder(started=136, finish=2, last_step=4), 2) == [45, 15]  # 1/eta, at least K
    assert pruner.places(Ladder(started=5, finish=2, last_step=4), 2) == [2, 2]  # a small round keeps K


def test_a_ladder_round_gives_its_places_to_the_better_earlier_children_and_fills_them():
    """One rung (last step 1): trials judged in order among the earlier ones of their round, by hand."""
    pruner = SuccessiveHalving()

    def stopped(values, finish):
        ladder, earlier, out = Ladder(started=len(values), finish=finish, last_step=1), [], []
        for n, value in enumerate(values):
            stops = pruner.should_prune_in_round(1, value, earlier, ladder)
            earlier.append((value, not stops))
            out += [n] if stops else []
        return out

    # 9 started, 3 places (A = 9, q = 3): trial 0 continues (nobody better); trial 1 (0.7) too; trial 2 (0.4):
    # 2 better >= max(1, 3 * 3 // 9) = 1 -> stops; trial 3 (0.9) best -> continues and takes the last place;
    # every later trial finds the places taken, 0.95 included
    assert stopped([0.5, 0.7, 0.4, 0.9, 0.6, 0.8, 0.3, 0.95, 0.65], 1) == [2, 4, 5, 6, 7, 8]
    # 6 started, 3 to finish (q = 3), values falling: trial 0 continues; trials 1-3 have >= keep better ones
    # (keep max(1, 2*3//6), max(1, 3*3//6), 4*3//6 = 1, 1, 2) and stop; then 2 places remain for trials 4 and 5,
    # the last 2: each is needed to fill them
    assert stopped([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], 3) == [1, 2, 3]
    assert not pruner.should_prune_in_round(2, 0.0, [(0.9, True)], Ladder(9, 1, 4))  # not a rung
