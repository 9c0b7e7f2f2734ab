"""The progressive search's algorithm, with a deterministic stand-in evaluator and predictor."""

import numpy as np
import pytest

import pnas
from pnas.checkpoints import add_checkpoint_listener, remove_checkpoint_listener
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.predictors import PREDICTORS
from pnas.predictors.ranking import expand
from pnas.pruners import MedianPruner, SuccessiveHalving
from pnas.search import SearchConfig, build_search
from pnas.space import Nb201Space, PnasSpace
from pnas.strategies.progressive import ProgressiveSearch, top_k_unique
from pnas.study import optimize

FITS: list[int] = []


class OraclePredictor:
    """Scores cells with the synthetic objective itself (perfect ranking); counts fits."""

    def __init__(self, space, *, seed=0, ensemble=1):
        self.objective = SyntheticEvaluator(seed=1)

    def fit(self, cells, accuracies):
        FITS.append(len(cells))

    def predict(self, cells):
        return np.array([self.objective.score(str(c)) for c in cells])


PREDICTORS.register("test-oracle", OraclePredictor)


def test_rounds_train_all_initial_cells_then_the_predicted_top_k():
    FITS.clear()
    space = PnasSpace(3)
    strategy = ProgressiveSearch(space, beam=6, predictor="test-oracle")
    study = optimize(strategy, SyntheticEvaluator(seed=1))
    rounds = {r.b: r for r in study.rounds()}
    assert (rounds[1].done, rounds[2].done, rounds[3].done) == (136, 6, 6)
    assert FITS == [136, 142]  # refit on everything seen before each new round
    level2 = [t for t in study.trials() if t.round == 2]
    children = expand(space, space.initial_cells())
    scores = OraclePredictor(space).predict(children)
    expected = {str(c) for c, _ in top_k_unique(children, scores, 6)}
    assert {t.cell for t in level2} == expected
    assert all(t.predicted is not None for t in level2)
    # with a perfect predictor the chosen children are the best of the whole expansion
    assert min(t.accuracy for t in level2) >= np.sort(scores)[-6] - 1e-12
    assert rounds[2].spearman == pytest.approx(1.0)


def test_only_successful_children_are_expanded():
    space = PnasSpace(2)
    strategy = ProgressiveSearch(space, beam=4, predictor="test-oracle")
    first = strategy.ask()
    for i, p in enumerate(first):
        strategy.tell(p, None if i >= 2 else SyntheticEvaluator().evaluate(p.cell))
    second = strategy.ask()
    parents = {str(p.cell).split(";")[0] for p in second}
    assert parents <= {str(first[0].cell), str(first[1].cell)}
    assert len(second) == 4 and all(p.round == 2 for p in second)
    for p in second:
        strategy.tell(p, None)
    assert strategy.ask() == []


def test_top_k_unique_skips_duplicates_and_keeps_ties_stable():
    chosen = top_k_unique(["a", "b", "a", "c", "d"], np.array([0.5, 0.9, 0.95, 0.9, 0.1]), 3)
    assert chosen == [("a", 0.95), ("b", 0.9), ("c", 0.9)]


def test_runs_on_nb201_from_one_edge_cells_up():
    space = Nb201Space()
    strategy = ProgressiveSearch(space, beam=5, predictor="test-oracle")
    study = optimize(strategy, SyntheticEvaluator())
    counts = [r.done + r.failed for r in study.rounds()]
    assert counts == [24, 5, 5, 5, 5, 5]


def test_bad_settings_fail_at_once():
    with pytest.raises(ValueError, match="beam"):
        ProgressiveSearch(PnasSpace(2), beam=0)
    with pytest.raises(ValueError, match="unknown predictor 'nope'"):
        ProgressiveSearch(PnasSpace(2), predictor="nope")


# --- a fidelity ladder (--pruner successive-halving) ---------------------------------------------------


def _rows(study) -> list[tuple]:
    return [
        (t.number, t.cell, t.round, t.status, t.accuracy, t.predicted, t.extra.get("pruned")) for t in study.trials()
    ]


def _ladder_study(storage=None):
    strategy = ProgressiveSearch(PnasSpace(3), beam=2, predictor="test-oracle")
    return optimize(strategy, SyntheticEvaluator(seed=1), storage=storage, study_name="s", pruner=SuccessiveHalving())


