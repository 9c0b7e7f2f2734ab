"""The committed benchmark results stay small and hold studies that resume from their decisions."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))

import shrink_study_file  # noqa: E402


def test_no_result_file_is_over_10_mb():
    sizes = {path.name: path.stat().st_size for path in RESULTS.iterdir()}
    assert sizes and max(sizes.values()) <= 10 * 1024 * 1024, sizes


def test_the_committed_studies_are_complete_and_hold_no_predictor_weights():
    studies = sorted(RESULTS.glob("*.db"))
    assert studies
    for path in studies:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            states = {state for (state,) in db.execute("SELECT state FROM studies")}
            names = [name for (name,) in db.execute("SELECT name FROM artifacts")]
            open_trials = db.execute(
                "SELECT COUNT(*) FROM trials WHERE status NOT IN ('done', 'failed', 'pruned')"
            ).fetchone()
        assert states == {"complete"} and open_trials == (0,)
        assert not [name for name in names if shrink_study_file.STORED_WEIGHTS.fullmatch(name)]


def test_shrinking_a_study_file_drops_only_the_stored_predictors(tmp_path):
    storage = tmp_path / "s.db"
    shutil.copy(ROOT / "tests" / "fixtures" / "stored_studies" / "guided.db", storage)
    with sqlite3.connect(storage) as db:
        before = {name for (name,) in db.execute("SELECT name FROM artifacts")}
        trials = db.execute("SELECT * FROM trials ORDER BY number").fetchall()
    dropped, size_before, size_after = shrink_study_file.shrink(storage)
    with sqlite3.connect(storage) as db:
        after = {name for (name,) in db.execute("SELECT name FROM artifacts")}
        assert db.execute("SELECT * FROM trials ORDER BY number").fetchall() == trials
    assert dropped == len(before - after) > 0 and size_after < size_before
    assert all(name.startswith("guided-predictor-step-") for name in before - after)
    assert {name for name in after if name.startswith("predictor-seconds-")}
