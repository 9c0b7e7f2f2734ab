"""Plugins that misbehave while they load: each is a warning naming it, and pnas and its built-in components
go on as before."""

from __future__ import annotations

import pytest

from pnas.cli.main import _load_plugins
from pnas.predictors import PREDICTORS, build_mlp
from pnas.registry import BuiltinKept, Registry, load_plugins
from pnas.study import REGISTRIES

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
