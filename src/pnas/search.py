"""Resolve a search's configuration from the registries, and run it: what ``pnas search`` runs.

    from pnas.search import SearchConfig, run_search
    with run_search(SearchConfig(blocks=3, beam=8), storage="studies.db") as study:
        for trial in study.best(top=5):
            print(trial.cell, trial.accuracy)

A configuration comes in layers, later ones winning key by key: a nested
configuration (a TOML file), ``section.key`` overrides, and the flat options of
the command line (:class:`SearchConfig` in Python). :func:`resolve` checks every
given key against the options its chosen component declares (an option that
does nothing for the chosen components is an error naming both), fills what is
unset from a stored study of the same name, then from the declared defaults
and what the components derive from each other, and builds the components.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pnas.config import SECTIONS, ConfigError, check_sections, check_value, merge, nearest
from pnas.evaluation.base import Evaluator
from pnas.execution.base import EXECUTORS
from pnas.registry import load_plugins
from pnas.space.base import SearchSpace
from pnas.storage import StudyClaim, open_storage
from pnas.storage.base import StudyStorage
from pnas.strategies.base import DeriveContext, Strategy
from pnas.study.api import Components, Reporter, Study, open_configured
from pnas.study.layout import REGISTRIES, study_config, upgrade_layout

DEFAULT_STORAGE = "pnas-studies.db"
"""The study file ``pnas search``, ``status`` and ``best`` use when no --storage is given."""

DEFAULT_NAMES = {"space": "pnas", "strategy": "pnas", "predictor": "mlp", "executor": "local"}
"""The components a search uses when none is named; the evaluator follows the space (``table`` for
NAS-Bench-201, real training otherwise)."""

DEFAULT_BEAM = 8
"""K when none is given: also what a baseline's default budget is counted with."""

FLAT_ALIASES = {"blocks": ("space", "max_level")}
"""Flat options whose name differs from the option they set."""

SHARED_FLAT = {"seed": ("strategy", "evaluator"), "child_timeout": ("evaluator", "executor")}
"""Flat options that set the option of that name in every chosen component of these sections that
declares it (``--child-timeout``: the trainer stops at its next step, the executor kills the worker)."""

BUDGET_FLAT = ("blocks", "beam")
"""Flat options a budgeted strategy reads only for its default budget (as many models as the
progressive search with those settings would train)."""


def flat_options() -> dict[str, tuple[str, str]]:
    """Every flat option of the command line: name -> (section, option), from the registries.

    A name declared by components of several sections belongs to the first of
    evaluator, space, strategy, executor, predictor (``--epochs`` is the child's,
    ``--set predictor.epochs=N`` the predictor's).
    """
    load_components()
    out: dict[str, tuple[str, str]] = {"beam": ("strategy", "beam"), **FLAT_ALIASES}
    for section in ("evaluator", "space", "strategy", "executor", "predictor"):
        for component in REGISTRIES[section].components():
            for name in component.specs:
                out.setdefault(name, (section, name))
    for section in SECTIONS:
        out.pop(section, None)
    return out


_plugin_problems: list[str] | None = None


def load_components() -> list[str]:
    """Register the built-in components and every installed plugin's (once per process).

    Returns the problems of plugins that failed to load (each also a warning); they are skipped.
    """
    global _plugin_problems
    if _plugin_problems is None:
        import pnas.evaluation  # noqa: F401  (registers the built-in components)
        import pnas.execution.local  # noqa: F401
        import pnas.execution.ray  # noqa: F401  (registers the executor; Ray itself is imported when used)
        import pnas.predictors  # noqa: F401
        import pnas.strategies  # noqa: F401
        from pnas.evaluation.data import DATASETS

        _plugin_problems = load_plugins([*REGISTRIES.values(), DATASETS])
    return _plugin_problems