def test_a_ladder_round_starts_k_eta_s_children_in_rank_order_and_k_of_them_finish():
    """5 synthetic steps report at 1..4: rungs 1 and 3, s = 2, so K = 2 start 2 * 3**2 = 18 per round."""
    FITS.clear()
    space = PnasSpace(3)
    study = _ladder_study()
    counts = [(r.b, r.done, r.pruned, r.failed) for r in study.rounds()]
    assert counts == [(1, 15, 121, 0), (2, 2, 16, 0), (3, 2, 16, 0)]  # round 1: 136 // 9 = 15 finish (>= K)
    assert FITS == [15, 17]  # the predictor learns from complete children only
    first = [space.parse(t.cell) for t in study.trials() if t.round == 1 and t.status == "done"]
    children = expand(space, first)  # the next round expands the complete children of the round
    expected = top_k_unique(children, OraclePredictor(space).predict(children), 18)
    level2 = sorted((t for t in study.trials() if t.round == 2), key=lambda t: t.number)
    assert [(t.cell, t.predicted) for t in level2] == [(str(c), pytest.approx(s)) for c, s in expected]
    _, decision = study.store.load_artifact(study.info.id, "decision-2")
    assert decision["picks"] == [[t.cell, t.predicted] for t in level2]  # a resume replays these
    kept = {t.cell for t in study.trials() if t.round == 2 and t.status == "done"}
    parents = {t.cell.rsplit(";", 1)[0] for t in study.trials() if t.round == 3}
    assert parents == kept and all(t.status in ("done", "pruned") for t in study.trials())


def test_an_interrupted_ladder_study_replays_its_picks_and_ends_as_an_uninterrupted_one(tmp_path):
    reference = _rows(_ladder_study())
    commits: list[str] = []

    def interrupt(point):
        if point == "result_commit":
            commits.append(point)
            if len(commits) == 136 + 7:  # in round 2, its earlier children recorded, the later not
                raise KeyboardInterrupt

    listener = add_checkpoint_listener(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            _ladder_study(tmp_path / "s.db")
    finally:
        remove_checkpoint_listener(listener)
    FITS.clear()
    with _ladder_study(tmp_path / "s.db") as study:
        assert _rows(study) == reference
    assert FITS == [17]  # round 2's picks came from its decision record: only round 3 was ranked


def test_without_a_ladder_the_rounds_are_the_papers():
    """No pruner, or one that judges each child alone: K children per round, marked for no ladder, and a study
    configured as before pruners existed."""
    for pruner in (None, MedianPruner(), SuccessiveHalving(ladder=False)):
        strategy = ProgressiveSearch(Nb201Space(), beam=3, predictor="test-oracle")
        study = optimize(strategy, SyntheticEvaluator(), pruner=pruner)
        started = [r.done + r.pruned for r in study.rounds()]
        assert started[0] == 24 and set(started[1:]) == {3}  # (a round whose K were all pruned ends the search)
        assert strategy.width == 3 and not strategy.ladder
    flags = {"evaluator": "synthetic", "strategy": "pnas", "blocks": 3, "beam": 4, "seed": 1}
    config = build_search(SearchConfig(**flags)).config
    assert config == {  # as the release before the ladder stored it
        "space": {"name": "pnas", "max_level": 3},
        "strategy": {"name": "pnas", "seed": 1, "beam": 4},
        "predictor": {
            "name": "mlp",
            "ensemble": 5,
            "hidden": 100,
            "embedding": 100,
            "epochs": 60,
            "batch_size": 64,
            "lr": 0.002,
            "weight_decay": 0.0,
            "threads": 1,
            "layers": 1,
        },  # fmt: skip
        "evaluator": {"name": "synthetic", "seed": 1, "delay": 0.0, "noise": 0.02, "steps": 5},
        "executor": {
            "name": "local",
            "max_retries": 2,
            "child_timeout": None,
            "stop_after_failures": 5,
            "workers": None,
            "allocator": "auto",
        },  # fmt: skip
    }
    laddered = build_search(SearchConfig(**flags, pruner="successive-halving")).config
    assert laddered == {**config, "pruner": {"name": "successive-halving", "min_steps": 1, "eta": 3, "ladder": True}}


def test_a_ladder_study_driven_by_ask_and_tell_is_the_one_optimize_gives():
    """The user evaluates the cells: the configured evaluator's steps plan the ladder all the same."""
    config = {
        "space": {"name": "pnas", "max_level": 2},
        "strategy": {"name": "pnas", "beam": 2},
        "predictor": {"name": "test-oracle"},
        "evaluator": {"name": "synthetic", "seed": 1},
        "pruner": {"name": "successive-halving"},
    }
    with pnas.create_study("s", None, config) as study:
        study.optimize()
        expected = _rows(study)
    evaluator = SyntheticEvaluator(seed=1)
    with pnas.create_study("s", None, config) as study:
        while trials := study.ask():
            for trial in trials:

                def report(step, value, trial=trial):
                    trial.report(value, step)
                    return trial.should_prune()

                try:
                    study.tell(trial, evaluator.evaluate(trial.cell, report=report))
                except pnas.TrialPruned as stop:
                    study.tell(trial, stop)
        assert _rows(study) == expected and [r.done for r in study.rounds()] == [15, 2]
