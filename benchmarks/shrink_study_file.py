"""Drop the fitted predictor weights that earlier releases stored in a study file, then compact it.

Until studies replayed from their decisions, the progressive search stored every round's fitted
predictor (``predictor-level-N``) and the guided search every step's (``guided-predictor-step-N``,
``guided-screen-step-N``): about 300 KB a step. Today's code takes a replayed round's picks from its
trials and never reads those weights, so a study without them resumes exactly as with them. Nothing
else is touched (trials, configurations, zero-cost rows, timings, fingerprints).

    python benchmarks/shrink_study_file.py FILE.db [FILE.db ...]
"""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

STORED_WEIGHTS = re.compile(r"predictor-level-\d+|guided-(predictor|screen)-step-\d+")
"""Names of the artifacts that held fitted predictor weights."""


def shrink(path: Path) -> tuple[int, int, int]:
    """Drop the stored weights of every study in ``path`` and compact it: (artifacts dropped, bytes before, after)."""
    before = path.stat().st_size
    db = sqlite3.connect(path)
    try:
        names = [(study, name) for study, name in db.execute("SELECT study_id, name FROM artifacts")]
        dropped = [(study, name) for study, name in names if STORED_WEIGHTS.fullmatch(name)]
        with db:
            db.executemany("DELETE FROM artifacts WHERE study_id = ? AND name = ?", dropped)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
    finally:
        db.close()
    return len(dropped), before, path.stat().st_size


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    for name in argv:
        dropped, before, after = shrink(Path(name))
        print(f"{name}: dropped {dropped} stored predictors, {before:,} -> {after:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
