"""``pnas status`` / ``best`` / ``search`` on study files that are read-only, damaged or not studies."""

import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from store_helpers import MALFORMED, make_malformed, md5

from pnas.cli.main import main

FINISHED = ["--evaluator", "synthetic", "--blocks", "1", "--study", "s"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_error_line(result):
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception  # not an exception escaping as a traceback
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("finished") / "s.db"
    result = invoke("search", *FINISHED, "--storage", path)
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(path)  # everything into the file itself, as a closed study file is
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def test_a_finished_study_on_read_only_media_is_reported_and_left_as_it_was(tmp_path, finished, read_only_media):
    folder = tmp_path / "disk"
    folder.mkdir()
    shutil.copy(finished, folder / "s.db")
    before = md5(folder / "s.db")
    path = read_only_media(folder) / "s.db"

    status = invoke("status", "--storage", path, "--json")
    assert status.exit_code == 0, status.output
    doc = json.loads(status.stdout)
    assert doc["state"] == "complete" and doc["totals"]["models"] == 136
    best = invoke("best", "--storage", path, "--top", "2")
    assert best.exit_code == 0 and len(best.stdout.strip().splitlines()) == 2, best.output
    again = invoke("search", *FINISHED, "--storage", path)
    assert again.exit_code == 0, again.output
    assert "study 's' (complete): 136 models trained" in again.stdout and doc["best"]["cell"] in again.stdout

    new_study = invoke("search", "--evaluator", "synthetic", "--blocks", "1", "--study", "t", "--storage", path)
    assert_one_error_line(new_study)
    assert (
        f"study storage {path} is read-only" in new_study.stderr and "copy it to a writable place" in new_study.stderr
    )

    assert sorted(p.name for p in path.parent.iterdir()) == ["s.db"]
    assert md5(path) == before


def test_status_of_a_copied_study_leaves_the_folder_as_it_was(tmp_path, finished):
    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copy(finished, folder / "s.db")
    before = md5(folder / "s.db")
    status = invoke("status", "--storage", folder / "s.db", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["totals"]["models"] == 136
    best = invoke("best", "--storage", folder / "s.db", "--json")
    assert best.exit_code == 0, best.output
    assert sorted(p.name for p in folder.iterdir()) == ["s.db"]
    assert md5(folder / "s.db") == before


@pytest.mark.parametrize("kind", MALFORMED)
def test_status_and_best_of_a_damaged_store_are_one_line(tmp_path, kind):
    path = tmp_path / "s.db"
    make_malformed(kind, path)
    before = md5(path)
    for command in (["status", "--json"], ["best"]):
        result = invoke(*command, "--storage", path)
        assert_one_error_line(result)
        assert str(path) in result.stderr
        assert md5(path) == before


def test_files_that_are_not_studies_are_refused_untouched(tmp_path):
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('keep me')")
    db.commit()
    db.close()
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (other, empty):
        before = md5(path)
        assert_one_error_line(invoke("status", "--storage", path))
        assert_one_error_line(invoke("best", "--storage", path, "--json"))
        assert md5(path) == before
    before = md5(other)
    assert_one_error_line(invoke("search", *FINISHED, "--storage", other))
    assert md5(other) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "other.db"]
