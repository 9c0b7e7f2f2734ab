"""A study stored by an earlier release, killed part-way, resumes exactly: one of each strategy.

The fixtures (tests/fixtures/stored_studies, made by its ``make_fixtures.py``) are studies killed at a
checkpoint by the release that still stored each round's predictor weights, beside the trials the same
release gave without the kill. Resuming one with today's code must end in exactly those trials.
"""

from __future__ import annotations

import json
import shutil
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


@pytest.mark.parametrize("name", STUDIES)
def test_a_stored_study_resumes_to_the_trials_of_an_uninterrupted_run(tmp_path, name):
    storage = tmp_path / "s.db"
    shutil.copy(FIXTURES / f"{name}.db", storage)
    result = CliRunner().invoke(main, ["search", "--study", "s", "--storage", str(storage)])
    assert result.exit_code == 0, result.output
    expected = json.loads((FIXTURES / f"{name}.json").read_text())["trials"]
    assert final_trials(storage) == [(t["number"], t["cell"], t["round"], t["status"], t["accuracy"]) for t in expected]
