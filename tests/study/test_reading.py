"""Reading a stored study: a trial holding what no search writes (an accuracy as text or above 1, a cell its
space cannot read) is refused, naming the study, the trial and the value, wherever the study is read."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from click.testing import CliRunner

import pnas
from pnas.cli.main import main
from pnas.search import SearchConfig, run_search
from pnas.storage.base import StoreError


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    path = tmp_path_factory.mktemp("reading") / "g.db"
    run_search(SearchConfig(evaluator="synthetic", blocks=1), storage=str(path), study="g").close()
    db = sqlite3.connect(path)  # everything into the file itself, so that a copy holds it all
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def damaged(stored, folder, column, value):
    """A copy of the study whose first trial has ``value`` in ``column``, written as sqlite3 would."""
    copy = folder / "bad.db"
    shutil.copy(stored, copy)
    db = sqlite3.connect(copy)
    db.execute(f"UPDATE trials SET {column} = ? WHERE rowid = (SELECT min(rowid) FROM trials)", (value,))
    db.commit()
    db.close()
    return copy


DAMAGE = [
    ("accuracy", "abc", "accuracy 'abc', not a fraction in [0, 1]"),
    ("accuracy", 1.5, "accuracy 1.5, not a fraction in [0, 1]"),
    ("accuracy", -0.25, "accuracy -0.25, not a fraction in [0, 1]"),
    ("report_accuracy", "n/a", "report_accuracy 'n/a', not a fraction in [0, 1]"),
    ("params", "many", "params 'many', not a number"),
    ("cell", "conv9x9(h1)+identity(h2)", "(conv9x9(h1)+identity(h2)): the pnas space cannot read its cell"),
]


@pytest.mark.parametrize("column, value, said", DAMAGE, ids=lambda v: str(v)[:12])
def test_a_trial_no_search_writes_is_refused_naming_the_study_the_trial_and_the_value(
    stored, tmp_path, column, value, said
):
    path = damaged(stored, tmp_path, column, value)
    with pnas.load_study("g", path) as study:
        with pytest.raises(StoreError) as refused:
            study.trials()
    message = str(refused.value)
    assert message.startswith(f"study 'g' in {path} holds a damaged trial 0")
    assert said in message and "restore the study file from a copy" in message


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["best"], ["best", "--pareto"], ["report"]])
def test_every_command_that_reads_it_refuses_it_in_one_line(stored, tmp_path, command):
    path = damaged(stored, tmp_path, "accuracy", "abc")
    out = ["--out", str(tmp_path / "report")] if command == ["report"] else []
    result = CliRunner().invoke(main, [*command, "--study", "g", "--storage", str(path), *out])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: study 'g'") and "trial 0" in lines[0], result.output
    assert "'abc'" in lines[0]
    assert not (tmp_path / "report").exists()


def test_an_intact_study_reads_as_before(stored):
    with pnas.load_study("g", stored) as study:
        trials = study.trials()
        assert trials and all(t.accuracy is None or 0 <= t.accuracy <= 1 for t in trials)
        assert study.summary()["totals"]["models"] == len(study.trials("done"))
