"""Resolve a search's configuration from the registries, and run it: what ``pnas search`` runs.

    from pnas.search import SearchConfig, run_search
    with run_search(SearchConfig(blocks=3, beam=8), storage="studies.db") as study:
        for trial in study.best(top=5):
            print(trial.cell, trial.accuracy)

A configuration comes in layers, later ones winning key by key: a nested
configuration (a TOML file), ``section.key`` overrides, and the flat options of
the command line (:class:`SearchConfig` in Python). :func:`resolve` chooses the
components first (given, else the stored study's, else the defaults), then
routes each flat option to the chosen components that declare it
(:func:`route_flags`), checks every given key against the options its
component declares (an option that does nothing for the chosen components is an
error naming both), fills what is unset from a stored study of the same name,
then from the declared defaults and what the components derive from each
other, and builds the components. Every wrong configuration is a
:class:`~pnas.config.ConfigError` (a ValueError).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pnas.config import (
    SECTIONS,
    ConfigError,
    OptionError,
    Options,
    check_sections,
    check_value,
    merge,
    nearest,
)
from pnas.evaluation.base import Evaluator
from pnas.execution.base import EXECUTORS, Executor
from pnas.pruners.base import Pruner
from pnas.registry import Component, load_plugins
from pnas.space.base import SearchSpace
from pnas.storage import StudyClaim, open_storage
from pnas.storage.base import StudyStorage
from pnas.strategies.base import DEFAULT_BEAM, DEFAULT_PREDICTOR, DeriveContext, Strategy
from pnas.study.api import Components, Reporter, Study, open_configured
from pnas.study.layout import REGISTRIES, study_config, upgrade_layout

DEFAULT_STORAGE = "pnas-studies.db"
"""The study file ``pnas search``, ``status`` and ``best`` use when no --storage is given."""

DEFAULT_NAMES = {
    "space": "pnas",
    "strategy": "pnas",
    "predictor": DEFAULT_PREDICTOR,
    "executor": "local",
    "pruner": "none",
}
"""The components a search uses when none is named; the evaluator follows the space (``table`` for
NAS-Bench-201, real training otherwise)."""

FLAT_ALIASES = {"blocks": ("space", "max_level")}
"""Flat options whose name differs from the option they set."""

SHARED_FLAGS = ("seed", "child_timeout")
"""Flat options that set the option of that name in every chosen component that declares it
(``--child-timeout``: the trainer stops at its next step, the executor kills the worker)."""

TRAINING_FLAGS = ("epochs", "lr", "weight_decay", "batch_size", "threads")
"""Flat options that are the evaluator's wherever it declares them, and never a predictor's: a
predictor's own (``predictor.epochs``, ...) is set with ``--set predictor.KEY=VALUE``."""

BUDGET_FLAT = ("blocks", "beam")
"""Flat options a budgeted strategy reads only for its default budget (as many models as the
progressive search with those settings would train)."""

NOT_FLAGS = frozenset({*SECTIONS, "name"})
"""Option names that are never flat flags (the flags of the sections themselves)."""


def flag_declarations() -> dict[str, list[tuple[str, Component]]]:
    """Every flat option of the command line: name -> every (section, component) that declares it.

    The command line offers them all before the components are chosen; :func:`resolve` routes
    each given flag to the chosen components that declare it (see :func:`route_flags`).
    """
    load_components()
    out: dict[str, list[tuple[str, Component]]] = {}
    for section in SECTIONS:
        for component in REGISTRIES[section].components():
            for name in component.specs:
                if name not in NOT_FLAGS:
                    out.setdefault(name, []).append((section, component))
    for name, (section, key) in FLAT_ALIASES.items():
        out[name] = [(section, c) for c in REGISTRIES[section].components() if key in c.specs]
    return out


def _builtin_flag(name: str) -> bool:
    """Whether a built-in component declares this flag: then no plugin's option of that name takes it."""
    return any(component.builtin for _, component in flag_declarations().get(name, []))


