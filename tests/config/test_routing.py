"""Where a flat flag goes: to the chosen components that declare it, never by its name alone."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click
import pytest

from pnas.cli.main import main  # noqa: F401  (builds the commands: the CLI modules import each other)
from pnas.cli.search import _search_options
from pnas.config import ConfigError, option
from pnas.evaluation.base import EVALUATORS, EvalResult, Evaluator
from pnas.execution.base import EXECUTORS
from pnas.search import flat_layer, resolve


def _resolve(flags: dict[str, Any], *, layers: tuple[dict, ...] = (), stored: dict | None = None) -> dict[str, Any]:
    layer, origin = flat_layer(flags)
    return resolve([*layers, layer], stored=stored, origin=origin).config


def test_a_flag_goes_to_the_one_chosen_component_that_declares_it():
    assert _resolve({"predictor": "lstm", "hidden": 50, "evaluator": "synthetic"})["predictor"]["hidden"] == 50
    config = _resolve({"strategy": "reinforce", "hidden": 50, "evaluator": "synthetic", "budget": 4})
    assert config["strategy"]["hidden"] == 50 and "predictor" not in config


def test_the_components_may_be_chosen_by_a_file_or_the_stored_study():
    by_file = _resolve({"hidden": 50}, layers=({"predictor": {"name": "lstm"}, "evaluator": {"name": "synthetic"}},))
    assert by_file["predictor"] == {**by_file["predictor"], "name": "lstm", "hidden": 50}
    stored = _resolve({"strategy": "reinforce", "evaluator": "synthetic", "budget": 4})
    assert _resolve({"hidden": 40}, stored=stored)["strategy"]["hidden"] == 40


def test_one_value_sizes_a_study():
    # --max-level once also reached the progressive search's own stop level, which growth left behind
    config = _resolve({"max_level": 3, "evaluator": "synthetic"})
    assert config["space"]["max_level"] == 3 and "max_level" not in config["strategy"]


def test_shared_and_training_flags():
    config = _resolve({"seed": 3, "evaluator": "synthetic"})
    assert config["strategy"]["seed"] == config["evaluator"]["seed"] == 3
    config = _resolve({"epochs": 2, "predictor": "lstm"}, layers=({"predictor": {"epochs": 7}},))
    assert config["evaluator"]["epochs"] == 2 and config["predictor"]["epochs"] == 7  # the predictor's: --set
    with pytest.raises(ConfigError, match=r"--epochs is an option of train, not of evaluator table \(predictor mlp"):
        _resolve({"epochs": 2, "space": "nb201"})


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"strategy": "random", "population": 10}, "--population is an option of evolution, not of strategy random"),
        ({"strategy": "random", "ensemble": 3}, "--ensemble is an option of the guided and pnas strategies, not of random"),
        ({"space": "nb201", "blocks": 3}, "--blocks is an option of pnas, not of search space nb201"),
        ({"strategy": "random", "seed": -1}, "--seed must be at least 0, got -1"),
    ],
)  # fmt: skip
def test_a_flag_no_chosen_component_takes_is_one_line_naming_who_does(flags, message):
    with pytest.raises(ConfigError) as error:
        _resolve({"evaluator": "synthetic", **flags})
    assert message in str(error.value)


def test_an_empty_section_sets_nothing():
    config = resolve([{"strategy": {"name": "random"}, "predictor": {}, "evaluator": {"name": "synthetic"}}]).config
    assert "predictor" not in config


@pytest.mark.parametrize(
    "config",
    [
        {"strategy": {"name": "random"}, "predictor": {"ensemble": 3}},
        {"strategy": {"name": ["random"]}},
        {"strategy": {"name": "random", "budget": {"a": 1}}},
        {"strategy": "random"},
        ["strategy", "random"],
        {"space": {"name": "nb201"}, "evaluator": {"name": "table", "metric": 3}},
    ],
)
def test_a_wrong_configuration_is_a_config_error_never_a_crash(config):
    with pytest.raises(ConfigError):
        resolve([config])


# --- a plugin's components, registered for one test -------------------------------------------------


@dataclass(frozen=True)
class PluginOptions:
    budget: int = option(5, "A plugin's own budget: never the strategy's --budget.", low=1)
    shared_name: int = option(1, "Declared by the plugin's evaluator and executor.")
    lonely: int = option(1, "Declared by the plugin's evaluator alone.")
    seed: int = option(0, "A seed: --seed sets it with every other chosen component's.")


class PluginEvaluator(Evaluator):
    name = "plugin-eval"

    def __init__(self, **options: Any) -> None:
        self.options = PluginOptions(**options)

    def evaluate(self, cell: Any, progress: Any = None) -> EvalResult:
        return EvalResult(accuracy=0.5)

    def config(self) -> dict[str, Any]:
        return dict(vars(self.options))


@dataclass(frozen=True)
class PluginExecutorOptions:
    shared_name: int = option(1, "Declared by the plugin's evaluator and executor.")


@pytest.fixture
def plugin() -> Iterator[None]:
    EVALUATORS.register("plugin-eval", PluginEvaluator, options=PluginOptions, help="A test's plugin.")
    EXECUTORS.register("plugin-exec", lambda evaluator, **options: None, options=PluginExecutorOptions, help="Test.")
    yield
    EVALUATORS.unregister("plugin-eval")
    EXECUTORS.unregister("plugin-exec")


def test_a_plugins_option_never_takes_a_built_in_flag(plugin):
    config = _resolve({"evaluator": "plugin-eval", "strategy": "random", "budget": 9, "lonely": 4})
    assert (
        config["strategy"]["budget"] == 9 and config["evaluator"]["budget"] == 5 and config["evaluator"]["lonely"] == 4
    )
    with pytest.raises(ConfigError, match="--population is an option of evolution, not of strategy random"):
        _resolve({"evaluator": "plugin-eval", "strategy": "random", "population": 3})
    by_set = _resolve({"evaluator": "plugin-eval", "strategy": "random"}, layers=({"evaluator": {"budget": 2}},))
    assert by_set["evaluator"]["budget"] == 2
    seeded = _resolve({"evaluator": "plugin-eval", "strategy": "random", "seed": 3})
    assert seeded["evaluator"]["seed"] == seeded["strategy"]["seed"] == 3  # a shared flag sets every declarer


def test_a_flag_several_chosen_components_declare_is_refused_with_their_keys(plugin):
    with pytest.raises(
        ConfigError, match="--shared-name is an option of evaluator.shared_name and executor.shared_name"
    ):
        _resolve({"evaluator": "plugin-eval", "executor": "plugin-exec", "strategy": "random", "shared_name": 2})
    assert (
        _resolve({"evaluator": "plugin-eval", "strategy": "random", "shared_name": 2})["evaluator"]["shared_name"] == 2
    )
    with pytest.raises(ConfigError, match="--lonely is an option of plugin-eval, not of evaluator synthetic"):
        _resolve({"evaluator": "synthetic", "strategy": "random", "lonely": 2})


def test_the_command_line_offers_every_declared_flag(plugin):
    command = _search_options(click.command()(lambda **options: None))
    flags = {p.name: p for p in command.params}
    assert {"lonely", "shared_name", "hidden", "budget"} <= set(flags)
    assert "predictor.epochs" in flags["epochs"].help and "strategy reinforce" in flags["hidden"].help


@pytest.mark.parametrize(
    "args, section", [(["--predictor", "lstm"], "predictor"), (["--strategy", "reinforce"], "strategy")]
)
def test_print_config_puts_the_flag_under_the_component_that_declares_it(args, section):
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["search", *args, "--hidden", "50", "--print-config"])
    assert result.exit_code == 0, result.output
    assert tomllib.loads(result.stdout)[section]["hidden"] == 50


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_a_float_option_refuses_nan_and_infinity_in_one_line(text):
    """NaN passes every range comparison: refused where options are checked, once, for every float option."""
    from click.testing import CliRunner

    from pnas.cli.main import main

    result = CliRunner().invoke(main, ["search", "--evaluator", "synthetic", "--noise", text, "--print-config"])
    assert result.exit_code != 0 and "--noise" in result.output.splitlines()[-1]
    if text != "-inf":  # below --noise's lower bound: the command line's range check says so first
        assert f"--noise must be a finite number, got {float(text)!r}" in result.output
    with pytest.raises(ConfigError, match="strategy.kappa must be a finite number"):
        resolve([{"strategy": {"name": "guided", "acquisition": "ucb", "kappa": float(text)}}])
