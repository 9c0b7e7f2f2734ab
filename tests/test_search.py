"""``run_search``: the Python API behind ``pnas search`` (settings, resume, the study handle)."""

from __future__ import annotations

import sqlite3

import pytest

from pnas.search import SearchConfig, build_search, run_search
from pnas.storage import StudyStore
from pnas.study import ConfigMismatch


def evolution(**options) -> SearchConfig:
    return SearchConfig(**{"strategy": "evolution", "evaluator": "synthetic", "blocks": 2, "seed": 4, **options})


def trials(study) -> list[tuple[str, str, float | None]]:
    return [(t.cell, t.status, t.accuracy) for t in study.trials()]


def test_growing_the_budget_keeps_the_population_the_study_was_created_with(tmp_path):
    path = str(tmp_path / "s.db")
    with run_search(evolution(budget=20), storage=path, study="evo") as small:
        assert small.config["strategy"]["population"] == 5  # the default for a budget of 20
        first = trials(small)
    # a budget of 40 alone would default to a population of 10; the stored study keeps its 5
    with run_search(evolution(budget=40), storage=path, study="evo") as grown:
        assert grown.config["strategy"]["population"] == 5
        assert grown.config["strategy"]["budget"] == 40
        after = trials(grown)
    assert after[:20] == first  # nothing recorded was trained again or changed
    assert len(after) == 40
    with run_search(evolution(budget=40, population=5), storage=None, study="evo") as fresh:
        assert trials(fresh) == after  # growing gives the study an uninterrupted run would


def test_resuming_without_a_budget_keeps_the_grown_budget(tmp_path):
    path = str(tmp_path / "s.db")
    run_search(evolution(budget=20), storage=path, study="evo").close()
    run_search(evolution(budget=30), storage=path, study="evo").close()
    with run_search(evolution(), storage=path, study="evo") as again:  # the default budget is 8 * 1 + 136 = 144
        assert again.config["strategy"]["budget"] == 30
        assert len(again.trials()) == 30


def test_an_explicit_setting_that_differs_is_still_refused(tmp_path):
    path = str(tmp_path / "s.db")
    run_search(evolution(budget=20), storage=path, study="evo").close()
    with pytest.raises(ConfigMismatch, match=r"strategy.population: 5 -> 6"):
        run_search(evolution(budget=20, population=6), storage=path, study="evo")


def test_stored_values_fill_only_unset_options_of_the_same_strategy():
    stored = {
        "space": {"name": "pnas", "max_level": 2},
        "strategy": {"name": "evolution", "seed": 0, "budget": 50, "batch": 2, "population": 12, "sample": 3},
    }
    filled = build_search(evolution(sample=4), stored).config["strategy"]
    assert (filled["budget"], filled["population"], filled["sample"], filled["batch"]) == (50, 12, 4, 2)
    other = build_search(SearchConfig(strategy="reinforce", evaluator="synthetic", blocks=2), stored).config["strategy"]
    fresh = build_search(SearchConfig(strategy="reinforce", evaluator="synthetic", blocks=2)).config["strategy"]
    assert other == fresh  # another strategy's settings do not carry over


def test_a_study_given_a_path_closes_its_connection_and_a_shared_store_stays_open(tmp_path):
    path = str(tmp_path / "s.db")
    with run_search(evolution(budget=8), storage=path, study="own") as study:
        assert len(study.trials()) == 8
    with pytest.raises(sqlite3.ProgrammingError):
        study.trials()  # closed with the handle
    store = StudyStore(path)
    with run_search(evolution(budget=8), storage=store, study="shared") as shared:
        assert len(shared.trials()) == 8
    assert [s.name for s in store.list_studies()] == ["own", "shared"]  # the caller's store is still open
    store.close()


def test_a_refused_resume_closes_the_file_it_opened(tmp_path, monkeypatch):
    path = str(tmp_path / "s.db")
    run_search(evolution(budget=8), storage=path, study="evo").close()
    closed = []
    original = StudyStore.close
    monkeypatch.setattr(StudyStore, "close", lambda self: (closed.append(self.path), original(self)))
    with pytest.raises(ConfigMismatch):
        run_search(evolution(budget=8, seed=5), storage=path, study="evo")
    assert closed and all(str(p) == path for p in closed)


def test_the_in_memory_backend_runs_the_same_study_as_sqlite():
    from pnas.storage import MemoryStore

    config = SearchConfig(strategy="random", evaluator="synthetic", blocks=2, budget=20)
    with run_search(config, storage=MemoryStore(), study="m") as memory, run_search(config, storage=None) as sqlite:
        assert trials(memory) == trials(sqlite) and len(trials(memory)) == 20


def test_a_second_driver_is_refused_before_the_study_even_exists(tmp_path):
    import subprocess
    import sys

    from pnas.storage import StudyLocked

    path = tmp_path / "s.db"
    (tmp_path / "link.db").symlink_to(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pnas.storage.sqlite import StudyClaim; "
         f"c = StudyClaim({str(path)!r}, 'evo'); print('claimed', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "claimed"  # a driver still starting: no study written yet
        with pytest.raises(StudyLocked, match="driven by another running process"):
            run_search(evolution(budget=8), storage=str(tmp_path / "link.db"), study="evo")
        assert path.stat().st_size == 0  # the holder's claim made it, to lock it; nothing was written
    finally:
        holder.kill()
        holder.wait()
    run_search(evolution(budget=8), storage=str(path), study="evo").close()  # the claim died with its process