class FlagLayer(dict[str, dict[str, Any]]):
    """The flat options of the command line (:class:`SearchConfig` in Python), as one layer.

    Which component a flag sets depends on the components chosen, which other layers and a
    stored study may decide: :func:`resolve` routes :attr:`flags` once they are known. Read as
    a nested layer it holds the components it names and the flags routed as if those (or the
    defaults) were chosen, which is what a default study name is derived from.
    """

    def __init__(self, flags: Mapping[str, Any]) -> None:
        self.flags = {name: value for name, value in flags.items() if value is not None}
        named = {section: {"name": self.flags[section]} for section in SECTIONS if section in self.flags}
        super().__init__(named)
        try:
            provisional = route_flags(self.flags, _choose_names(named, {}), strict=False).layer
        except ConfigError:
            provisional = {}  # an unknown component: resolve reports it
        for section, values in provisional.items():
            self.setdefault(section, {}).update(values)

    def names(self) -> dict[str, dict[str, Any]]:
        """Only the components this layer names."""
        return {section: {"name": self.flags[section]} for section in SECTIONS if section in self.flags}

    def __bool__(self) -> bool:
        return bool(self.flags)


@dataclass
class RoutedFlags:
    layer: dict[str, dict[str, Any]]
    """The flags as a nested layer."""
    origin: dict[tuple[str, str], str]
    """The flag that set each (section, key), for messages."""
    budget_beam: int | None = None
    """``--beam`` given to a budgeted strategy: it sets only the default budget."""


def route_flags(flags: Mapping[str, Any], names: Mapping[str, str], *, strict: bool = True) -> RoutedFlags:
    """Flat options -> the options of the chosen components (``names``: section -> component) that declare them.

    A flag goes to the one chosen component that declares it; ``--seed`` and ``--child-timeout``
    go to every one that does (a plugin's too); a training flag (:data:`TRAINING_FLAGS`) is the evaluator's where
    it declares it and never a predictor's. A flag that a built-in component declares never sets
    a plugin's option of that name. Several chosen components declaring a flag is an error naming
    their ``--set`` keys; none declaring it, an error naming who does (with ``strict=False``,
    such a flag is left out).
    """
    routed = RoutedFlags({}, {})
    strategy = REGISTRIES["strategy"].component(names["strategy"]) if "strategy" in names else None
    for name, value in flags.items():
        if value is None or name in NOT_FLAGS:
            continue
        if name == "beam" and strategy is not None and "beam" not in strategy.specs and "budget" in strategy.specs:
            routed.budget_beam = value
            continue
        if name in FLAT_ALIASES:
            targets = [FLAT_ALIASES[name]]  # resolve names the space's options if it lacks this one
        else:
            try:
                targets = [(section, name) for section in _flag_targets(name, names)]
            except ConfigError:
                if strict:
                    raise
                continue
        for section, key in targets:
            routed.layer.setdefault(section, {})[key] = value
            routed.origin[(section, key)] = _flag(name)
    return routed


def _flag_targets(name: str, names: Mapping[str, str]) -> list[str]:
    """The sections whose chosen component a flag sets (see :func:`route_flags`)."""
    declaring = [s for s, n in names.items() if name in REGISTRIES[s].component(n).specs]
    passed_over = list(declaring)
    if name in SHARED_FLAGS and declaring:
        return declaring  # every chosen component that has one, a plugin's too
    if _builtin_flag(name):
        declaring = [s for s in declaring if REGISTRIES[s].component(names[s]).builtin]
    if name in TRAINING_FLAGS:
        declaring = [s for s in declaring if s != "predictor"]
        declaring = ["evaluator"] if "evaluator" in declaring else declaring
    passed_over = [s for s in passed_over if s not in declaring]
    if not declaring:
        raise ConfigError(_undeclared_flag(name, names, passed_over))
    if len(declaring) > 1 and name not in SHARED_FLAGS:
        keys = " and ".join(f"{s}.{name}" for s in declaring)
        raise ConfigError(
            f"{_flag(name)} is an option of {keys}: use --set to choose (e.g. --set {declaring[0]}.{name}=...)"
        )
    return declaring


