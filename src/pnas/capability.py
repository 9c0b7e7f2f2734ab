"""What a component can do is declared on it, never read from the name it was registered under.

A space, strategy, evaluator, executor or data set states its capabilities as attributes or
methods of its base class (a space's path encoding, drawing and proxy network; whether an
evaluator needs worker processes; whether a strategy's rounds are cell sizes; a data set's
channels and default flip). A built-in overrides them; a plugin inherits them from the built-in it
subclasses, or gets :class:`MissingCapability`: one line naming the component and what it lacks.
"""

from __future__ import annotations

from pnas.config import ConfigError


class MissingCapability(ConfigError):
    """A component was asked for something it does not declare; the message names both."""

    def __init__(self, kind: str, name: str, capability: str, hint: str = "") -> None:
        self.kind, self.name, self.capability = kind, name, capability
        super().__init__(f"the {name} {kind} has no {capability}" + (f": {hint}" if hint else ""))


__all__ = ["MissingCapability"]
