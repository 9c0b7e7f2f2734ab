"""The driver's durability rules: machinery failures are never final, a refused, failed or idle
resume writes nothing, studies grow with every predictor, and a study keeps to its data."""

from __future__ import annotations

import sqlite3
import time

import pytest

from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.execution.base import Executor, Outcome
from pnas.space import PnasSpace
from pnas.storage import StudyStore
from pnas.strategies.progressive import ProgressiveSearch
from pnas.strategies.random_search import RandomSearch
from pnas.study import ConfigMismatch, DataMismatch, Study, is_machinery_failure, optimize


def _dump(path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


class DiesOnce(Executor):
    """Evaluates in-process, but reports the machinery failing under the first ``victims`` jobs."""

    def __init__(self, evaluator, victims: int = 1) -> None:
        self.evaluator, self.victims = evaluator, victims

    def run(self, jobs, on_event=None):
        for job in jobs:
            now = time.time()
            if self.victims:
                self.victims -= 1
                yield Outcome(job.key, None, "worker process died (killed by SIGKILL)", "w:1", now, now, machinery=True)
            else:
                yield Outcome(job.key, self.evaluator.evaluate(job.cell), None, "w:1", now, now)


def test_a_machinery_failure_is_recorded_and_trained_again_on_resume(tmp_path):
    path = str(tmp_path / "s.db")
    evaluator = SyntheticEvaluator(seed=1)
    first = optimize(
        RandomSearch(PnasSpace(2), seed=3, budget=6),
        evaluator,
        storage=path,
        study_name="s",
        executor=DiesOnce(evaluator),
    )
    [failed] = first.trials("failed")
    assert is_machinery_failure(failed) and "worker process died" in failed.error
    first.close()
    second = optimize(
        RandomSearch(PnasSpace(2), seed=3, budget=6),
        evaluator,
        storage=path,
        study_name="s",
        executor=DiesOnce(evaluator, victims=0),
    )
    trial = second.store.trial(second.info.id, failed.cell)
    assert trial.status == "done" and trial.accuracy == evaluator.score(failed.cell)
    assert len(second.trials("done")) == 6 and second.state == "complete"
    second.close()


SMALL = {"hidden": 16, "embedding": 16, "epochs": 5}
"""A cheap predictor: the driver's rules, not ranking quality, are under test here."""


def _progressive(blocks, predictor="mlp", seed=0):
    return ProgressiveSearch(
        PnasSpace(blocks), seed=seed, beam=2, predictor=predictor, ensemble=2, predictor_options=SMALL
    )


def test_a_finished_study_run_again_writes_nothing(tmp_path):
    path = tmp_path / "s.db"
    optimize(_progressive(2), SyntheticEvaluator(), storage=str(path), study_name="s").close()
    before, dump = path.read_bytes(), _dump(path)
    optimize(_progressive(2), SyntheticEvaluator(), storage=str(path), study_name="s").close()
    assert _dump(path) == dump and path.read_bytes() == before


@pytest.mark.parametrize("predictor", ["mlp", "lstm"])
def test_growing_a_study_works_for_every_predictor(tmp_path, predictor):
    store = StudyStore(tmp_path / "s.db")

    def grow(blocks):
        return optimize(_progressive(blocks, predictor), SyntheticEvaluator(), storage=store, study_name="s")

    for blocks in (2, 3, 5):
        study = grow(blocks)
        assert [r.b for r in study.rounds()] == list(range(1, blocks + 1))
        assert study.config["space"]["max_level"] == blocks and study.state == "complete"
    grown = _dump(tmp_path / "s.db")
    grow(5)  # the grown study replays as it ran, with each round's stored predictor
    assert _dump(tmp_path / "s.db") == grown
    store.close()


def test_a_refused_or_failed_resume_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    path = str(tmp_path / "s.db")
    optimize(_progressive(2), SyntheticEvaluator(), storage=path, study_name="s").close()
    dump = _dump(path)
    with pytest.raises(ConfigMismatch, match="strategy.seed"):
        optimize(_progressive(2, seed=1), SyntheticEvaluator(), storage=path, study_name="s")
    assert _dump(path) == dump

    def broken(self, level):
        raise RuntimeError("the predictor failed")

    monkeypatch.setattr(ProgressiveSearch, "_fitted_predictor", broken)
    with pytest.raises(RuntimeError, match="predictor failed"):
        optimize(_progressive(3), SyntheticEvaluator(), storage=path, study_name="s")
    assert _dump(path) == dump  # the grown settings were not saved: it still runs at 2 blocks
    monkeypatch.undo()
    optimize(_progressive(2), SyntheticEvaluator(), storage=path, study_name="s").close()
    optimize(_progressive(3), SyntheticEvaluator(), storage=path, study_name="s").close()


class WithData(SyntheticEvaluator):
    """The synthetic objective, claiming to read data with a given fingerprint."""

    def __init__(self, fingerprint, **options) -> None:
        super().__init__(**options)
        self.fingerprint = fingerprint

    def data_fingerprint(self):
        return self.fingerprint


def _data(content: str) -> dict:
    return {"kind": "images", "content": {"dataset": "folder", "train": content}, "files": None}


def test_a_study_resumes_only_on_the_data_it_was_made_with(tmp_path):
    path = str(tmp_path / "s.db")
    store = StudyStore(path)
    study = optimize(RandomSearch(PnasSpace(2), seed=0, budget=4), WithData(_data("a")), storage=store, study_name="s")
    with pytest.raises(DataMismatch, match="other data"):
        optimize(RandomSearch(PnasSpace(2), seed=0, budget=8), WithData(_data("b")), storage=store, study_name="s")
    assert len(study.trials()) == 4 and store.get_study("s").config["strategy"]["budget"] == 4
    optimize(RandomSearch(PnasSpace(2), seed=0, budget=8), WithData(_data("a")), storage=store, study_name="s")
    assert len(Study.load(store, "s").trials("done")) == 8
    store.close()


def test_a_study_made_before_fingerprints_records_its_data_when_it_next_trains():
    store = StudyStore(None)
    optimize(RandomSearch(PnasSpace(2), seed=0, budget=4), SyntheticEvaluator(), storage=store, study_name="s")
    info = store.get_study("s")
    assert store.load_artifact(info.id, "data-fingerprint") is None
    optimize(RandomSearch(PnasSpace(2), seed=0, budget=6), WithData(_data("a")), storage=store, study_name="s")
    assert store.load_artifact(info.id, "data-fingerprint")[1] == _data("a")
    with pytest.raises(DataMismatch):
        optimize(RandomSearch(PnasSpace(2), seed=0, budget=6), WithData(_data("b")), storage=store, study_name="s")
