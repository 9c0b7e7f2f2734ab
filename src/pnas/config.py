"""How components declare their options, and the one rule that decides what a resume may change.

Every space, strategy, predictor, evaluator, executor and data set is registered
with an options dataclass whose fields are made with :func:`option`: a default, a
one-line help, a range, and a declaration of what the option decides:

* ``result`` (the default): it changes what the study computes, so a resume with
  another value is refused, naming the key;
* ``runtime``: where or how fast it runs (workers, device placement, timeouts,
  data location); it may differ on every resume;
* ``grows``: a whole number that may only grow on resume (more blocks, a larger
  budget).

A declaration may depend on the other options of the study (the device decides
results once latency is measured, say): ``decides`` may be a function of the
resolved configuration.

A study's configuration is nested, one section per component:
``{"space": {"name": ..., ...}, "strategy": {...}, "predictor": {...},
"evaluator": {...}, "executor": {...}, "pruner": {...}}``. :func:`config_changes` compares a stored
configuration with a new one by these declarations; a key absent from a stored
configuration means the behaviour that study had (the option's ``legacy`` value,
by default its default), so studies made before an option existed keep resuming.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SECTIONS = ("space", "strategy", "predictor", "evaluator", "executor", "pruner")
"""The sections of a study's configuration, in the order they are resolved and printed."""

RESULT, RUNTIME, GROWS = "result", "runtime", "grows"


class _Unset:
    def __repr__(self) -> str:
        return "unset"


_MISSING: Any = _Unset()
"""``legacy`` not given: a key absent from a stored configuration means the option's default."""

Decides = str | Callable[[Mapping[str, Any]], str]
"""``result``, ``runtime``, ``grows``, or a function of the whole resolved configuration giving one."""


def option(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    below: float | None = None,
    choices: Iterable[str] | None = None,
    decides: Decides = RESULT,
    legacy: Any = _MISSING,
) -> Any:
    """A field of a component's options dataclass (see the module docstring): ``low`` and ``high``
    bound it inclusively, ``above`` and ``below`` exclusively (a learning rate is above 0)."""
    metadata = {
        "help": help,
        "low": low,
        "high": high,
        "above": above,
        "below": below,
        "choices": tuple(choices) if choices is not None else None,
        "decides": decides,
        "legacy": legacy,
    }
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class OptionSpec:
    """One declared option, as read from its dataclass field."""

    name: str
    type: Any
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    decides: Decides = RESULT
    legacy: Any = _MISSING
    above: float | None = None
    below: float | None = None

    @property
    def absent_means(self) -> Any:
        """What a stored configuration without this key did: its legacy value, else the default."""
        return self.default if self.legacy is _MISSING else self.legacy

    def kind(self, config: Mapping[str, Any]) -> str:
        return self.decides(config) if callable(self.decides) else self.decides

    def range_text(self) -> str:
        """The values it takes, as a person reads them (``one of mean, ucb``, ``x >= 1``, ``0 <= x < 1``);
        empty where any value of its type goes."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        low = ("<=", self.low) if self.low is not None else ("<", self.above) if self.above is not None else None
        high = ("<=", self.high) if self.high is not None else ("<", self.below) if self.below is not None else None
        if low and high:
            return f"{_number(low[1])} {low[0]} x {high[0]} {_number(high[1])}"
        if low:
            return f"x {low[0].replace('<', '>')} {_number(low[1])}"
        return f"x {high[0]} {_number(high[1])}" if high else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": _type_name(self.type),
            "default": self.default,
            "help": self.help,
            "low": self.low,
            "high": self.high,
            "above": self.above,
            "below": self.below,
            "choices": list(self.choices) if self.choices else None,
            "decides": self.decides if isinstance(self.decides, str) else "depends",
        }


def _number(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_text(value: Any) -> str:
    """An option's default as the command line shows it (``unset`` for None, ``true``/``false``)."""
    if value is None:
        return "unset"
    if value == "":
        return '""'
    if isinstance(value, bool):
        return str(value).lower()
    return _number(value) if isinstance(value, float) else str(value)


def option_specs(options: type | None) -> dict[str, OptionSpec]:
    """The declared options of an options dataclass (none for ``None``)."""
    return {} if options is None else dict(_declared(options))


