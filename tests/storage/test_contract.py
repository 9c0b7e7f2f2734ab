"""The StudyStorage contract, checked on every backend: the same tests, the same answers."""

import json
import threading
import time
from dataclasses import FrozenInstanceError

import pytest

from pnas.checkpoints import add_checkpoint_listener, remove_checkpoint_listener
from pnas.storage import MemoryStore, StoreError, StudyStorage, StudyStore, TrialState

BACKENDS = ["memory", "sqlite-file", "sqlite-memory"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    made = {
        "memory": MemoryStore,
        "sqlite-file": lambda: StudyStore(tmp_path / "s.db"),
        "sqlite-memory": lambda: StudyStore(None),
    }[request.param]()
    yield made
    made.close()


@pytest.fixture
def study(store):
    return store.create_study("s", {"strategy": {"name": "pnas", "beam": 8}})


def test_every_backend_is_a_study_storage(store):
    assert isinstance(store, StudyStorage)
    assert store.read_only is False
    assert store.path is None or store.path.name == "s.db"


def test_studies_are_created_found_and_listed_in_creation_order(store):
    before = time.time()
    a = store.create_study("a", {"k": [1, 2], "nested": {"x": 1.5}})
    b = store.create_study("b", {})
    assert (a.name, a.config, a.state) == ("a", {"k": [1, 2], "nested": {"x": 1.5}}, "running")
    assert before - 1 <= a.created <= time.time() + 1 and a.id != b.id
    assert store.get_study("a") == a and store.get_study("b") == b
    assert store.get_study("c") is None
    assert [s.name for s in store.list_studies()] == ["a", "b"]
    a.config["k"].append(3)  # a caller's copy: the stored config does not change
    assert store.get_study("a").config == {"k": [1, 2], "nested": {"x": 1.5}}


def test_a_taken_name_is_refused_and_the_first_study_kept(store, study):
    with pytest.raises(StoreError, match="'s'"):
        store.create_study("s", {"other": True})
    assert store.get_study("s") == study and len(store.list_studies()) == 1


def test_state_and_config_change_and_nothing_else(store, study):
    store.set_study_state(study.id, "complete")
    store.update_study_config(study.id, {"strategy": {"name": "pnas", "beam": 8}, "space": {"max_level": 4}})
    info = store.get_study("s")
    assert (info.id, info.name, info.created, info.state) == (study.id, "s", study.created, "complete")
    assert info.config["space"] == {"max_level": 4}
    assert store.list_studies() == [info]
    store.set_study_state(study.id, "complete")  # already so: fine
    assert store.get_study("s") == info


def test_proposals_are_added_once_per_cell_and_numbered_in_order(store, study):
    store.add_proposals(study.id, [("c1", 1, None), ("c2", 1, 0.5), ("c1", 2, 0.9)])
    store.add_proposals(study.id, [("c2", 3, 0.1), ("c3", 2, 0.25)])
    store.add_proposals(study.id, [("c3", 2, 0.25)])  # a replayed round
    trials = store.trials(study.id)
    assert [(t.number, t.cell, t.round, t.predicted, t.status) for t in trials] == [
        (0, "c1", 1, None, "pending"),
        (1, "c2", 1, 0.5, "pending"),
        (2, "c3", 2, 0.25, "pending"),
    ]
    other = store.create_study("other", {})
    store.add_proposals(other.id, [("c3", 1, None)])
    assert [(t.number, t.cell) for t in store.trials(other.id)] == [(0, "c3")]  # numbered per study
    assert store.trial(study.id, "missing") is None


def test_a_trial_goes_pending_running_done(store, study):
    store.add_proposals(study.id, [("c1", 1, 0.4)])
    store.mark_running(study.id, "c1", "worker-1")
    running = store.trial(study.id, "c1")
    assert running.status is TrialState.RUNNING and running.worker == "worker-1" and running.started is not None
    store.record_result(
        study.id,
        "c1",
        status="done",
        metrics={"accuracy": 0.75, "report_accuracy": 0.7, "params": 1234, "mult_adds": 99, "examples": 10},
        provenance={"torch": "2"},
        finished=running.started + 5,
    )
    done = store.trial(study.id, "c1")
    assert done.status is TrialState.DONE and done.status == "done"
    assert (done.accuracy, done.report_accuracy, done.params, done.mult_adds, done.examples) == (
        0.75,
        0.7,
        1234,
        99,
        10,
    )
    assert (done.worker, done.started, done.finished) == ("worker-1", running.started, running.started + 5)
    assert done.provenance == {"torch": "2"} and done.extra == {} and done.error is None and done.predicted == 0.4
    assert json.loads(json.dumps(done.to_json()))["status"] == "done"


def test_a_failed_trial_keeps_its_error_and_metrics_extra(store, study):
    store.add_proposals(study.id, [("c1", 1, None)])
    store.record_result(
        study.id, "c1", status=TrialState.FAILED, error="NaN loss", metrics={"extra": {"epoch": 2}}, worker="w"
    )
    failed = store.trial(study.id, "c1")
    assert (failed.status, failed.error, failed.extra, failed.worker) == ("failed", "NaN loss", {"epoch": 2}, "w")
    assert failed.finished is not None and failed.accuracy is None


def test_a_finished_trial_is_never_overwritten(store, study):
    store.add_proposals(study.id, [("c1", 1, None), ("c2", 1, None)])
    store.record_result(study.id, "c1", status="done", metrics={"accuracy": 0.7, "examples": 10})
    store.record_result(study.id, "c2", status="failed", error="first")
    first = store.trials(study.id)
    store.record_result(study.id, "c1", status="failed", error="late duplicate")
    store.record_result(study.id, "c2", status="done", metrics={"accuracy": 0.9})
    store.mark_running(study.id, "c1", "w2")
    store.mark_running(study.id, "c2", "w2")
    store.add_proposals(study.id, [("c1", 5, 0.9)])
    assert store.trials(study.id) == first
    store.record_result(study.id, "missing", status="done")  # no such trial: nothing happens
    assert store.trial(study.id, "missing") is None
    with pytest.raises(ValueError, match="'done', 'failed' or 'pruned'"):
        store.record_result(study.id, "c1", status="running")
    with pytest.raises(ValueError, match="'done', 'failed' or 'pruned'"):
        store.record_result(study.id, "c1", status="complete")


def test_a_pruned_trial_keeps_its_step_value_and_compute_and_is_final(store, study):
    store.add_proposals(study.id, [("c1", 1, None)])
    reached = {"pruned": {"step": 2, "value": 0.61}, "curve": [[1, 0.5], [2, 0.61]]}
    store.record_result(
        study.id, "c1", status=TrialState.PRUNED, metrics={"examples": 40, "mult_adds": 7, "extra": reached}
    )
    pruned = store.trial(study.id, "c1")
    assert (pruned.status, pruned.accuracy, pruned.examples, pruned.extra) == ("pruned", None, 40, reached)
    assert pruned.status.finished and store.trials(study.id, "pruned") == [pruned]
    store.record_result(study.id, "c1", status="done", metrics={"accuracy": 0.9})
    store.mark_running(study.id, "c1", "w2")
    store.retry_trial(study.id, "c1")
    assert store.trial(study.id, "c1") == pruned


def test_retry_reopens_only_a_machinery_failure(store, study):
    cells = ["machinery", "child", "done", "pending"]
    store.add_proposals(study.id, [(c, 1, None) for c in cells])
    store.record_result(
        study.id, "machinery", status="failed", error="worker died", metrics={"extra": {"failure": "machinery"}}
    )
    store.record_result(study.id, "child", status="failed", error="NaN loss", metrics={"extra": {"failure": "child"}})
    store.record_result(study.id, "done", status="done", metrics={"accuracy": 0.5})
    before = {c: store.trial(study.id, c) for c in cells}
    for cell in cells:
        store.retry_trial(study.id, cell)
    retried = store.trial(study.id, "machinery")
    assert (retried.status, retried.error, retried.finished, retried.extra) == ("pending", None, None, {})
    assert retried.number == before["machinery"].number
    assert {c: store.trial(study.id, c) for c in cells[1:]} == {c: before[c] for c in cells[1:]}
    store.record_result(study.id, "machinery", status="done", metrics={"accuracy": 0.6})
    assert store.trial(study.id, "machinery").accuracy == 0.6
    store.retry_trial(study.id, "machinery")  # now done: stays done
    assert store.trial(study.id, "machinery").status == "done"


def test_marking_a_failure_the_machinerys_keeps_its_error_and_touches_nothing_else(store, study):
    cells = ["failed", "done", "pending"]
    store.add_proposals(study.id, [(c, 1, None) for c in cells])
    store.record_result(study.id, "failed", status="failed", error="no data", metrics={"extra": {"note": 1}})
    store.record_result(study.id, "done", status="done", metrics={"accuracy": 0.5})
    before = {c: store.trial(study.id, c) for c in cells}
    for cell in cells:
        store.mark_machinery_failure(study.id, cell)
    marked = store.trial(study.id, "failed")
    assert (marked.status, marked.error, marked.extra) == ("failed", "no data", {"note": 1, "failure": "machinery"})
    assert {c: store.trial(study.id, c) for c in cells[1:]} == {c: before[c] for c in cells[1:]}
    store.retry_trial(study.id, "failed")  # now the machinery's: a resume reopens it
    assert store.trial(study.id, "failed").status == "pending"


def test_trials_are_filtered_by_status(store, study):
    store.add_proposals(study.id, [(f"c{i}", 1, None) for i in range(5)])
    store.mark_running(study.id, "c1", "w")
    store.record_result(study.id, "c2", status="done", metrics={"accuracy": 0.5})
    store.record_result(study.id, "c3", status="failed", error="x")
    store.record_result(study.id, "c4", status="pruned", metrics={"extra": {"pruned": {"step": 1, "value": 0.1}}})
    by_status = {state: [t.cell for t in store.trials(study.id, state)] for state in TrialState}
    assert by_status == {"pending": ["c0"], "running": ["c1"], "done": ["c2"], "failed": ["c3"], "pruned": ["c4"]}
    assert [t.cell for t in store.trials(study.id, "done")] == ["c2"]  # a plain string works as well
    with pytest.raises(ValueError):
        store.trials(study.id, "complete")


def test_records_are_frozen_and_their_dicts_are_copies(store, study):
    store.add_proposals(study.id, [("c1", 1, None)])
    store.record_result(study.id, "c1", status="done", metrics={"extra": {"a": 1}}, provenance={"p": 1})
    trial = store.trial(study.id, "c1")
    with pytest.raises(FrozenInstanceError):
        trial.accuracy = 1.0
    trial.extra["a"] = 2
    trial.provenance.clear()
    again = store.trial(study.id, "c1")
    assert again.extra == {"a": 1} and again.provenance == {"p": 1}


def test_artifacts_round_trip_bytes_and_meta(store, study):
    blob = bytes(range(256)) * 1000
    assert store.load_artifact(study.id, "predictor") is None
    store.save_artifact(study.id, "predictor", blob, {"level": 1, "trained_on": [1, 2]})
    store.save_artifact(study.id, "empty", b"", {})
    assert store.load_artifact(study.id, "predictor") == (blob, {"level": 1, "trained_on": [1, 2]})
    assert store.load_artifact(study.id, "empty") == (b"", {})
    store.save_artifact(study.id, "predictor", b"\x00new", {"level": 2})  # replaced
    assert store.load_artifact(study.id, "predictor") == (b"\x00new", {"level": 2})
    other = store.create_study("other", {})
    assert store.load_artifact(other.id, "predictor") is None  # per study


def test_the_drivers_lock(store, study):
    assert not store.is_driven(study.id)
    store.lock_study(study.id, "s")
    store.lock_study(study.id, "s")  # held already: nothing happens
    assert store.is_driven(study.id)
    store.release_locks()
    assert not store.is_driven(study.id)
    store.lock_study(study.id, "s")  # taken again after release
    assert store.is_driven(study.id)
    store.release_locks()


def test_result_commit_is_announced_before_the_result_lands(store, study):
    """A listener that stops the run there (as a kill would) leaves the trial open, to be trained again."""
    store.add_proposals(study.id, [("c1", 1, None)])
    seen = []

    def stop(point):
        seen.append(point)
        if point == "result_commit":
            raise KeyboardInterrupt

    add_checkpoint_listener(stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            store.record_result(study.id, "c1", status="done", metrics={"accuracy": 0.5})
    finally:
        remove_checkpoint_listener(stop)
    assert seen == ["result_commit"]
    assert store.trial(study.id, "c1").status == "pending"
    store.record_result(study.id, "c1", status="done", metrics={"accuracy": 0.5})
    assert store.trial(study.id, "c1").accuracy == 0.5 and len(seen) == 1


def test_one_store_is_shared_by_threads(store, study):
    cells = [f"c{i}" for i in range(120)]
    errors = []

    def drive(part):
        try:
            for cell in part:
                store.add_proposals(study.id, [(cell, 1, None)])
                store.mark_running(study.id, cell, threading.current_thread().name)
                store.record_result(study.id, cell, status="done", metrics={"accuracy": 0.5})
                store.trials(study.id)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=drive, args=(cells[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    trials = store.trials(study.id, "done")
    assert sorted(t.cell for t in trials) == sorted(cells)
    assert [t.number for t in trials] == list(range(len(cells)))
