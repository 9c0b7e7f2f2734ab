"""The study driver: recording, replay on resume, config checks, workers."""

import pytest

from pnas.evaluation.base import Evaluator
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.space import PnasSpace
from pnas.storage import StudyStore
from pnas.strategies.base import Proposal, Strategy
from pnas.study import ConfigMismatch, Study, optimize


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