@dataclass
class SearchConfig:
    """The flat options of ``pnas search``, for Python: ``None`` means unset.

    ``space``, ``strategy``, ``predictor``, ``evaluator`` and ``executor`` name
    components; every other keyword is a flat option (``blocks``, ``beam``,
    ``budget``, ``epochs``, ``workers``, ...; see ``pnas search --help``).
    ``trainer`` takes more evaluator options, ``overrides`` a nested
    configuration applied before the flat options.
    """

    space: str | None = None
    strategy: str | None = None
    predictor: str | None = None
    evaluator: str | None = None
    executor: str | None = None
    blocks: int | None = None
    beam: int | None = None
    seed: int | None = None
    ensemble: int | None = None
    budget: int | None = None
    population: int | None = None
    sample: int | None = None
    batch: int | None = None
    dataset: str | None = None
    data_dir: str | None = None
    table: str | None = None
    metric: str | None = None
    report_metric: str | None = None
    device: str | None = None
    child_timeout: float | None = None
    workers: int | None = None
    max_retries: int | None = None
    trainer: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def flat(self) -> dict[str, Any]:
        values = {k: v for k, v in asdict(self).items() if k not in ("trainer", "overrides") and v is not None}
        values.update({k: v for k, v in self.trainer.items() if v is not None})
        return values

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def flat_layer(flat: Mapping[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str]]:
    """Flat options -> (a nested layer, which flat option gave each (section, key), for messages)."""
    table = flat_options()
    layer: dict[str, dict[str, Any]] = {}
    origin: dict[tuple[str, str], str] = {}
    for name, value in flat.items():
        if value is None:
            continue
        if name in SECTIONS:
            layer.setdefault(name, {})["name"] = value
            origin[(name, "name")] = _flag(name)
            continue
        if name in SHARED_FLAT:
            for section in SHARED_FLAT[name]:
                layer.setdefault(section, {})[name] = value
                origin[(section, name)] = _flag(name)
            continue
        if name not in table:
            raise ConfigError(f"unknown option {_flag(name)}{nearest(name, table)}")
        section, key = table[name]
        layer.setdefault(section, {})[key] = value
        origin[(section, key)] = _flag(name)
    return layer, origin


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass
class ResolvedSearch:
    """A search ready to run: its components and the configuration the study stores."""

    name: str
    config: dict[str, Any]
    space: SearchSpace
    strategy: Strategy
    evaluator: Evaluator
    executor: dict[str, Any]


def default_study_name(layer: Mapping[str, Mapping[str, Any]]) -> str:
    """Derived from the space, the data and the strategy, e.g. ``pnas-fashion-mnist-pnas``: the data is
    the evaluator's ``dataset`` option where it declares one, its name and ``metric`` where it
    declares that (``table-cifar10-val``), else its name."""
    load_components()
    space = layer.get("space", {}).get("name", DEFAULT_NAMES["space"])
    strategy = layer.get("strategy", {}).get("name", DEFAULT_NAMES["strategy"])
    evaluator = layer.get("evaluator", {})
    kind = evaluator.get("name") or _default_evaluator(space)
    specs = REGISTRIES["evaluator"].component(kind).specs if kind in REGISTRIES["evaluator"] else {}
    if "dataset" in specs:
        data = evaluator.get("dataset") or specs["dataset"].default
    elif "metric" in specs:
        data = f"{kind}-{evaluator.get('metric') or specs['metric'].default}"
    else:
        data = kind
    return f"{space}-{data}-{strategy}"


def _default_evaluator(space: str) -> str:
    """The evaluator the space suggests (:attr:`SearchSpace.default_evaluator`: NAS-Bench-201's table);
    an unknown space is left to :func:`resolve` to report."""
    if space not in REGISTRIES["space"]:
        return "train"
    return REGISTRIES["space"].create(space).default_evaluator


