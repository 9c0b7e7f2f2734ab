"""The one resume rule, derived from every registered component's declared options."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pnas.config import GROWS, RUNTIME, config_changes
from pnas.search import SearchConfig, build_search, load_components
from pnas.study import REGISTRIES, declared_options
from pnas.study import config_changes as study_changes

load_components()
DECLARED = [
    (section, component.name, spec)
    for section, registry in REGISTRIES.items()
    for component in registry.components()
    for spec in component.specs.values()
]


def _other_value(spec):
    """A valid value different from the default, of the option's type."""
    if spec.choices:
        return next(c for c in spec.choices if c != spec.default)
    value = spec.default
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 + 1
    return "/somewhere/else" if value is None or isinstance(value, str) else value


@pytest.mark.parametrize("section, name, spec", DECLARED, ids=[f"{s}.{n}.{o.name}" for s, n, o in DECLARED])
def test_every_declared_option_follows_its_declaration(section, name, spec):
    old = {section: {"name": name, spec.name: spec.default}}
    new = {section: {"name": name, spec.name: _other_value(spec)}}
    refused, allowed = config_changes(old, new, declared_options)
    kind = spec.kind(new)
    if kind == RUNTIME:
        assert (refused, allowed) == ([], [])
    elif kind == GROWS and isinstance(new[section][spec.name], int) and isinstance(spec.default, int):
        assert refused == [] and allowed == [f"{section}.{spec.name}: {spec.default!r} -> {new[section][spec.name]!r}"]
        shrunk = config_changes(new, old, declared_options)[0]
        assert shrunk == [f"{section}.{spec.name}: {new[section][spec.name]!r} -> {spec.default!r}"]
    else:
        assert [r.split(":")[0] for r in refused] == [f"{section}.{spec.name}"] and allowed == []


def test_a_key_absent_from_a_stored_study_means_what_that_study_did():
    old = {"evaluator": {"name": "train", "epochs": 3}}  # made before `concat` existed, say
    same = {"evaluator": {"name": "train", "epochs": 3, "concat": "all"}}
    other = {"evaluator": {"name": "train", "epochs": 3, "concat": "unused"}}
    assert config_changes(old, same, declared_options) == ([], [])
    assert config_changes(old, other, declared_options)[0] == ["evaluator.concat: 'all' -> 'unused'"]


def test_another_component_is_refused_by_name():
    refused, _ = config_changes({"strategy": {"name": "random"}}, {"strategy": {"name": "evolution"}}, declared_options)
    assert refused == ["strategy.name: 'random' -> 'evolution'"]


def test_an_undeclared_component_has_every_key_deciding_results():
    refused, _ = config_changes(
        {"strategy": {"name": "mine", "workers": 1}}, {"strategy": {"name": "mine", "workers": 2}}, declared_options
    )
    assert refused == ["strategy.workers: 1 -> 2"]


RESULTS = Path(__file__).parents[2] / "benchmarks" / "results" / "fashion_mnist_strategies.db"


def test_studies_of_the_earlier_layout_resume_unchanged():
    """The committed benchmark studies (predictor under `strategy`, no executor) are reused as they are."""
    db = sqlite3.connect(f"file:{RESULTS}?immutable=1", uri=True)
    try:
        studies = db.execute("SELECT name, config FROM studies").fetchall()
    finally:
        db.close()
    earlier = ("pnas", "random", "evolution")  # the file's later studies (guided) are of today's layout
    studies = [(name, text) for name, text in studies if name.rsplit("-seed", 1)[0] in earlier]
    assert len(studies) == 9
    import json

    for name, text in studies:
        stored = json.loads(text)
        strategy, seed = name.rsplit("-seed", 1)
        flat = SearchConfig(strategy=strategy, seed=int(seed))
        assert study_changes(stored, build_search(flat, stored).config) == ([], []), name
        if strategy != "evolution":  # whose default batch is the worker count, so depends on the machine
            assert study_changes(stored, build_search(flat).config) == ([], []), name


@pytest.mark.parametrize("name", ["lstm", "mlp"])
def test_a_predictors_declared_defaults_are_its_own(name):
    """Passing every declared default explicitly builds the same predictor as passing none."""
    from pnas.predictors import create_predictor
    from pnas.space import PnasSpace

    defaults = {k: s.default for k, s in REGISTRIES["predictor"].component(name).specs.items() if k != "ensemble"}
    implicit = create_predictor(name, PnasSpace(3), seed=1)
    explicit = create_predictor(name, PnasSpace(3), seed=1, **defaults)
    assert implicit.config == explicit.config


def test_every_evaluator_and_executor_default_is_its_constructors():
    """Declared defaults that a constructor also has must agree (the search passes them all)."""
    import inspect

    for section in ("evaluator", "executor"):
        for component in REGISTRIES[section].components():
            factory = component.factory
            parameters = inspect.signature(factory.__init__ if inspect.isclass(factory) else factory).parameters
            for key, spec in component.specs.items():
                p = parameters.get(key)
                if p is None or p.default is inspect.Parameter.empty or spec.default is None:
                    continue
                assert p.default == spec.default or p.default is None, (component.name, key, p.default, spec.default)


@pytest.mark.parametrize("name", ["pnas", "random", "evolution", "reinforce", "guided"])
def test_a_strategy_built_in_python_is_the_one_the_command_line_builds(name):
    """One source of defaults: the options dataclass, for ``Strategy(space)`` and ``pnas search`` alike."""
    from pnas.space import PnasSpace

    resolved = build_search(SearchConfig(strategy=name, blocks=2, evaluator="synthetic"))
    built = REGISTRIES["strategy"].component(name).factory(PnasSpace(2))
    assert built.config() == resolved.strategy.config()
    chosen = ("predictor_name", "ensemble")  # its other options are the predictor's own defaults
    assert [getattr(built, k, None) for k in chosen] == [getattr(resolved.strategy, k, None) for k in chosen]


def test_an_option_a_study_predates_resolves_to_what_the_study_did(monkeypatch):
    """A new option whose default differs from the old behaviour: an old study resumes with its
    ``legacy`` value, a new study gets the default."""
    from dataclasses import dataclass, fields

    from pnas.config import option
    from pnas.evaluation.base import EVALUATORS
    from pnas.evaluation.synthetic import SyntheticEvaluator, SyntheticOptions

    @dataclass(frozen=True)
    class Options(SyntheticOptions):
        mode: str = option("new", "How it scores.", choices=("old", "new"), legacy="old")

    class Evaluator(SyntheticEvaluator):
        name = "versioned"

        def __init__(self, mode: str = "new", **settings):
            super().__init__(**settings)
            self.mode = mode

        def config(self):
            return {**super().config(), "mode": self.mode}

    registry = EVALUATORS._entries
    monkeypatch.setitem(registry, "versioned", registry["synthetic"].__class__(
        "evaluator", "versioned", Evaluator, Options, "test", ()))  # fmt: skip
    assert "mode" in {f.name for f in fields(Options)}
    fresh = build_search(SearchConfig(evaluator="versioned", strategy="random"))
    assert fresh.config["evaluator"]["mode"] == "new"
    old = dict(fresh.config, evaluator={k: v for k, v in fresh.config["evaluator"].items() if k != "mode"})
    resumed = build_search(SearchConfig(evaluator="versioned", strategy="random"), stored=old)
    assert resumed.config["evaluator"]["mode"] == "old"
    assert study_changes(old, resumed.config) == ([], [])
    assert study_changes(old, fresh.config)[0] == ["evaluator.mode: 'old' -> 'new'"]