def _undeclared_flag(name: str, names: Mapping[str, str], passed_over: list[str]) -> str:
    """``--population is an option of evolution, not of strategy random``, and where else to set it."""
    flag = _flag(name)
    owners: dict[str, list[str]] = {}
    builtin = _builtin_flag(name)
    for section, component in flag_declarations().get(name, []):
        if (component.builtin or not builtin) and not (name in TRAINING_FLAGS and section == "predictor"):
            owners.setdefault(section, []).append(component.name)
    hint = "".join(f" ({REGISTRIES[s].kind} {names[s]}'s own {name}: --set {s}.{name}=VALUE)" for s in passed_over)
    if not owners:
        return f"unknown option {flag}{nearest(name, flag_declarations())}"
    if set(owners) == {"predictor"} and "predictor" not in names:
        users = sorted(c.name for c in REGISTRIES["strategy"].components() if "predictor" in c.uses)
        plural = "ies" if len(users) > 1 else "y"
        return f"{flag} is an option of the {_and(users)} strateg{plural}, not of {names['strategy']}{hint}"
    whose = "; ".join(
        (f"{REGISTRIES[s].kind} " if len(owners) > 1 else "") + ", ".join(owned) for s, owned in owners.items()
    )
    chosen = [f"{REGISTRIES[s].kind} {names[s]}" for s in owners if s in names]
    return f"{flag} is an option of {whose}, not of {' or '.join(chosen) or 'the chosen components'}{hint}"


_plugin_problems: list[str] | None = None


def load_components(*, rescan: bool = False) -> list[str]:
    """Register the built-in components and every installed plugin's (once per process; ``rescan``: look
    for plugins again, e.g. one installed since).

    Returns the problems of plugins that failed to load (each also a warning); they are skipped.
    """
    global _plugin_problems
    if _plugin_problems is None or rescan:
        import pnas.evaluation  # noqa: F401  (registers the built-in components)
        import pnas.execution.local  # noqa: F401
        import pnas.execution.ray  # noqa: F401  (registers the executor; Ray itself is imported when used)
        import pnas.predictors  # noqa: F401
        import pnas.pruners  # noqa: F401
        import pnas.strategies  # noqa: F401
        from pnas.evaluation.readers import DATASETS

        _plugin_problems = load_plugins([*REGISTRIES.values(), DATASETS])
    return _plugin_problems


@dataclass
class SearchConfig:
    """The flat options of ``pnas search``, for Python: ``None`` means unset.

    ``space``, ``strategy``, ``predictor``, ``evaluator``, ``executor`` and ``pruner``
    name components; every other keyword is a flat option (``blocks``, ``beam``,
    ``budget``, ``epochs``, ``workers``, ...; see ``pnas search --help``).
    ``trainer`` takes more evaluator options, ``overrides`` a nested
    configuration applied before the flat options.
    """

    space: str | None = None
    strategy: str | None = None
    predictor: str | None = None
    evaluator: str | None = None
    executor: str | None = None
    pruner: str | None = None
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


def flat_layer(flat: Mapping[str, Any]) -> tuple[FlagLayer, dict[tuple[str, str], str]]:
    """Flat options -> (a layer :func:`resolve` routes, which flag gave each (section, key) for messages).

    The origin holds only the component flags: a flag's own origin is known once it is routed.
    """
    layer = FlagLayer(flat)
    return layer, {(section, "name"): _flag(section) for section in layer.names()}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


SlotsOf = Callable[[Evaluator, Mapping[str, Any]], int]
"""``(evaluator, executor options with its name) -> children the executor runs at once``."""


@dataclass
class ResolvedSearch:
    """A search ready to run: its components and the configuration the study stores."""

    name: str
    config: dict[str, Any]
    space: SearchSpace
    strategy: Strategy
    evaluator: Evaluator
    executor: dict[str, Any]
    pruner: Pruner


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
    suggested: str = REGISTRIES["space"].create(space).default_evaluator
    return suggested