def resolve(
    layers: Sequence[Mapping[str, Mapping[str, Any]]],
    *,
    stored: Mapping[str, Any] | None = None,
    name: str = "",
    origin: Mapping[tuple[str, str], str] | None = None,
) -> ResolvedSearch:
    """Check and complete a configuration, and build its components (see the module docstring)."""
    load_components()
    origin = origin or {}
    for layer in layers:
        check_sections(layer, "the configuration")
    given = merge(*layers)
    old = upgrade_layout(dict(stored)) if stored else {}
    names = _choose_names(given, old)
    strategy_component = REGISTRIES["strategy"].component(names["strategy"])
    beam = given.get("strategy", {}).get("beam")
    if "budget" in strategy_component.specs and origin.get(("strategy", "beam")) == "--beam":
        given["strategy"].pop("beam")  # the flat --beam sets a baseline's default budget, not an option of it
    if "predictor" not in strategy_component.uses and "predictor" in given:
        key = next(iter(given["predictor"]))
        users = [c.name for c in REGISTRIES["strategy"].components() if "predictor" in c.uses]
        raise ConfigError(
            f"{origin.get(('predictor', key), 'predictor.' + key)} is an option of the {_and(users)} "
            f"strateg{'ies' if len(users) > 1 else 'y'}, not of {names['strategy']}"
        )
    values: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        if section not in names:
            continue
        component = REGISTRIES[section].component(names[section])
        specs = component.specs
        section_given = {k: v for k, v in given.get(section, {}).items() if k != "name"}
        for key in section_given:
            if key not in specs:
                if key in SHARED_FLAT and origin.get((section, key)) == _flag(key):
                    continue  # a shared flag sets only the components that have its option
                raise ConfigError(_not_an_option(section, names[section], key, origin))
        chosen = {k: s.default for k, s in specs.items()}
        stored_section = old.get(section)
        if isinstance(stored_section, Mapping) and stored_section.get("name") == names[section]:
            # an option the study predates means what the study did then, not today's default
            chosen.update({k: spec.absent_means for k, spec in specs.items() if k not in stored_section})
            chosen.update({k: v for k, v in stored_section.items() if k in specs and specs[k].kind(old) != "runtime"})
        chosen.update({k: v for k, v in section_given.items() if k in specs})
        values[section] = chosen
    space = REGISTRIES["space"].create(names["space"], **_checked("space", names, values))
    if "space" in REGISTRIES["evaluator"].component(names["evaluator"]).specs:
        values["evaluator"]["space"] = names["space"]
    workers = values["executor"].get("workers")
    context = DeriveContext(
        space=space, workers=workers or _default_workers(names["evaluator"]), beam=beam or DEFAULT_BEAM
    )
    derive = getattr(strategy_component.options, "derive", None)
    if derive is not None:
        derive(values["strategy"], context)
    strategy_options = _checked("strategy", names, values)
    if "predictor" in strategy_component.uses:
        predictor_options = _checked("predictor", names, values)
        strategy_options["predictor"] = names["predictor"]
        strategy_options["ensemble"] = predictor_options.pop("ensemble", 1)  # one model if it declares none
        strategy_options["predictor_options"] = predictor_options
    strategy = REGISTRIES["strategy"].create(names["strategy"], space, **strategy_options)
    evaluator = REGISTRIES["evaluator"].create(names["evaluator"], **_checked("evaluator", names, values))
    _check_goal(strategy, evaluator, names)
    executor = {"name": names["executor"], **_checked("executor", names, values)}
    config = study_config(strategy, evaluator, executor)
    return ResolvedSearch(name or "", config, space, strategy, evaluator, executor)


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _check_goal(strategy: Strategy, evaluator: Evaluator, names: Mapping[str, str]) -> None:
    """Objectives and limits the evaluator cannot serve are refused before anything runs."""
    goal = strategy.goal
    evaluators = REGISTRIES["evaluator"].components()
    if goal.uses_costs and type(evaluator).cost_model is Evaluator.cost_model:
        costing = [c.name for c in evaluators if isinstance(c.factory, type) and _tells_costs(c.factory)]
        raise ConfigError(
            f"--objectives {','.join(goal.objectives)} and the --max-* limits need each cell's costs before "
            f"training, which the {names['evaluator']} evaluator cannot give: use the {_or(costing)} evaluator"
        )
    if goal.uses_latency and not evaluator.measures_latency:
        measuring = [c.name for c in evaluators if "measure_latency" in c.specs]
        asked = "measure_latency" in REGISTRIES["evaluator"].component(names["evaluator"]).specs
        raise ConfigError(
            "the latency objective and --max-latency-ms need measured latencies: add --measure-latency "
            f"(an option of the {_or(measuring)} evaluator; the {names['evaluator']} evaluator "
            + ("measures only when asked)" if asked else "is chosen)")
        )


def _tells_costs(factory: type) -> bool:
    """Whether an evaluator class gives costs before training (it overrides :meth:`Evaluator.cost_model`)."""
    return issubclass(factory, Evaluator) and factory.cost_model is not Evaluator.cost_model


