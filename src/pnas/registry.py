"""Name -> component registries, shared by spaces, strategies, predictors, evaluators, executors,
data sets and networks, and the plugins that add to them.

A component is registered with its factory, its options dataclass (fields made
with :func:`pnas.config.option`) and a one-line help; the command line, ``pnas
list`` and the resume rule are all built from these declarations. The factory may
be given as ``"package.module:attr"``: its module is imported the first time the
factory is asked for (:attr:`Component.factory`, :meth:`Registry.get`), so that
registering a component, listing it or offering its options imports nothing heavy
(the command line starts without torch). A package adds
components through entry points, one group per registry (``pnas.strategies``,
``pnas.predictors``, ...): each entry point names a module (or a callable) that
registers its components when it is imported (or called).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from pnas.config import OptionSpec, option_specs

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Component:
    """A registered component: how to build it, what it is for, and what options it takes."""

    kind: str
    name: str
    target: Callable[..., Any] | str
    """The factory, or where it lives (``"package.module:attr"``, imported on first use: see :attr:`factory`)."""
    options: type | None
    help: str
    uses: tuple[str, ...] = ()
    """Other sections of the configuration this component builds on (the progressive search: ``predictor``)."""

    @property
    def specs(self) -> dict[str, OptionSpec]:
        return option_specs(self.options)

    @functools.cached_property
    def factory(self) -> Callable[..., Any]:
        """What builds the component: a factory given as ``"module:attr"`` is imported here, the first time."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        try:
            factory: Callable[..., Any] = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"{self.kind} {self.name!r}: cannot import its factory {self.target}: {exc}") from exc
        return factory

    @property
    def module(self) -> str:
        """The module the factory lives in, read without importing it."""
        if isinstance(self.target, str):
            return self.target.partition(":")[0]
        return str(getattr(self.target, "__module__", ""))

    @property
    def builtin(self) -> bool:
        """Registered by ``pnas`` itself (not by a plugin): a flat flag one of its options has is never a plugin's."""
        return self.module.split(".")[0] == "pnas"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "help": self.help, "options": [s.to_json() for s in self.specs.values()]}


def _same_target(old: Callable[..., Any] | str, new: Callable[..., Any] | str) -> bool:
    """Whether two registrations name one factory, without importing one given as ``"module:attr"``."""

    def where(target: Callable[..., Any] | str) -> str:
        return target if isinstance(target, str) else f"{target.__module__}:{getattr(target, '__qualname__', '')}"

    return old is new or where(old) == where(new)


def _doc_line(factory: Callable[..., Any] | str) -> str:
    """The first line of a factory's docstring (none for one named by a string: it is not imported to read it)."""
    return "" if isinstance(factory, str) else _first_line(factory.__doc__)


class BuiltinKept(UserWarning):
    """A component registered under a name built into pnas, by code that is not pnas's: the built-in stays."""


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""


class Registry(Generic[T]):
    """Maps names to components; ``register`` doubles as a decorator.

    ``register(name, "package.module:attr", options=..., help=...)`` registers a factory without
    importing it (give the help then: the docstring is not read).
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        """The entry-point group plugins register through (e.g. ``pnas.strategies``)."""
        self._entries: dict[str, Component] = {}

    @overload
    def register(
        self,
        name: str,
        factory: str,
        *,
        options: type | None = None,
        help: str | None = None,
        uses: tuple[str, ...] = (),
    ) -> str: ...

    @overload
    def register(
        self,
        name: str,
        factory: Callable[..., T],
        *,
        options: type | None = None,
        help: str | None = None,
        uses: tuple[str, ...] = (),
    ) -> Callable[..., T]: ...

    @overload
    def register(
        self,
        name: str,
        factory: None = None,
        *,
        options: type | None = None,
        help: str | None = None,
        uses: tuple[str, ...] = (),
    ) -> Callable[[F], F]: ...

    def register(
        self,
        name: str,
        factory: Callable[..., T] | str | None = None,
        *,
        options: type | None = None,
        help: str | None = None,
        uses: tuple[str, ...] = (),
    ) -> Any:
        """Register ``factory`` under ``name``, with its options dataclass and a one-line help
        (default: the first line of the factory's docstring). A name built into pnas is kept by pnas: code
        outside pnas (a plugin) registering it gets a :class:`BuiltinKept` warning and changes nothing."""

        def add(f: Any) -> Any:
            new = Component(self.kind, name, f, options, help or _doc_line(f), uses)
            old = self._entries.get(name)
            if old is not None and not _same_target(old.target, f):
                if old.builtin and not new.builtin:  # a plugin never replaces pnas's own, silently or not
                    origin = f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', f)}"
                    warnings.warn(
                        f"{self.kind} {name!r} is built into pnas: {origin} cannot replace it and is skipped "
                        "(register it under another name)",
                        BuiltinKept,
                        stacklevel=3,
                    )
                    return f
                warnings.warn(f"{self.kind} {name!r} registered twice; the later one wins", stacklevel=3)
            self._entries[name] = new
            return f

        return add(factory) if factory is not None else add

    def unregister(self, name: str) -> None:
        """Remove a component (a test's own, registered for the test's time)."""
        self._entries.pop(name, None)

    def component(self, name: str) -> Component:
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(
                f"unknown {self.kind} {name!r}: choose one of {', '.join(sorted(self._entries))}"
            ) from None

    def get(self, name: str) -> Callable[..., T]:
        return self.component(name).factory

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def components(self) -> list[Component]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._entries


def load_plugins(registries: list[Registry[Any]]) -> list[str]:
    """Import every installed plugin of these registries; a broken one (an exception, or ``sys.exit``, while it
    loads) is a warning naming it, never a crash; so is a component it registers under a built-in name, which
    keeps the built-in one.

    Returns the warnings given (also issued with :mod:`warnings`).
    """
    problems = []
    for registry in registries:
        if registry.group is None:
            continue
        for entry in importlib.metadata.entry_points(group=registry.group):
            plugin = f"plugin {entry.name!r} ({entry.value}, group {registry.group})"
            found = []
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", BuiltinKept)
                try:
                    loaded = entry.load()
                    if callable(loaded) and not isinstance(loaded, type):
                        loaded()
                except (Exception, SystemExit) as exc:  # a plugin's bug (or its exit) must not stop pnas itself
                    found.append(f"{plugin} failed to load and is skipped: {type(exc).__name__}: {exc}")
            for caught_warning in caught:
                if issubclass(caught_warning.category, BuiltinKept):
                    found.append(f"{plugin}: {caught_warning.message}")
                else:  # the plugin's other warnings, as they would have been
                    warnings.warn_explicit(
                        caught_warning.message, caught_warning.category, caught_warning.filename, caught_warning.lineno
                    )
            for message in found:
                problems.append(message)
                warnings.warn(message, stacklevel=2)
    return problems
