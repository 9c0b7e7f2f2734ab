"""A study's stored configuration: the registries that read it, the layouts it had, what may change on resume."""

from __future__ import annotations

from typing import Any

import pnas.config
from pnas.config import OptionSpec
from pnas.evaluation.base import EVALUATORS, Evaluator
from pnas.execution.base import EXECUTORS
from pnas.predictors.base import PREDICTORS
from pnas.pruners.base import PRUNERS, Pruner
from pnas.registry import Registry
from pnas.space import SPACES
from pnas.strategies.base import STRATEGIES, Strategy

REGISTRIES: dict[str, Registry[Any]] = {
    "space": SPACES,
    "strategy": STRATEGIES,
    "predictor": PREDICTORS,
    "evaluator": EVALUATORS,
    "executor": EXECUTORS,
    "pruner": PRUNERS,
}
"""Where each section of a study's configuration finds its components' declared options."""


def declared_options(section: str, name: str) -> dict[str, OptionSpec] | None:
    """The options a registered component declares; None for a section or component nobody registered."""
    registry = REGISTRIES.get(section)
    if registry is None or name not in registry:
        return None
    return registry.component(name).specs


NO_PRUNER = {"name": "none"}
"""What a configuration without a ``[pruner]`` section means: a study made before pruners existed, or one
whose pruner never stops a child (only a pruner that may is written, see :func:`study_config`)."""


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(refused, allowed) changes between a stored study's configuration and a new one (see
    :func:`pnas.config.config_changes`: the components' declarations decide)."""
    before, after = (_with_pruner(upgrade_layout(config)) for config in (old, new))
    return pnas.config.config_changes(before, after, declared_options)


def _with_pruner(config: dict[str, Any]) -> dict[str, Any]:
    return config if "pruner" in config else {**config, "pruner": dict(NO_PRUNER)}


def upgrade_layout(config: dict[str, Any]) -> dict[str, Any]:
    """A stored configuration in today's layout; the one place that knows earlier layouts.

    Studies made before predictors had their own section kept the progressive search's predictor
    under ``strategy`` (``predictor``, ``ensemble``, ``predictor_options``), and NAS-Bench-201's
    space recorded its fixed size.
    """
    space = config.get("space")
    if isinstance(space, dict) and space.get("name") == "nb201" and "max_level" in space:
        # its size is fixed (6 edges): it was recorded before spaces recorded only their options
        config = {**config, "space": {"name": "nb201"}}
    config = _one_size(config)
    strategy = config.get("strategy")
    if not isinstance(strategy, dict) or not isinstance(strategy.get("predictor"), str):
        return config
    strategy = dict(strategy)
    predictor = {"name": strategy.pop("predictor")}
    if "ensemble" in strategy:
        predictor["ensemble"] = strategy.pop("ensemble")
    predictor.update(strategy.pop("predictor_options", None) or {})
    upgraded = {key: value for key, value in config.items() if key != "strategy"}
    return {"space": upgraded.pop("space", None), "strategy": strategy, "predictor": predictor, **upgraded}


def _one_size(config: dict[str, Any]) -> dict[str, Any]:
    """The space alone sizes a study. Progressive studies once also recorded ``strategy.max_level`` (the
    level to stop at, the space's unless chosen lower); growing the space then left it behind, and the
    study trained nothing new. The smaller of the two was the size the study ran to: it becomes the
    space's."""
    strategy, space = config.get("strategy"), config.get("space")
    if not isinstance(strategy, dict) or "max_level" not in strategy:
        return config
    declared = declared_options("strategy", str(strategy.get("name")))
    if declared is None or "max_level" in declared:  # a plugin's own option of that name stays its own
        return config
    strategy = {key: value for key, value in strategy.items() if key != "max_level"}
    stop = config["strategy"]["max_level"]
    if isinstance(space, dict) and isinstance(stop, int) and isinstance(space.get("max_level"), int):
        space = {**space, "max_level": min(stop, space["max_level"])}
    return {**config, "space": space, "strategy": strategy}


def study_config(
    strategy: Strategy,
    evaluator: Evaluator | None,
    executor: dict[str, Any] | None = None,
    pruner: Pruner | None = None,
) -> dict[str, Any]:
    """The nested configuration a study stores: one section per component, from the built components
    (no evaluator section for a study whose cells the user evaluates; no pruner section for one whose
    pruner never stops a child, so that it stores what a study made before pruners stored)."""
    config: dict[str, Any] = {"space": strategy.space.config(), "strategy": strategy.config()}
    predictor = strategy.predictor_config()
    if predictor is not None:
        config["predictor"] = predictor
    if evaluator is not None:
        config["evaluator"] = {"name": evaluator.name, **evaluator.config()}
    if executor is not None:
        config["executor"] = executor
    if pruner is not None and pruner.prunes:
        config["pruner"] = pruner.config()
    return config
