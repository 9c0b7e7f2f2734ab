"""Study files made for the storage tests: small stores, and stores damaged in known ways."""

import hashlib
import sqlite3
from pathlib import Path

from pnas.storage import StudyStore


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def small_study(path: Path, trials: int = 3) -> None:
    """A closed store with one study, ``trials`` finished trials and one artifact."""
    store = StudyStore(path)
    study = store.create_study("s", {"strategy": {"name": "pnas"}})
    store.add_proposals(study.id, [(f"cell{i}", 1, i / trials) for i in range(trials)])
    for i in range(trials):
        store.record_result(
            study.id,
            f"cell{i}",
            status="done",
            metrics={"accuracy": i / trials, "examples": 1},
            provenance={"note": "p" * 60},
        )
    store.save_artifact(study.id, "predictor", b"weights" * 10, {"level": 1})
    store.set_study_state(study.id, "complete")
    store.close()


def _edit(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


MALFORMED = ("corrupted-middle", "foreign-meta", "marker-only", "schema-not-integer", "config-not-json")


def make_malformed(kind: str, path: Path) -> None:
    """Write a study file damaged as ``kind`` (one of MALFORMED) at ``path``."""
    if kind == "foreign-meta":
        _edit(path, "CREATE TABLE meta (k TEXT, v TEXT)", "INSERT INTO meta VALUES ('marker', 'pnas-study-store')")
        return
    if kind == "marker-only":
        _edit(
            path,
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "INSERT INTO meta VALUES ('marker', 'pnas-study-store'), ('schema', '1')",
        )
        return
    small_study(path, trials=300 if kind == "corrupted-middle" else 3)
    if kind == "corrupted-middle":
        page = 4096
        pages = path.stat().st_size // page
        assert pages > 8
        with open(path, "r+b") as f:
            f.seek(page * (pages // 2))
            f.write(b"\xff" * page * 2)
    elif kind == "schema-not-integer":
        _edit(path, "UPDATE meta SET value = 'one' WHERE key = 'schema'")
    elif kind == "config-not-json":
        _edit(path, "UPDATE studies SET config = '{not json'")
    else:
        raise ValueError(kind)