@functools.cache
def _declared(options: type) -> dict[str, OptionSpec]:
    """Read once per class: an options dataclass is checked against them every time it is built."""
    hints = typing.get_type_hints(options)
    specs = {}
    for f in dataclasses.fields(options):
        meta = f.metadata
        default: Any = None
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        specs[f.name] = OptionSpec(
            name=f.name,
            type=hints.get(f.name, Any),
            default=default,
            help=meta.get("help", ""),
            low=meta.get("low"),
            high=meta.get("high"),
            above=meta.get("above"),
            below=meta.get("below"),
            choices=meta.get("choices"),
            decides=meta.get("decides", RESULT),
            legacy=meta.get("legacy", _MISSING),
        )
    return specs


class ConfigError(ValueError):
    """A configuration a user wrote is wrong; the message names the key and what to do."""


class OptionError(ConfigError):
    """One option's value is wrong: ``{where} {problem}``, e.g. ``strategy.budget must be at least 1, got -4``."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where} {problem}")
        self.where, self.problem = where, problem

    def at(self, where: str) -> OptionError:
        """The same problem, named as the user gave it (``--budget``, ``strategy.budget``)."""
        return OptionError(where, self.problem)


OptionsT = typing.TypeVar("OptionsT", bound="Options")


class Options:
    """Base of a component's options dataclass (a frozen dataclass of :func:`option` fields).

    It is the one place the component's defaults, ranges and choices live, and the argument its
    constructor builds from keywords. Built, it is checked against its own declarations, once:
    each value converted to the declared type (a TOML integer for a float option, ``"true"`` for
    a true/false one) or refused with an :class:`OptionError` naming the field. ``to_config()``
    is what a study stores.
    """

    def __post_init__(self) -> None:
        for name, spec in option_specs(type(self)).items():
            object.__setattr__(self, name, check_value(spec, getattr(self, name), name))

    def values(self) -> dict[str, Any]:
        """Every option, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_config(self) -> dict[str, Any]:
        """The options as a study's configuration section holds them (without the component's name)."""
        return self.values()


def build_options(cls: type[OptionsT], options: OptionsT | None, values: Mapping[str, Any]) -> OptionsT:
    """A constructor's options: given whole, or built from its keyword arguments (not both)."""
    if options is None:
        return cls(**values)
    if values:
        raise TypeError(f"give {cls.__name__} or its fields as keywords, not both: {', '.join(values)}")
    if not isinstance(options, cls):
        raise TypeError(f"expected {cls.__name__}, got {type(options).__name__}")
    return options


