import sqlite3
import subprocess
import sys

import pytest

from pnas.storage import StoreError, StudyStore


def test_trials_are_unique_per_cell_and_finished_rows_immutable(tmp_path):
    store = StudyStore(tmp_path / "s.db")
    study = store.create_study("a", {"x": 1})
    store.add_proposals(study.id, [("c1", 1, None), ("c2", 1, 0.5), ("c1", 2, 0.9)])
    trials = store.trials(study.id)
    assert [(t.cell, t.round, t.number) for t in trials] == [("c1", 1, 0), ("c2", 1, 1)]
    store.record_result(study.id, "c1", status="done", metrics={"accuracy": 0.7, "examples": 10})
    store.record_result(study.id, "c1", status="failed", error="late duplicate")
    t = store.trial(study.id, "c1")
    assert (t.status, t.accuracy, t.error, t.examples) == ("done", 0.7, None, 10)
    store.add_proposals(study.id, [("c3", 2, 0.1)])
    assert store.trial(study.id, "c3").number == 2


def test_reopening_keeps_everything(tmp_path):
    path = tmp_path / "s.db"
    store = StudyStore(path)
    study = store.create_study("a", {"k": [1, 2]})
    store.add_proposals(study.id, [("c1", 1, None)])
    store.record_result(
        study.id, "c1", status="done", metrics={"accuracy": 0.5, "extra": {"note": "x"}}, provenance={"torch": "2"}
    )
    store.save_artifact(study.id, "p", b"\x00\x01", {"level": 1})
    store.close()
    again = StudyStore(path)
    info = again.get_study("a")
    assert info.config == {"k": [1, 2]}
    trial = again.trial(info.id, "c1")
    assert trial.accuracy == 0.5 and trial.extra == {"note": "x"} and trial.provenance == {"torch": "2"}
    assert again.load_artifact(info.id, "p") == (b"\x00\x01", {"level": 1})


def test_a_file_that_is_not_a_study_is_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database at all")
    with pytest.raises(StoreError, match="not a pnas study file"):
        StudyStore(text)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(StoreError, match="not a pnas study file"):
        StudyStore(other)


def test_unwritable_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        StudyStore(tmp_path / "no" / "such" / "s.db")
    with pytest.raises(StoreError, match="directory"):
        StudyStore(tmp_path)


def test_second_process_is_refused_while_first_holds_the_lock(tmp_path):
    path = tmp_path / "s.db"
    store = StudyStore(path)
    study = store.create_study("a", {})
    store.lock_study(study.id, "a")
    code = (
        "import sys; from pnas.storage import StudyStore, StudyLocked\n"
        f"s = StudyStore({str(path)!r}); i = s.get_study('a')\n"
        "try:\n    s.lock_study(i.id, 'a')\nexcept StudyLocked as e:\n    print('LOCKED', e); sys.exit(3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 3 and "another running process" in out.stdout
    store.release_locks()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_lock_of_a_killed_process_does_not_block(tmp_path):
    path = tmp_path / "s.db"
    StudyStore(path).create_study("a", {})
    code = (
        "import os, signal; from pnas.storage import StudyStore\n"
        f"s = StudyStore({str(path)!r}); i = s.get_study('a'); s.lock_study(i.id, 'a')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", code])
    store = StudyStore(path)
    store.lock_study(store.get_study("a").id, "a")  # must not raise
    second = subprocess.run(
        [sys.executable, "-c", code.replace("os.kill(os.getpid(), signal.SIGKILL)", "")], capture_output=True, text=True
    )
    assert second.returncode != 0 and "another running process" in second.stderr
