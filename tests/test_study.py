"""The study driver: recording, replay on resume, config checks, workers."""

import pytest

from pnas.evaluation.base import Evaluator
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.space import PnasSpace
from pnas.storage import StudyStore
from pnas.strategies.base import Proposal, Strategy
from pnas.study import ChildrenFailing, ConfigMismatch, FailureStreak, Study, is_machinery_failure, optimize


class ThreeBatches(Strategy):
    """Proposes three batches of random cells; the later ones depend on what it was told."""

    name = "three-batches"

    def __init__(self, space, *, seed=0, size=4):
        super().__init__(space, seed=seed)
        import random

        self.rng = random.Random(seed)
        self.size = size
        self.batches = 0
        self.told: list[tuple[str, float | None]] = []

    def config(self):
        return {"name": self.name, "seed": self.seed, "size": self.size}

    def ask(self):
        if self.batches == 3:
            return []
        self.batches += 1
        # depends on past outcomes, so a wrong replay would diverge
        shift = sum(1 for _, a in self.told if a is not None and a > 0.5)
        for _ in range(shift):
            self.rng.random()
        return [Proposal(self.space.random_cell(self.rng), self.batches) for _ in range(self.size)]

    def tell(self, proposal, result):
        self.told.append((str(proposal.cell), None if result is None else result.accuracy))


class CountingEvaluator(Evaluator):
    """Synthetic accuracies; counts calls; fails some cells; can interrupt after n calls."""

    name = "counting"

    def __init__(self, interrupt_after=None):
        self.inner = SyntheticEvaluator(seed=3)
        self.calls: list[str] = []
        self.interrupt_after = interrupt_after

    def config(self):
        return self.inner.config()

    def evaluate(self, cell, progress=None):
        if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls.append(str(cell))
        if "dil3x3(h2)" in str(cell):
            raise RuntimeError("loss became NaN")
        return self.inner.evaluate(cell)


def _snapshot(study: Study):
    return [(t.cell, t.round, t.status, t.accuracy, t.error) for t in study.trials()]


def test_every_proposal_is_recorded_and_told_in_batch_order():
    strategy, evaluator = ThreeBatches(PnasSpace(2), seed=1), CountingEvaluator()
    study = optimize(strategy, evaluator)
    trials = study.trials()
    assert len(strategy.told) == 12
    assert [c for c, _ in strategy.told] == [t.cell for t in trials]  # no duplicate cells with this seed
    assert {t.status for t in trials} <= {"done", "failed"}
    assert len(evaluator.calls) == len(set(evaluator.calls)) == len(trials)
    assert study.state == "complete"
    failed = [t for t in trials if t.status == "failed"]
    assert all("NaN" in t.error for t in failed)


@pytest.mark.parametrize("stop_after", [0, 1, 5, 9])
def test_interrupted_study_resumes_to_the_same_result_without_retraining(tmp_path, stop_after):
    reference = optimize(ThreeBatches(PnasSpace(2), seed=7), CountingEvaluator())
    path = tmp_path / "s.db"
    first = CountingEvaluator(interrupt_after=stop_after)
    with pytest.raises(KeyboardInterrupt):
        optimize(ThreeBatches(PnasSpace(2), seed=7), first, storage=str(path), study_name="s")
    assert Study.load(StudyStore(path), "s").state == "interrupted"  # no process drives it now
    second = CountingEvaluator()
    study = optimize(ThreeBatches(PnasSpace(2), seed=7), second, storage=str(path), study_name="s")
    assert not set(first.calls) & set(second.calls), "a finished child was trained again"
    assert _snapshot(study) == _snapshot(reference)
    # a finished study replays without training anything
    third = CountingEvaluator()
    optimize(ThreeBatches(PnasSpace(2), seed=7), third, storage=str(path), study_name="s")
    assert third.calls == []