def nearest(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the closest candidate, or the list of candidates."""
    pool = sorted(candidates)
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]}?)"
    return f" (valid: {', '.join(pool)})" if pool else " (it takes no options)"


def check_value(spec: OptionSpec, value: Any, where: str) -> Any:
    """``value`` converted to the option's type and checked against its range; an OptionError if not."""
    if value is None:
        if _allows_none(spec.type) or spec.default is None:
            return None
        raise OptionError(where, "must be set (it has no 'unset' value)")
    target = base_type(spec.type)
    try:
        if target is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = lowered in ("true", "1", "yes")
            elif not isinstance(value, bool):
                raise ValueError
        elif target is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            value = int(value)
        elif target is float:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        elif target is str:
            if not isinstance(value, str):
                raise ValueError
    except (TypeError, ValueError):
        raise OptionError(where, f"must be {_type_name(spec.type)}, got {value!r}") from None
    if target is float and not math.isfinite(value):  # NaN passes every range check, infinity most
        raise OptionError(where, f"must be a finite number, got {value!r}")
    if spec.choices and value not in spec.choices:
        raise OptionError(where, f"must be one of {', '.join(spec.choices)}, got {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.low is not None and value < spec.low:
            raise OptionError(where, f"must be at least {spec.low:g}, got {value!r}")
        if spec.high is not None and value > spec.high:
            raise OptionError(where, f"must be at most {spec.high:g}, got {value!r}")
        if spec.above is not None and not value > spec.above:
            raise OptionError(where, f"must be above {spec.above:g}, got {value!r}")
        if spec.below is not None and not value < spec.below:
            raise OptionError(where, f"must be below {spec.below:g}, got {value!r}")
    return value


def _allows_none(hint: Any) -> bool:
    return hint is Any or type(None) in typing.get_args(hint)


def base_type(hint: Any) -> Any:
    """The type of an option without its ``| None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else Any
    return hint


def _type_name(hint: Any) -> str:
    base = base_type(hint)
    name = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}.get(base)
    return name or str(hint)


# --- comparing a stored configuration with a new one ---------------------------

SpecLookup = Callable[[str, str], dict[str, OptionSpec] | None]
"""(section, component name) -> the component's declared options, or None for an undeclared component."""


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any], lookup: SpecLookup) -> tuple[list[str], list[str]]:
    """(refused, allowed) changes between a stored configuration and a new one, as ``key: old -> new``.

    The one rule: runtime options may differ; a grown option is allowed; an
    option absent from the stored configuration is compared with what its
    absence meant; every other difference is refused. Keys of a component
    that declares no options are all taken as deciding results.
    """
    refused: list[str] = []
    allowed: list[str] = []
    sections = [s for s in dict.fromkeys([*old, *new])]
    for section in sections:
        a, b = old.get(section), new.get(section)
        if not isinstance(a, Mapping) or not isinstance(b, Mapping):
            if a != b and not (a is None and section == "executor"):
                refused.append(f"{section}: {_short(a)} -> {_short(b)}")
            continue
        if a.get("name") != b.get("name"):
            refused.append(f"{section}.name: {a.get('name')!r} -> {b.get('name')!r}")
            continue
        specs = lookup(section, str(b.get("name"))) or {}
        flat_a, flat_b = flatten(a), flatten(b)
        for key in sorted(set(flat_a) | set(flat_b)):
            if key == "name":
                continue
            spec = specs.get(key.split(".", 1)[0])
            before = flat_a.get(key, spec.absent_means if spec is not None and key not in flat_a else None)
            after = flat_b.get(key, spec.absent_means if spec is not None and key not in flat_b else None)
            if before == after:
                continue
            kind = spec.kind(new) if spec is not None else RESULT
            if kind == RUNTIME:
                continue
            change = f"{section}.{key}: {before!r} -> {after!r}"
            grows = kind == GROWS and isinstance(before, int) and isinstance(after, int) and after >= before
            (allowed if grows else refused).append(change)
    return refused, allowed


def _short(value: Any) -> str:
    return "absent" if value is None else repr(value)


# --- layers: a configuration file, --set overrides, flags ---------------------


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """``section.key=value`` -> (section, key, value); the value is TOML-ish (numbers, true/false, text)."""
    key, sep, raw = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not section or not name:
        raise ConfigError(f"--set expects SECTION.KEY=VALUE (e.g. strategy.population=40), got {text!r}")
    return section, name, _parse_scalar(raw.strip())


def _parse_scalar(raw: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # bare text, e.g. strategy.name=evolution


def read_config_file(path: str | os.PathLike[str], label: str) -> dict[str, Any]:
    """A TOML configuration file as a nested dict. One that cannot be read, is not UTF-8 (as TOML must be)
    or is not TOML is a ConfigError naming it as ``label`` says it was given (``--config``)."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read {label} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{label} {path} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}): "
            "save it as UTF-8, as TOML requires"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label} {path} is not valid TOML: {exc}") from None


def merge(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Later layers win, key by key within each section."""
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in layer.items():
            out.setdefault(section, {}).update(values)
    return out


def check_sections(config: Mapping[str, Any], where: str) -> None:
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where} must be a table of sections ({', '.join(SECTIONS)}), got {config!r}")
    for section, values in config.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r} in {where}{nearest(section, SECTIONS)}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"section {section!r} in {where} must be a table of options, got {values!r}")


def to_toml(config: Mapping[str, Mapping[str, Any]], derived: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The configuration as TOML; an option that is unset (None) is left out, as TOML has no null.
    ``derived`` options (per section) are written as comments: left out, they derive again."""
    import tomli_w

    clean = {
        section: {k: v for k, v in values.items() if v is not None}
        for section, values in config.items()
        if isinstance(values, Mapping)
    }
    parts = []
    for section in SECTIONS:
        if section not in clean:
            continue
        text = tomli_w.dumps({section: clean[section]})
        comments = {k: v for k, v in (derived or {}).get(section, {}).items() if v is not None}
        if comments:
            lines = tomli_w.dumps(comments).splitlines()
            text += "# derived from the other settings when left out (uncomment a line to fix its value):\n"
            text += "".join(f"# {line}\n" for line in lines)
        parts.append(text)
    return "\n".join(parts)