def resolve(
    layers: Sequence[Mapping[str, Mapping[str, Any]]],
    *,
    stored: Mapping[str, Any] | None = None,
    name: str = "",
    origin: Mapping[tuple[str, str], str] | None = None,
    slots: SlotsOf | None = None,
) -> ResolvedSearch:
    """Check and complete a configuration, and build its components (see the module docstring).

    A strategy's default batch is one cell per child the executor runs at once: ``--workers`` when
    given, else ``slots(evaluator, executor_options)`` (called only when a default needs it: the
    search builds its executor there, which may connect to a cluster), else what the local executor
    would run for this evaluator.

    Every wrong configuration is a :class:`ConfigError` (a ValueError) naming the key.
    """
    load_components()
    origin = dict(origin or {})
    for layer in layers:
        check_sections(layer, "the configuration")
    old = upgrade_layout(dict(stored)) if stored else {}
    # the components first (flags may name them); then the flags go to the chosen ones that declare them
    names = _choose_names(merge(*[_named(layer) for layer in layers]), old)
    budget_beam = None
    routed_layers: list[Mapping[str, Mapping[str, Any]]] = []
    for layer in layers:
        if isinstance(layer, FlagLayer):
            routed = route_flags(layer.flags, names)
            origin.update(routed.origin)
            budget_beam = routed.budget_beam if routed.budget_beam is not None else budget_beam
            routed_layers.append(merge(layer.names(), routed.layer))
        else:
            routed_layers.append(layer)
    given = merge(*routed_layers)
    strategy_component = REGISTRIES["strategy"].component(names["strategy"])
    beam = given.get("strategy", {}).get("beam", budget_beam)
    if "predictor" not in strategy_component.uses and given.get("predictor"):
        key = next(iter(given["predictor"]))  # an empty predictor section sets nothing: accepted
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
                raise ConfigError(_not_an_option(section, names[section], key, origin))
        chosen = {k: s.default for k, s in specs.items()}
        stored_section = old.get(section)
        if isinstance(stored_section, Mapping) and stored_section.get("name") == names[section]:
            # an option the study predates means what the study did then, not today's default
            chosen.update({k: spec.absent_means for k, spec in specs.items() if k not in stored_section})
            chosen.update({k: v for k, v in stored_section.items() if k in specs and specs[k].kind(old) != "runtime"})
        chosen.update({k: v for k, v in section_given.items() if k in specs})
        values[section] = chosen
    space = _create("space", names, origin, **_checked("space", names, values, origin))
    if "space" in REGISTRIES["evaluator"].component(names["evaluator"]).specs:
        values["evaluator"]["space"] = names["space"]
    evaluator = _create("evaluator", names, origin, **_checked("evaluator", names, values, origin))
    executor = {"name": names["executor"], **_checked("executor", names, values, origin)}

    def executor_slots() -> int:
        return slots(evaluator, executor) if slots is not None else _default_workers(names["evaluator"])

    context = DeriveContext(space=space, workers=executor.get("workers") or executor_slots, beam=beam or DEFAULT_BEAM)
    derive = getattr(strategy_component.options, "derive", None)
    if derive is not None:
        derive(values["strategy"], context)
    strategy_options = _checked("strategy", names, values, origin)
    if "predictor" in strategy_component.uses:
        predictor_options = _checked("predictor", names, values, origin)
        strategy_options["predictor"] = names["predictor"]
        strategy_options["ensemble"] = predictor_options.pop("ensemble", 1)  # one model if it declares none
        strategy_options["predictor_options"] = predictor_options
    strategy = _create("strategy", names, origin, space, **strategy_options)
    _check_goal(strategy, evaluator, names)
    pruner = _create("pruner", names, origin, **_checked("pruner", names, values, origin))
    config = study_config(strategy, evaluator, executor, pruner)
    return ResolvedSearch(name or "", config, space, strategy, evaluator, executor, pruner)


