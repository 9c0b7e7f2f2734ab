"""Registries: a factory named by ``"module:attr"`` is imported when it is first asked for, not before; plugins
that misbehave while they load are each a warning naming them, and pnas and its built-in components go on as
before."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from pnas.cli.main import _load_plugins
from pnas.config import option
from pnas.predictors import PREDICTORS
from pnas.predictors.builders import build_mlp
from pnas.registry import BuiltinKept, Registry, load_plugins
from pnas.study import REGISTRIES


@dataclass(frozen=True)
class _Options:
    size: int = option(3, "A size.", low=1)


def test_a_factory_named_by_its_module_is_imported_on_first_use():
    registry: Registry[object] = Registry("thing")
    registry.register("frac", "fractions:Fraction", options=_Options, help="A fraction.")
    component = registry.component("frac")
    assert component.help == "A fraction." and list(component.specs) == ["size"]
    assert component.module == "fractions" and not component.builtin
    import fractions

    assert registry.get("frac") is fractions.Fraction
    assert registry.create("frac", 1, 3) == fractions.Fraction(1, 3)


def test_a_builtin_named_by_its_module_is_builtin_without_importing_it():
    code = (
        "import sys\n"
        "from pnas.strategies import STRATEGIES\n"
        "guided = STRATEGIES.component('guided')\n"
        "assert guided.builtin and guided.module == 'pnas.strategies.guided'\n"
        "assert 'pnas.strategies.guided' not in sys.modules and 'torch' not in sys.modules\n"
        "assert guided.factory.__name__ == 'GuidedSearch' and 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_factory_that_cannot_be_imported_is_an_error_naming_the_component():
    registry: Registry[object] = Registry("thing")
    registry.register("gone", "pnas.no_such_module:build", help="Missing.")
    registry.register("typo", "fractions:Fractoin", help="Misspelt.")
    with pytest.raises(ImportError, match="thing 'gone': cannot import its factory pnas.no_such_module:build"):
        registry.get("gone")
    with pytest.raises(ImportError, match="thing 'typo': cannot import its factory fractions:Fractoin"):
        registry.create("typo")


EXITS = "import sys\n\nsys.exit(3)\n"
CLASHES = """from pnas.predictors import PREDICTORS


def build(space, **options):
    raise RuntimeError("not me")


PREDICTORS.register("mlp", build, help="A clash.")
PREDICTORS.register("clash-own", build, help="Its own name.")
"""


def test_a_plugin_that_exits_at_import_is_a_warning_naming_it(install_plugin):
    install_plugin("exits_at_import", "pnas.strategies", EXITS)
    with pytest.warns(UserWarning, match="plugin 'exits_at_import'"):
        problems = load_plugins(list(REGISTRIES.values()))
    assert problems == [
        "plugin 'exits_at_import' (exits_at_import, group pnas.strategies) failed to load and is skipped: SystemExit: 3"
    ]
    assert "pnas" in REGISTRIES["strategy"]


def test_a_plugin_registering_a_built_in_name_leaves_the_built_in_and_is_named(install_plugin):
    install_plugin("clash", "pnas.predictors", CLASHES)
    with pytest.warns(UserWarning, match="plugin 'clash'"):
        problems = load_plugins([PREDICTORS])
    assert len(problems) == 1
    assert problems[0].startswith("plugin 'clash' (clash, group pnas.predictors): predictor 'mlp' is built into pnas")
    assert "clash.build cannot replace it" in problems[0]
    assert PREDICTORS.get("mlp") is build_mlp and PREDICTORS.component("mlp").help != "A clash."
    assert "clash-own" in PREDICTORS  # the rest of the plugin is registered


@pytest.mark.parametrize("source", [EXITS, CLASHES], ids=["exits", "clashes"])
def test_the_command_line_says_it_in_one_warning_line_and_goes_on(install_plugin, capsys, source):
    install_plugin("misbehaves", "pnas.predictors", source)
    _load_plugins()  # as `pnas` does at start
    err = capsys.readouterr().err
    assert err.startswith("warning: plugin 'misbehaves'") and len(err.strip().splitlines()) == 1
    assert PREDICTORS.get("mlp") is build_mlp


def test_a_component_of_ones_own_may_be_registered_again():
    registry: Registry[object] = Registry("thing")

    def first() -> object:
        return 1

    def second() -> object:
        return 2

    registry.register("mine", first)
    with pytest.warns(UserWarning, match="registered twice; the later one wins"):
        registry.register("mine", second)
    assert registry.get("mine") is second


def test_a_built_in_name_taken_outside_a_plugin_keeps_the_built_in(scratch_registries):
    def build(space, **options):
        raise RuntimeError("not me")

    with pytest.warns(BuiltinKept, match="predictor 'mlp' is built into pnas: .*build cannot replace it"):
        PREDICTORS.register("mlp", build)
    assert PREDICTORS.get("mlp") is build_mlp


def test_a_plugin_taking_a_built_in_data_set_name_changes_none_of_its_traits(install_plugin):
    from pnas.evaluation.data import DATASETS

    before = DATASETS.traits("fashion-mnist"), DATASETS.get("fashion-mnist")
    source = "from pnas.evaluation.data import DATASETS\n\nDATASETS.register('fashion-mnist', print, channels=3)\n"
    install_plugin("photos", "pnas.datasets", source)
    with pytest.warns(UserWarning, match="plugin 'photos'.*data set 'fashion-mnist' is built into pnas"):
        load_plugins([DATASETS])
    assert (DATASETS.traits("fashion-mnist"), DATASETS.get("fashion-mnist")) == before
