"""Readers of a study file: nothing left beside a copy, a live writer's commits seen, locks kept per store."""

import os
import shutil
import subprocess
import sys

import pytest
from store_helpers import md5, small_study

from pnas.storage import StudyLocked, StudyStore


def files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def copied(tmp_path):
    """A finished study copied (the .db file alone) into a writable folder of its own."""
    small_study(tmp_path / "made.db")
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copy(tmp_path / "made.db", folder / "s.db")
    return folder / "s.db"


def test_a_reader_of_a_copied_study_leaves_no_file_beside_it(copied):
    before = md5(copied)
    for _ in range(2):
        reader = StudyStore(copied, create=False)
        study = reader.get_study("s")
        assert len(reader.trials(study.id, "done")) == 3 and not reader.is_driven(study.id)
        assert reader.load_artifact(study.id, "predictor")[1] == {"level": 1}
        reader.close()
    assert files(copied.parent) == ["s.db"] and md5(copied) == before


def test_a_reader_sees_the_commits_of_a_live_writer(copied):
    writer = StudyStore(copied)
    study = writer.get_study("s")
    writer.add_proposals(study.id, [("new", 2, 0.5)])
    reader = StudyStore(copied, create=False)  # a -wal is there: the writer is live
    assert reader.trial(study.id, "new").status == "pending"
    writer.record_result(study.id, "new", status="done", metrics={"accuracy": 0.9})
    assert reader.trial(study.id, "new").accuracy == 0.9
    reader.close()
    writer.close()


def test_a_reader_opened_before_a_writer_sees_its_commits(copied):
    reader = StudyStore(copied, create=False)
    study = reader.get_study("s")
    assert reader.trial(study.id, "new") is None
    writer = StudyStore(copied)
    writer.add_proposals(study.id, [("new", 2, 0.5)])
    assert reader.trial(study.id, "new").status == "pending"  # while the writer is open
    writer.record_result(study.id, "new", status="done", metrics={"accuracy": 0.9})
    assert reader.trial(study.id, "new").accuracy == 0.9
    reader.close()
    writer.close()

    reader = StudyStore(copied, create=False)
    writer = StudyStore(copied)
    writer.set_study_state(study.id, "running")
    writer.close()  # opened, written and closed between two reads: the reader's lock kept its -wal
    assert reader.get_study("s").state == "running"
    reader.close()
    StudyStore(copied).close()  # the next writer to close last tidies up
    assert files(copied.parent) == ["s.db"]


def test_another_store_of_the_driving_process_neither_drives_nor_frees_the_study(tmp_path):
    path = tmp_path / "s.db"
    driver = StudyStore(path)
    study = driver.create_study("a", {})
    driver.lock_study(study.id, "a")
    other = StudyStore(path)
    reader = StudyStore(path, create=False)
    assert other.is_driven(study.id) and reader.is_driven(study.id)
    with pytest.raises(StudyLocked, match="another store of this process"):
        other.lock_study(study.id, "a")
    other.close()
    reader.close()  # closing them must not drop the driver's lock
    code = (
        "import sys; from pnas.storage import StudyStore, StudyLocked\n"
        "s = StudyStore(sys.argv[1]); i = s.get_study('a')\n"
        "assert s.is_driven(i.id)\n"
        "try:\n    s.lock_study(i.id, 'a')\nexcept StudyLocked:\n    sys.exit(3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.returncode == 3, out.stdout + out.stderr
    driver.close()
    assert not StudyStore(path, create=False).is_driven(study.id)
    second = StudyStore(path)
    second.lock_study(study.id, "a")  # free once the driver released it
    second.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_readers_keep_no_descriptor_once_closed(tmp_path, copied):
    paths = []
    for i in range(20):
        paths.append(tmp_path / f"copy{i}.db")
        shutil.copy(copied, paths[-1])
    open_fds = lambda: len(os.listdir("/proc/self/fd"))
    before = open_fds()
    for path in paths:
        reader = StudyStore(path, create=False)
        assert reader.get_study("s") is not None
        reader.close()
    assert open_fds() == before