def _or(names: list[str]) -> str:
    return "" if not names else names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _choose_names(given: Mapping[str, Mapping[str, Any]], old: Mapping[str, Any]) -> dict[str, str]:
    """The component of each section: given, else the stored study's, else the default."""

    def pick(section: str, default: str) -> str:
        name = given.get(section, {}).get("name")
        if name is None and isinstance(old.get(section), Mapping):
            name = old[section].get("name")
        name = name or default
        registry = REGISTRIES[section]
        if name not in registry:
            raise ConfigError(f"unknown {registry.kind} {name!r}{nearest(str(name), registry.names())}")
        return str(name)

    names = {"space": pick("space", DEFAULT_NAMES["space"])}
    names["strategy"] = pick("strategy", DEFAULT_NAMES["strategy"])
    strategy = REGISTRIES["strategy"].component(names["strategy"])
    if "predictor" in strategy.uses:  # a strategy may prefer a predictor (guided search: a fast one)
        names["predictor"] = pick(
            "predictor", getattr(strategy.factory, "default_predictor", DEFAULT_NAMES["predictor"])
        )
    names["evaluator"] = pick("evaluator", _default_evaluator(names["space"]))
    names["executor"] = pick("executor", DEFAULT_NAMES["executor"])
    return names


def _not_an_option(section: str, name: str, key: str, origin: Mapping[tuple[str, str], str]) -> str:
    flag = origin.get((section, key))
    if flag is not None:
        owners = [c.name for c in REGISTRIES[section].components() if key in c.specs]
        whose = f"an option of {', '.join(owners)}" if owners else "not an option of any registered " + section
        return f"{flag} is {whose}, not of {REGISTRIES[section].kind} {name}"
    specs = REGISTRIES[section].component(name).specs
    return f"{section}.{key} is not an option of {REGISTRIES[section].kind} {name}{nearest(key, specs)}"


def _checked(section: str, names: Mapping[str, str], values: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    specs = REGISTRIES[section].component(names[section]).specs
    return {key: check_value(specs[key], value, f"{section}.{key}") for key, value in values[section].items()}


def _default_workers(evaluator: str) -> int:
    from pnas.execution.local import default_workers

    return default_workers(REGISTRIES["evaluator"].component(evaluator).factory)


def build_search(config: SearchConfig, stored: Mapping[str, Any] | None = None) -> ResolvedSearch:
    """The components a :class:`SearchConfig` stands for, built as :func:`run_search` would build them."""
    layers, origin = search_layers(config)
    return resolve(layers, stored=stored, origin=origin)


def search_layers(config: SearchConfig) -> tuple[list[dict[str, dict[str, Any]]], dict[tuple[str, str], str]]:
    layer, origin = flat_layer(config.flat())
    return [config.overrides, layer], origin


def stored_config(storage: StudyStorage | str | os.PathLike[str] | None, name: str) -> dict[str, Any] | None:
    """The stored configuration of study ``name``, if the storage and the study exist (read only)."""
    if isinstance(storage, StudyStorage):
        info = storage.get_study(name)
        return info.config if info else None
    if storage is None or not Path(storage).exists():
        return None
    store = open_storage(storage, read_only=True)
    try:
        info = store.get_study(name)
        return info.config if info else None
    finally:
        store.close()


def run_search(
    config: SearchConfig | None = None,
    *,
    storage: StudyStorage | str | None = DEFAULT_STORAGE,
    study: str | None = None,
    reporter: Reporter | None = None,
    layers: Sequence[Mapping[str, Mapping[str, Any]]] | None = None,
    origin: Mapping[tuple[str, str], str] | None = None,
) -> Study:
    """Create or resume the study and run it to the end with its registered evaluator and executor:
    what ``pnas search`` runs, on the Study API. ``storage=None`` keeps it in memory.

    ``layers`` (nested configurations, later ones winning) replace ``config`` when given. Given a
    path, the returned study owns the file's connection: use it in a ``with`` block (or call
    ``close()``) in a script that runs many studies.
    """
    if layers is None:
        layers, origin = search_layers(config or SearchConfig())
    name = study or default_study_name(merge(*layers))
    # a second driver of the same study is refused before anything slow starts
    with StudyClaim(storage.path if isinstance(storage, StudyStorage) else storage, name):

        def prepare(components: Components) -> None:
            assert components.evaluator is not None
            components.evaluator.prepare()  # data that cannot be read never leaves a study behind

        handle = open_configured(name, storage, layers, origin=origin, keep_evaluator=True, before_create=prepare)
        evaluator = handle.components.evaluator
        assert evaluator is not None
        try:
            options = {k: v for k, v in handle.components.executor.items() if k != "name"}
            with EXECUTORS.create(handle.components.executor["name"], evaluator, **options) as executor:
                handle.run(evaluator, executor=executor, reporter=reporter)
        except BaseException:
            handle.close()
            raise
    return handle