@dataclass
class PrintedConfig:
    """A resolved configuration as ``--print-config`` shows it (:func:`printable_config`)."""

    config: dict[str, dict[str, Any]]
    """Every option with a value, the defaults a study stores as absent included (``objectives``)."""
    derived: dict[str, dict[str, Any]]
    """Per section, the options derived from others when left out (``population`` from ``budget``,
    ``batch`` from the workers), with their value here: a configuration without them gives the same study."""


def printable_config(
    layers: Sequence[Mapping[str, Mapping[str, Any]]],
    *,
    stored: Mapping[str, Any] | None = None,
    name: str = "",
    origin: Mapping[tuple[str, str], str] | None = None,
) -> PrintedConfig:
    """What ``--print-config`` prints: the resolved configuration with every default that decides results
    shown (a study stores some as absent: ``objectives``, the progressive search's ``acquisition``), and
    apart from it the options derived from others, which derive again where the printed configuration
    is fed back with ``--config``. An option derived from a setting the configuration does not hold (a
    budget from ``--beam``) stays a value, so the printed configuration always gives the same study."""
    resolved = resolve(layers, stored=stored, name=name, origin=origin)
    given = merge(*layers)
    old = upgrade_layout(dict(stored)) if stored else {}
    shown: dict[str, dict[str, Any]] = {}
    candidates: dict[str, set[str]] = {}
    for section, values in resolved.config.items():
        specs = REGISTRIES[section].component(values["name"]).specs
        section_stored = old.get(section)
        kept: Mapping[str, Any] = section_stored if isinstance(section_stored, Mapping) else {}
        same = kept.get("name") == values["name"]
        ordered = {"name": values["name"]}
        for key, spec in specs.items():
            if key in values:
                ordered[key] = values[key]
            elif spec.default is not None and key not in NOT_FLAGS:
                ordered[key] = spec.default
        ordered.update(values)
        shown[section] = ordered
        candidates[section] = {
            key
            for key, value in values.items()
            if key in specs
            and specs[key].default is None
            and value is not None
            and key not in given.get(section, {})
            and not (same and key in kept)
        }
    while any(candidates.values()):  # those that do not derive back to their value stay values
        reduced = {s: {k: v for k, v in values.items() if k not in candidates[s]} for s, values in shown.items()}
        try:
            again = resolve([reduced]).config
        except ConfigError:
            candidates = {}
            break
        changed = {s: {k for k in keys if again.get(s, {}).get(k) != shown[s][k]} for s, keys in candidates.items()}
        if not any(changed.values()):
            break
        candidates = {s: keys - changed[s] for s, keys in candidates.items()}
    derived = {s: {k: v for k, v in values.items() if k in candidates.get(s, ())} for s, values in shown.items()}
    config = {s: {k: v for k, v in values.items() if k not in derived[s]} for s, values in shown.items()}
    return PrintedConfig(config, {s: d for s, d in derived.items() if d})


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


