"""The process-wide locks on study files: drivers' study locks and the claims on study names."""

import pytest

from pnas.storage import StudyClaim, StudyLocked, StudyStore
from pnas.storage.locking import lock_path


def test_one_lock_file_per_study_file_whatever_path_reaches_it(tmp_path):
    path = tmp_path / "s.db"
    (tmp_path / "link.db").symlink_to(path)
    assert lock_path(tmp_path / "link.db") == lock_path(path) == str(path) + ".lock"


def test_a_name_is_claimed_once_until_released(tmp_path):
    path = tmp_path / "s.db"
    with StudyClaim(path, "evo"):
        with pytest.raises(StudyLocked, match="'evo'.*another store of this process"):
            StudyClaim(tmp_path / "s.db", "evo")
        StudyClaim(path, "other").release()  # another name is free
    StudyClaim(path, "evo").release()


def test_a_claim_on_a_name_never_meets_a_drivers_study_lock(tmp_path):
    path = tmp_path / "s.db"
    store = StudyStore(path)
    study = store.create_study("evo", {})
    store.lock_study(study.id, "evo")
    with StudyClaim(path, "evo"), StudyClaim(path, "x"):
        assert store.is_driven(study.id)
    store.close()
    assert not StudyStore(path, create=False).is_driven(study.id)


def test_a_file_no_driver_started_on_gets_an_empty_claim_and_no_lock_file(tmp_path):
    path = tmp_path / "copy.db"
    StudyStore(path).close()
    (tmp_path / "copy.db.lock").unlink(missing_ok=True)  # as a copied file arrives: without its lock file
    with StudyClaim(path, "evo"), StudyClaim(path, "evo"):  # nothing to claim on, so nobody is refused
        assert not (tmp_path / "copy.db.lock").exists()


def test_a_store_in_memory_gets_an_empty_claim():
    with StudyClaim(None, "evo"), StudyClaim(":memory:", "evo"):
        pass
