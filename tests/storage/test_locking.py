"""The process-wide locks on study files: drivers' study locks and the claims on study names."""

import os
import subprocess
import sys

import pytest

from pnas.storage import StudyClaim, StudyLocked, StudyStore


def test_a_name_is_claimed_once_until_released(tmp_path):
    path = tmp_path / "s.db"
    with StudyClaim(path, "evo"):
        with pytest.raises(StudyLocked, match="'evo'.*another store of this process"):
            StudyClaim(tmp_path / "s.db", "evo")
        StudyClaim(path, "other").release()  # another name is free
    StudyClaim(path, "evo").release()


def test_a_claim_is_the_files_whatever_name_reaches_it(tmp_path):
    path = tmp_path / "s.db"
    StudyStore(path).close()
    (tmp_path / "link.db").symlink_to(path)
    os.link(path, tmp_path / "hard.db")
    with StudyClaim(path, "evo"):
        for other in ("link.db", "hard.db"):
            with pytest.raises(StudyLocked, match="another store of this process"):
                StudyClaim(tmp_path / other, "evo")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.db", "link.db", "s.db"]


def test_a_claim_held_by_another_process_refuses_every_name_of_the_file(tmp_path):
    path = tmp_path / "s.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pnas.storage import StudyClaim; "
         f"c = StudyClaim({str(path)!r}, 'evo'); print('claimed', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "claimed"
        os.link(path, tmp_path / "hard.db")  # the claim made the (empty) file, so it has a name to link
        with pytest.raises(StudyLocked, match="driven by another running process"):
            StudyClaim(tmp_path / "hard.db", "evo")
    finally:
        holder.kill()
        holder.wait()
    StudyClaim(tmp_path / "hard.db", "evo").release()  # the claim died with its process


def test_a_claim_on_a_new_file_that_wrote_nothing_leaves_nothing(tmp_path):
    (tmp_path / "link.db").symlink_to(tmp_path / "s.db")  # a link to a file still to come, too
    for path in (tmp_path / "s.db", tmp_path / "link.db"):
        with StudyClaim(path, "evo"):
            assert (tmp_path / "s.db").exists()  # made empty, to have something to lock
        assert sorted(p.name for p in tmp_path.iterdir()) == ["link.db"]


def test_a_claim_on_a_new_file_keeps_the_store_written_under_it(tmp_path):
    path = tmp_path / "s.db"
    with StudyClaim(path, "evo"):
        store = StudyStore(path)
        store.create_study("evo", {})
    assert StudyStore(path, create=False).get_study("evo") is not None
    store.close()


def test_a_claim_on_a_name_never_meets_a_drivers_study_lock(tmp_path):
    path = tmp_path / "s.db"
    store = StudyStore(path)
    study = store.create_study("evo", {})
    store.lock_study(study.id, "evo")
    with StudyClaim(path, "evo"), StudyClaim(path, "x"):
        assert store.is_driven(study.id)
    store.close()
    assert not StudyStore(path, create=False).is_driven(study.id)


def test_a_copied_file_is_claimed_and_nothing_is_made_beside_it(tmp_path):
    path = tmp_path / "copy.db"
    StudyStore(path).close()
    with StudyClaim(path, "evo"):
        with pytest.raises(StudyLocked):
            StudyClaim(path, "evo")
    assert [p.name for p in tmp_path.iterdir()] == ["copy.db"]


def test_a_file_on_read_only_media_gets_an_empty_claim(tmp_path, read_only_media):
    folder = tmp_path / "data"
    folder.mkdir()
    StudyStore(folder / "s.db").close()
    view = read_only_media(folder)
    with StudyClaim(view / "s.db", "evo"), StudyClaim(view / "s.db", "evo"):  # nobody can write through it
        pass
    with StudyClaim(view / "new.db", "evo"):  # nor make it
        pass
    assert sorted(p.name for p in folder.iterdir()) == ["s.db"]


def test_a_store_in_memory_gets_an_empty_claim():
    with StudyClaim(None, "evo"), StudyClaim(":memory:", "evo"):
        pass
