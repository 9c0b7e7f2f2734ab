"""The [pruner] section: flags, the resume rule, and studies stored before pruners existed."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from pnas.cli.main import main
from pnas.search import SearchConfig, build_search, resolve
from pnas.storage import StudyStore
from pnas.study import config_changes

FIXTURES = Path(__file__).parent.parent / "fixtures" / "stored_studies"
SYNTHETIC = ["search", "--evaluator", "synthetic", "--strategy", "random", "--budget", "8", "--seed", "1"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_none_writes_no_section_so_old_and_new_studies_store_the_same():
    plain = build_search(SearchConfig(evaluator="synthetic", strategy="random")).config
    none = build_search(SearchConfig(evaluator="synthetic", strategy="random", pruner="none")).config
    assert plain == none and "pruner" not in none
    median = build_search(SearchConfig(evaluator="synthetic", strategy="random", pruner="median")).config
    assert median["pruner"] == {"name": "median", "percentile": 50.0, "warmup_steps": 0, "startup_trials": 5}
    assert config_changes(plain, {**plain, "pruner": {"name": "none"}}) == ([], [])
    refused, _ = config_changes(plain, median)
    assert refused == ["pruner.name: 'none' -> 'median'"]
    other = {**median, "pruner": {**median["pruner"], "percentile": 40.0}}
    assert config_changes(median, other)[0] == ["pruner.percentile: 50.0 -> 40.0"]


def test_an_option_of_another_pruner_is_refused_naming_whose_it_is(tmp_path):
    result = invoke(*SYNTHETIC, "--eta", "2", "--storage", tmp_path / "s.db", "--print-config")
    assert result.exit_code != 0 and "--eta is an option of successive-halving, not of pruner none" in result.output
    result = invoke(*SYNTHETIC, "--pruner", "successive-halving", "--eta", "2", "--print-config")
    assert result.exit_code == 0 and 'name = "successive-halving"\nmin_steps = 1\neta = 2' in result.output


def test_a_study_stored_before_pruners_resumes_as_none_and_refuses_another(tmp_path):
    storage = tmp_path / "s.db"
    shutil.copy(FIXTURES / "evolution.db", storage)  # a synthetic study, killed part-way by an earlier release
    db = sqlite3.connect(storage)
    (config,) = db.execute("SELECT config FROM studies WHERE name = 's'").fetchone()
    db.close()
    assert "pruner" not in config and "steps" not in config
    refused = invoke("search", "--study", "s", "--storage", storage, "--pruner", "median")
    assert refused.exit_code != 0 and "pruner.name: 'none' -> 'median'" in refused.output
    resumed = invoke("search", "--study", "s", "--storage", storage, "--pruner", "none")
    assert resumed.exit_code == 0, resumed.output
    expected = json.loads((FIXTURES / "evolution.json").read_text())["trials"]
    store = StudyStore(str(storage))
    trials = store.trials(store.get_study("s").id)
    store.close()
    assert [(t.number, t.cell, t.status, t.accuracy) for t in trials] == [
        (t["number"], t["cell"], t["status"], t["accuracy"]) for t in expected
    ]
    assert all("curve" not in t.extra and t.examples == 1 for t in trials)  # it trains as it did: one step each


def test_pnas_list_names_every_pruner_with_its_help_and_options():
    doc = json.loads(invoke("list", "--json").output)
    pruners = {p["name"]: p for p in doc["pruners"]}
    assert {"none", "median", "successive-halving"} <= set(pruners) and all(p["help"] for p in pruners.values())
    assert [o["name"] for o in pruners["successive-halving"]["options"]] == ["min_steps", "eta", "ladder"]


def test_a_successive_halving_study_stored_before_the_ladder_resumes_without_it():
    new = build_search(SearchConfig(evaluator="synthetic", strategy="pnas", pruner="successive-halving"))
    assert new.config["pruner"] == {"name": "successive-halving", "min_steps": 1, "eta": 3, "ladder": True}
    old = {**new.config, "pruner": {"name": "successive-halving", "min_steps": 1, "eta": 3}}
    assert not resolve([], stored=old).pruner.options.ladder  # absent: each child judged alone, as it was
    assert config_changes(old, new.config)[0] == ["pruner.ladder: False -> True"]