def test_other_settings_are_refused_and_growth_is_allowed(tmp_path):
    path = str(tmp_path / "s.db")
    optimize(ThreeBatches(PnasSpace(2), seed=1), CountingEvaluator(), storage=path, study_name="s")
    with pytest.raises(ConfigMismatch, match="strategy.seed"):
        optimize(ThreeBatches(PnasSpace(2), seed=2), CountingEvaluator(), storage=path, study_name="s")
    with pytest.raises(ConfigMismatch, match="space.max_level"):
        optimize(ThreeBatches(PnasSpace(1), seed=1), CountingEvaluator(), storage=path, study_name="s")
    # more blocks is safe: the study grows
    optimize(ThreeBatches(PnasSpace(3), seed=1), CountingEvaluator(), storage=path, study_name="s")
    assert StudyStore(path).get_study("s").config["space"]["max_level"] == 3


def test_two_workers_give_the_same_study_as_one():
    one = optimize(ThreeBatches(PnasSpace(2), seed=5), SyntheticEvaluator(seed=2))
    two = optimize(ThreeBatches(PnasSpace(2), seed=5), SyntheticEvaluator(seed=2), workers=2)
    assert _snapshot(one) == _snapshot(two)
    workers = {t.worker for t in two.trials()}
    assert len(workers) >= 1 and all(w for w in workers)


def test_rounds_summary_counts_and_spearman():
    study = optimize(ThreeBatches(PnasSpace(2), seed=1), CountingEvaluator())
    rounds = study.rounds()
    assert [r.b for r in rounds] == [1, 2, 3]
    assert sum(r.done + r.failed for r in rounds) == len(study.trials())
    assert all(r.pending == 0 for r in rounds)
    assert all(r.spearman is None for r in rounds)  # nothing was predicted
    best = study.best(3)
    assert [t.accuracy for t in best] == sorted((t.accuracy for t in best), reverse=True)


class BrokenSetup(CountingEvaluator):
    """Every child fails with one error, as with a data set missing on the workers."""

    def evaluate(self, cell, progress=None):
        self.calls.append(str(cell))
        raise FileNotFoundError("no data at /data/cifar10")


def _outcome(key, error=None):
    from pnas.evaluation.base import EvalResult
    from pnas.execution.base import Outcome

    return Outcome(key, None if error else EvalResult(accuracy=0.5), error, "w", 0.0, 1.0)


def test_a_failure_streak_trips_only_on_one_error_before_any_success():
    streak = FailureStreak(3)
    assert [streak.add(_outcome(k, "boom")) for k in "abc"] == [False, False, True]
    assert streak.keys == ["a", "b", "c"] and streak.error == "boom"
    mixed = FailureStreak(3)
    assert not any(mixed.add(_outcome(k, e)) for k, e in zip("abcde", ["boom", "boom", "bang", "boom", "boom"]))
    late = FailureStreak(2)
    assert not any(late.add(_outcome(k, e)) for k, e in zip("abcd", [None, "boom", "boom", "boom"]))
    never = FailureStreak(0)
    assert not any(never.add(_outcome(k, "boom")) for k in "abcdef")


def test_a_study_whose_first_children_all_fail_alike_stops_and_trains_them_again_on_resume(tmp_path):
    path = str(tmp_path / "s.db")
    broken = BrokenSetup()
    with pytest.raises(ChildrenFailing, match="first 5 children all failed .*FileNotFoundError: no data"):
        optimize(ThreeBatches(PnasSpace(2), seed=1, size=8), broken, storage=path, study_name="s")
    assert len(broken.calls) == 5  # stopped at once, not after every child failed
    store = StudyStore(path)
    study = Study.load(store, "s")
    failed = study.trials("failed")
    assert study.state == "interrupted" and len(failed) == 5
    assert all(is_machinery_failure(t) and "no data" in t.error for t in failed)
    store.close()
    fixed = CountingEvaluator()
    study = optimize(ThreeBatches(PnasSpace(2), seed=1, size=8), fixed, storage=path, study_name="s")
    assert study.state == "complete" and set(broken.calls) <= set(fixed.calls)
    assert _snapshot(study) == _snapshot(optimize(ThreeBatches(PnasSpace(2), seed=1, size=8), CountingEvaluator()))
    study.close()
