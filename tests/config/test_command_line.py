"""``pnas search`` built from the registries: choices, inapplicable options, --config/--set/flags, plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.cli.search import _search_options, search
from pnas.study import REGISTRIES

ROOT = Path(__file__).parents[2]
NB201 = ["--space", "nb201", "--evaluator", "table"]
EVOLUTION = ["--strategy", "evolution", "--budget", "12", "--population", "6", "--sample", "2", "--seed", "1"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_the_component_choices_are_the_registries():
    fresh = _search_options(click.command()(lambda **options: None))  # as `pnas` builds it at start
    for command in (search, fresh):
        choices = {p.name: list(p.type.choices) for p in command.params if isinstance(p.type, click.Choice)}
        for section, registry in REGISTRIES.items():  # other tests may have registered more since start
            assert set(choices[section]) <= set(registry.names()) and choices[section] == sorted(choices[section])
    choices = {p.name: list(p.type.choices) for p in fresh.params if isinstance(p.type, click.Choice)}
    assert all(choices[section] == registry.names() for section, registry in REGISTRIES.items())
    flags = {p.name for p in fresh.params}
    assert {"population", "sample", "epochs", "workers", "max_retries", "blocks", "beam"} <= flags


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strategy", "random", "--population", "10"], "--population is an option of evolution, not of strategy random"),
        (["--strategy", "random", "--ensemble", "3"], "--ensemble is an option of the guided and pnas strategies, not of random"),
        (["--epochs", "3"], "--epochs is an option of train, not of evaluator table"),
        (["--set", "strategy.populaton=12", *EVOLUTION], "strategy.populaton is not an option of strategy evolution (did you mean population?)"),
        (["--set", "stratgy.population=12"], "unknown section 'stratgy' in --set (did you mean strategy?)"),
        (["--set", "population=12"], "--set expects SECTION.KEY=VALUE"),
        (["--set", "strategy.budget=-4", "--strategy", "random"], "strategy.budget must be at least 1, got -4"),
    ],
)  # fmt: skip
def test_a_wrong_option_is_one_clear_line(tmp_path, args, message):
    result = invoke("search", *NB201, "--storage", tmp_path / "s.db", *args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert message in result.output, result.output
    assert not (tmp_path / "s.db").exists()


def test_config_then_set_then_flags_and_print_config_round_trips(tmp_path):
    storage = tmp_path / "s.db"
    printed = invoke("search", *NB201, *EVOLUTION, "--storage", storage, "--study", "a", "--print-config")
    assert printed.exit_code == 0, printed.output
    (tmp_path / "a.toml").write_text(printed.stdout)
    config = tomllib.loads(printed.stdout)
    assert config["strategy"] == {
        "name": "evolution",
        "objectives": "accuracy",
        "seed": 1,
        "budget": 12,
        "population": 6,
        "sample": 2,
    }
    assert "\n# batch = 1\n" in printed.stdout  # derived from the workers: a comment
    layered = invoke(
        "search", "--config", tmp_path / "a.toml", "--set", "strategy.population=8", "--set", "strategy.sample=3",
        "--sample", "4", "--storage", storage, "--study", "b", "--print-config",
    )  # fmt: skip
    assert tomllib.loads(layered.stdout)["strategy"] | {"population": 6, "sample": 2} == config["strategy"]
    assert (
        tomllib.loads(layered.stdout)["strategy"]["population"],
        tomllib.loads(layered.stdout)["strategy"]["sample"],
    ) == (8, 4)
    assert not storage.exists()  # printing writes nothing
    for study, args in (("a", [*NB201, *EVOLUTION]), ("b", ["--config", tmp_path / "a.toml"])):
        assert invoke("search", *args, "--storage", storage, "--study", study).exit_code == 0
    best = [json.loads(invoke("best", "--study", s, "--storage", storage, "--json").stdout) for s in "ab"]
    assert [(t["cell"], t["accuracy"]) for t in best[0]] == [(t["cell"], t["accuracy"]) for t in best[1]]
    stored = invoke("search", "--study", "a", "--storage", storage, "--print-config")
    stored_strategy = {k: v for k, v in config["strategy"].items() if k != "objectives"} | {"batch": 1}
    assert tomllib.loads(stored.stdout)["strategy"] == stored_strategy  # as the study stores it


def assert_one_error_line(result):
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--objectives", "accuracy,foo"], "unknown objective 'foo'"),
        (["--set", "strategy.objectives=params"], "objectives params leave out accuracy"),
    ],
)
def test_print_config_refuses_what_the_search_refuses(tmp_path, args, message):
    storage = tmp_path / "s.db"
    for printing in ([], ["--print-config"]):
        line = assert_one_error_line(invoke("search", *NB201, "--storage", storage, *args, *printing))
        assert message in line
    assert not storage.exists()


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path):
    config = tmp_path / "latin.toml"
    config.write_bytes(b'[strategy]\nname = "random"\n# \xff\xfe\n')
    storage = tmp_path / "x.db"
    for printing in ([], ["--print-config"]):
        line = assert_one_error_line(
            invoke("search", "--config", config, "--storage", storage, "--study", "x", *printing)
        )
        assert str(config) in line and "UTF-8" in line
    assert not storage.exists()


def test_options_left_unset_on_resume_keep_the_stored_values(tmp_path):
    storage = tmp_path / "s.db"
    assert invoke("search", *NB201, *EVOLUTION, "--storage", storage, "--study", "e").exit_code == 0
    grown = invoke("search", "--budget", "16", "--storage", storage, "--study", "e", "--json")
    assert grown.exit_code == 0, grown.output
    doc = json.loads(grown.stdout)
    assert doc["config"]["strategy"]["population"] == 6 and doc["totals"]["models"] == 16
    refused = invoke("search", "--population", "7", "--storage", storage, "--study", "e")
    assert refused.exit_code == 2 and "strategy.population: 6 -> 7" in refused.output


def test_the_example_plugin_installs_lists_and_searches(tmp_path, monkeypatch):
    from pnas.cli.catalog import catalog
    from pnas.registry import load_plugins
    from pnas.search import SearchConfig, run_search

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site,
         ROOT / "examples" / "pnas-ridge-plugin"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    monkeypatch.syspath_prepend(str(site))  # as PYTHONPATH=site does for `pnas` itself
    assert load_plugins([REGISTRIES["predictor"]]) == []
    assert "ridge" in [p["name"] for p in catalog()["predictors"]]
    with run_search(SearchConfig(space="nb201", predictor="ridge", beam=3), storage=None) as study:
        assert study.config["predictor"] == {"name": "ridge", "alpha": 1.0}
        assert study.totals()["models"] == 24 + 3 * 5 and study.totals()["failed"] == 0


def test_a_broken_plugin_is_a_warning_not_a_crash(tmp_path, monkeypatch, capsys):
    from pnas.registry import load_plugins

    site = tmp_path / "site"
    info = site / "broken_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pnas.strategies]\nbroken = broken_plugin\n")
    (site / "broken_plugin.py").write_text("raise RuntimeError('this plugin is broken')\n")
    monkeypatch.syspath_prepend(str(site))
    with pytest.warns(UserWarning, match="plugin 'broken'"):
        problems = load_plugins(list(REGISTRIES.values()))
    assert len(problems) == 1 and "this plugin is broken" in problems[0]
    assert "broken" not in REGISTRIES["strategy"] and "pnas" in REGISTRIES["strategy"]
    # the command line says it in one line and goes on
    from pnas.cli.main import _load_plugins
    from pnas.search import load_components

    try:
        with pytest.warns(UserWarning, match="plugin 'broken'"):
            load_components(rescan=True)  # as a process started with the plugin installed does
        _load_plugins()
        err = capsys.readouterr().err
        assert err.startswith("warning: plugin 'broken'") and len(err.strip().splitlines()) == 1
    finally:
        monkeypatch.undo()  # the plugin uninstalled: later tests see none
        load_components(rescan=True)
