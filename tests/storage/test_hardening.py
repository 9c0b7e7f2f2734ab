"""The study store under hostile use: other paths, races, read-only media, damaged and foreign files."""

import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import MALFORMED, make_malformed, md5, small_study

from pnas.storage import StoreError, StoreReadOnly, StudyStore


def test_the_lock_holds_for_every_path_to_the_file(tmp_path):
    real = tmp_path / "real" / "s.db"
    real.parent.mkdir()
    (tmp_path / "link.db").symlink_to(real)
    (tmp_path / "linked-folder").symlink_to(real.parent)
    store = StudyStore(tmp_path / "link.db")
    study = store.create_study("a", {})
    store.lock_study(study.id, "a")
    os.link(real, tmp_path / "hard.db")  # another name of the same file: the lock is the file's, not a name's
    code = (
        "import sys\nfrom pnas.storage import StudyLocked, StudyStore\n"
        "study = int(sys.argv[1])\n"
        "for path in sys.argv[2:]:\n"
        "    reader = StudyStore(path, create=False)\n"
        "    assert reader.is_driven(study), path\n"
        "    writer = StudyStore(path)\n"
        "    try:\n        writer.lock_study(study, 'a')\n"
        "    except StudyLocked:\n        continue\n"
        "    sys.exit(f'{path}: second driver not refused')\n"
    )
    paths = [real, tmp_path / "linked-folder" / "s.db", tmp_path / "hard.db"]
    out = subprocess.run(
        [sys.executable, "-c", code, str(study.id), *map(str, paths)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    store.close()
    assert not [p for p in tmp_path.rglob("*.lock")]  # nothing beside the file: the lock is on the file itself


def _open_at_once(barrier, paths, errors):
    for path in paths:
        barrier.wait()
        try:
            StudyStore(path).close()
        except Exception as exc:  # reported to the parent, which fails the test
            errors.put(f"{path}: {type(exc).__name__}: {exc}")


def test_processes_creating_the_same_new_file_at_once_all_succeed(tmp_path):
    processes, rounds = 8, 10
    paths = [str(tmp_path / f"race{r}.db") for r in range(rounds)]
    context = multiprocessing.get_context("fork")
    barrier, errors = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_open_at_once, args=(barrier, paths, errors)) for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert not failures, "\n".join(failures)
    assert all(w.exitcode == 0 for w in workers)
    for path in paths:
        store = StudyStore(path, create=False)
        assert store.list_studies() == []
        store.close()
        assert Path(path).read_bytes()[18:20] == b"\x02\x02"  # the header's read and write versions: WAL


def _foreign(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    db.execute("INSERT INTO notes (text) VALUES ('keep me')")
    db.commit()
    db.close()


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "other.db"
    _foreign(path)
    before = md5(path)
    for create in (False, True):
        with pytest.raises(StoreError, match=f"{path}.*not a pnas study file"):
            StudyStore(path, create=create)
        assert md5(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_an_empty_file_is_made_a_store_only_by_a_writer(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StoreError, match="holds no study yet"):
        StudyStore(path, create=False)
    assert path.stat().st_size == 0
    StudyStore(path).close()
    assert StudyStore(path, create=False).list_studies() == []


def test_a_reader_never_writes_to_a_store(tmp_path):
    path = tmp_path / "s.db"
    small_study(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")  # a store left in rollback mode by some other tool
    db.close()
    before = md5(path)
    reader = StudyStore(path, create=False)
    assert reader.read_only and len(reader.trials(reader.get_study("s").id)) == 3
    with pytest.raises(StoreReadOnly, match="reading only"):
        reader.create_study("t", {})
    reader.close()
    assert md5(path) == before  # still rollback mode: a reader switches nothing to WAL


@pytest.mark.parametrize("kind", MALFORMED)
def test_a_damaged_store_is_one_store_error_naming_the_file(tmp_path, kind):
    path = tmp_path / "s.db"
    make_malformed(kind, path)
    before = md5(path)
    for create in (False, True):
        with pytest.raises(StoreError) as caught:
            store = StudyStore(path, create=create)
            for info in store.list_studies():
                store.trials(info.id)
        message = str(caught.value)
        assert str(path) in message and "\n" not in message
        assert type(caught.value.__cause__) is not StoreError  # not a StoreError wrapping a StoreError
        assert md5(path) == before


def test_a_corrupted_artifact_is_a_store_error(tmp_path):
    path = tmp_path / "s.db"
    small_study(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE artifacts SET data = x'00112233445566778899'")
    db.commit()
    db.close()
    store = StudyStore(path, create=False)
    with pytest.raises(StoreError, match=f"{path}.*artifact"):
        store.load_artifact(store.get_study("s").id, "predictor")


def test_a_store_on_read_only_media_reads_and_refuses_writes_in_one_line(tmp_path, read_only_media):
    folder = tmp_path / "disk"
    folder.mkdir()
    small_study(folder / "s.db")
    before = md5(folder / "s.db")
    view = read_only_media(folder)
    path = view / "s.db"

    reader = StudyStore(path, create=False)
    study = reader.get_study("s")
    assert reader.read_only and len(reader.trials(study.id)) == 3 and not reader.is_driven(study.id)
    assert reader.load_artifact(study.id, "predictor") == (b"weights" * 10, {"level": 1})
    reader.close()

    store = StudyStore(path)
    assert store.read_only
    store.lock_study(study.id, "s")  # nobody can write through it: no lock, no lock file
    store.add_proposals(study.id, [("cell0", 1, 0.0), ("cell2", 1, 0.5)])  # all known: nothing to write
    store.set_study_state(study.id, "complete")  # already so
    store.save_artifact(study.id, "predictor", b"weights" * 10, {"level": 1})  # the same blob
    writes = [
        lambda: store.create_study("t", {}),
        lambda: store.add_proposals(study.id, [("cell0", 1, 0.0), ("new", 2, 0.1)]),
        lambda: store.set_study_state(study.id, "running"),
        lambda: store.mark_running(study.id, "cell0", "w"),
        lambda: store.record_result(study.id, "cell0", status="failed", error="x"),
        lambda: store.save_artifact(study.id, "other", b"x", {}),
        lambda: store.update_study_config(study.id, {"changed": True}),
    ]
    for write in writes:
        with pytest.raises(StoreReadOnly) as caught:
            write()
        message = str(caught.value)
        assert message.startswith(f"study storage {path} is read-only (") and "copy it to a writable place" in message
        assert "\n" not in message
    store.close()
    assert sorted(p.name for p in view.iterdir()) == ["s.db"]
    assert md5(path) == before


def test_a_replayed_round_writes_nothing(tmp_path):
    path = tmp_path / "s.db"
    small_study(path)
    store = StudyStore(path)
    study = store.get_study("s")
    changes = store._db.total_changes
    store.add_proposals(study.id, [("cell1", 1, 0.3), ("cell0", 1, 0.0)])
    store.set_study_state(study.id, "complete")
    store.update_study_config(study.id, study.config)
    store.save_artifact(study.id, "predictor", b"weights" * 10, {"level": 1})
    assert store._db.total_changes == changes and not store._db.in_transaction
    store.add_proposals(study.id, [("cell1", 1, 0.3), ("cell9", 2, 0.9)])
    assert [t.cell for t in store.trials(study.id)][-1] == "cell9"


def test_a_copy_keeps_working_in_memory_and_on_disk(tmp_path):
    memory = StudyStore(":memory:")
    assert not memory.read_only and memory.create_study("a", {}).name == "a"
    path = tmp_path / "s.db"
    small_study(path)
    shutil.copy(path, tmp_path / "copy.db")
    copy = StudyStore(tmp_path / "copy.db")
    assert not copy.read_only and copy._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    copy.create_study("b", {})
    assert [s.name for s in copy.list_studies()] == ["s", "b"]
