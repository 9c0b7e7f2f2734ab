"""A study stored by an earlier release, killed part-way, resumes exactly: one of each strategy.

The fixtures (tests/fixtures/stored_studies, made by its ``make_fixtures.py``) are studies killed at a
checkpoint by the release that still stored each round's predictor weights, beside the trials the same
release gave without the kill. Resuming one with today's code must end in exactly those trials.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.storage import StudyStore

FIXTURES = Path(__file__).parent / "fixtures" / "stored_studies"
STUDIES = sorted(path.stem for path in FIXTURES.glob("*.db"))


def final_trials(storage: Path) -> list[tuple]:
    store = StudyStore(str(storage))
    try:
        info = store.get_study("s")
        assert info is not None and info.state == "complete"
        return [(t.number, t.cell, t.round, t.status, t.accuracy) for t in store.trials(info.id)]
    finally:
        store.close()


def test_there_is_a_stored_study_of_every_builtin_strategy():
    flags = [json.loads((FIXTURES / f"{name}.json").read_text())["flags"] for name in STUDIES]
    strategies = {f[f.index("--strategy") + 1] for f in flags}
    assert strategies == {"pnas", "random", "evolution", "reinforce", "guided"}


def spoil_stored_weights(storage: Path) -> int:
    """Make every stored predictor unloadable, as those of studies stored before the weights' format changed
    were: today's code does not read them. The number spoilt."""
    db = sqlite3.connect(storage)
    with db:
        spoilt = db.execute(
            "UPDATE artifacts SET data = ? WHERE name LIKE 'predictor-level-%' OR name LIKE 'guided-predictor-%'",
            (zlib.compress(b"weights of another layout"),),
        ).rowcount
    db.close()
    return spoilt


@pytest.mark.parametrize("name", STUDIES)
def test_a_stored_study_resumes_to_the_trials_of_an_uninterrupted_run(tmp_path, name):
    storage = tmp_path / "s.db"
    shutil.copy(FIXTURES / f"{name}.db", storage)
    resume_and_compare(storage, name)


@pytest.mark.parametrize("name", ["guided", "pnas-nb201"])
def test_a_stored_study_whose_predictors_cannot_be_loaded_resumes_all_the_same(tmp_path, name):
    storage = tmp_path / "s.db"
    shutil.copy(FIXTURES / f"{name}.db", storage)
    assert spoil_stored_weights(storage) > 0
    resume_and_compare(storage, name)


def resume_and_compare(storage: Path, name: str) -> None:
    result = CliRunner().invoke(main, ["search", "--study", "s", "--storage", str(storage)])
    assert result.exit_code == 0, result.output
    expected = json.loads((FIXTURES / f"{name}.json").read_text())["trials"]
    assert final_trials(storage) == [(t["number"], t["cell"], t["round"], t["status"], t["accuracy"]) for t in expected]


@pytest.mark.slow
def test_a_fresh_progressive_study_without_a_pruner_gives_the_stored_trials(tmp_path):
    """The paper's algorithm is what it was: run from the start today, the fixture's command gives every trial the
    earlier release gave, predictions included."""
    stored = json.loads((FIXTURES / "pnas.json").read_text())
    result = CliRunner().invoke(main, ["search", *stored["flags"], "--study", "s", "--storage", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output
    store = StudyStore(str(tmp_path / "s.db"))
    try:
        info = store.get_study("s")
        assert info is not None and "pruner" not in info.config
        trials = [(t.number, t.cell, t.round, t.status, t.accuracy, t.predicted) for t in store.trials(info.id)]
    finally:
        store.close()
    keys = ("number", "cell", "round", "status", "accuracy", "predicted")
    assert trials == [tuple(t[key] for key in keys) for t in stored["trials"]]