def _named(layer: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    """A layer as far as it names components (a flag layer's flags are routed only once they are chosen)."""
    return layer.names() if isinstance(layer, FlagLayer) else layer


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
        if not isinstance(name, str):
            raise ConfigError(f"{section}.name must be the name of a {registry.kind}, got {name!r}")
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
    names["pruner"] = pick("pruner", DEFAULT_NAMES["pruner"])
    return names


def _not_an_option(section: str, name: str, key: str, origin: Mapping[tuple[str, str], str]) -> str:
    flag = origin.get((section, key))
    if flag is not None:
        owners = [c.name for c in REGISTRIES[section].components() if key in c.specs]
        whose = f"an option of {', '.join(owners)}" if owners else "not an option of any registered " + section
        return f"{flag} is {whose}, not of {REGISTRIES[section].kind} {name}"
    specs = REGISTRIES[section].component(name).specs
    return f"{section}.{key} is not an option of {REGISTRIES[section].kind} {name}{nearest(key, specs)}"


def _checked(
    section: str,
    names: Mapping[str, str],
    values: Mapping[str, Mapping[str, Any]],
    origin: Mapping[tuple[str, str], str],
) -> dict[str, Any]:
    """A section's values converted to their options' types and checked against their ranges; a
    wrong one names the flag that gave it, else its ``section.key``. An options class derived from
    :class:`~pnas.config.Options` is built, which checks it (with its own relations between options)."""
    component = REGISTRIES[section].component(names[section])
    if isinstance(component.options, type) and issubclass(component.options, Options):
        try:
            return component.options(**values[section]).values()
        except OptionError as exc:
            raise exc.at(origin.get((section, exc.where), f"{section}.{exc.where}")) from None
    specs = component.specs
    return {
        key: check_value(specs[key], value, origin.get((section, key), f"{section}.{key}"))
        for key, value in values[section].items()
    }


def _create(
    section: str, names: Mapping[str, str], origin: Mapping[tuple[str, str], str], *args: Any, **options: Any
) -> Any:
    """The chosen component of a section, built; a value its options refuse is named as the user gave it."""
    try:
        return REGISTRIES[section].create(names[section], *args, **options)
    except OptionError as exc:
        raise exc.at(origin.get((section, exc.where), f"{section}.{exc.where}")) from None


def _default_workers(evaluator: str) -> int:
    from pnas.execution.local import default_workers

    return default_workers(evaluator)  # by its registered name: its class declares whether it needs workers


def build_search(config: SearchConfig, stored: Mapping[str, Any] | None = None) -> ResolvedSearch:
    """The components a :class:`SearchConfig` stands for, built as :func:`run_search` would build them."""
    layers, origin = search_layers(config)
    return resolve(layers, stored=stored, origin=origin)


def search_layers(config: SearchConfig) -> tuple[list[dict[str, dict[str, Any]]], dict[tuple[str, str], str]]:
    layer, origin = flat_layer(config.flat())
    return [config.overrides, layer], origin


def stored_config(storage: StudyStorage | str | os.PathLike[str] | None, name: str) -> dict[str, Any] | None:
    """The stored configuration of study ``name``, if the storage and the study exist (read only).

    An empty file holds no study: a driver's claim makes one to lock (see
    :class:`pnas.storage.StudyClaim`), and a writer makes a store of it.
    """
    if isinstance(storage, StudyStorage):
        info = storage.get_study(name)
        return info.config if info else None
    if storage is None or not Path(storage).exists() or Path(storage).stat().st_size == 0:
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
        built: list[Executor] = []  # the executor is built once, before the study is created or changed

        def executor(evaluator: Evaluator, options: Mapping[str, Any]) -> Executor:
            if not built:  # a cluster that cannot be reached is refused before the study file is touched
                built.append(_build_executor(evaluator, options))
            return built[0]

        def prepare(components: Components) -> None:
            assert components.evaluator is not None
            described = components.evaluator.data_description()
            if described is not None and reporter is not None:
                reporter.message(f"loading {described}...")
            executor(components.evaluator, components.executor)
            components.evaluator.prepare()  # data that cannot be read never leaves a study behind

        try:
            handle = open_configured(
                name, storage, layers, origin=origin, keep_evaluator=True, before_create=prepare,
                slots=lambda evaluator, options: executor(evaluator, options).slots(),
            )  # fmt: skip
        except BaseException:
            if built:
                built[0].close()
            raise
        evaluator = handle.components.evaluator
        assert evaluator is not None
        try:
            with built[0]:
                handle.run(evaluator, executor=built[0], reporter=reporter)
        except BaseException:
            handle.close()
            raise
    return handle


def _build_executor(evaluator: Evaluator, executor: Mapping[str, Any]) -> Executor:
    options = {k: v for k, v in executor.items() if k != "name"}
    return EXECUTORS.create(executor["name"], evaluator, **options)
