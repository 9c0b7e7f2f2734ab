"""What a study optimises: its objectives and its cost limits, and how a trained cell is measured against them.

Accuracy is always an objective and is maximised; ``params``, ``mult_adds`` and ``latency`` may
join it and are minimised. A limit (``max_params``, ``max_mult_adds``, ``max_latency_ms``) is a hard
constraint: strategies propose only cells that meet it as far as they can tell before training
(parameters and mult-adds exactly, from the evaluator's cost model; latency from a predictor), and a
trained cell whose measured value breaks it stays recorded but never counts as a result.

A study's goal lives in its strategy's options, so a study made before goals existed reads as
accuracy alone without limits: what it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pnas.pareto import OBJECTIVES

MEASURES: dict[str, str] = {
    "accuracy": "accuracy",
    "params": "params",
    "mult_adds": "mult_adds",
    "latency": "latency_ms",
}
"""Objective name -> the measured value's key in results, ``pnas best --json`` and the store."""

LATENCY_PREDICTIONS = "latency-predicted-round-{}"
"""The study artifact of a round's predicted latencies (meta ``{"cells": {cell text: ms}}``), which
gives the latency predictor's rank correlation per round."""

LIMITS: dict[str, str] = {"max_params": "params", "max_mult_adds": "mult_adds", "max_latency_ms": "latency"}
"""Limit option -> the objective it caps."""


def parse_objectives(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"accuracy,params"`` -> ("accuracy", "params"); a ValueError naming a bad or repeated name."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    for name in names:
        if name not in OBJECTIVES:
            raise ValueError(f"unknown objective {name!r}: choose from {', '.join(OBJECTIVES)} (comma-separated)")
    if len(set(names)) != len(names):
        raise ValueError(f"objectives {','.join(names)} name one twice")
    if "accuracy" not in names:
        raise ValueError(
            f"objectives {','.join(names) or '(none)'} leave out accuracy: a search always maximises accuracy; "
            "add the costs to minimise beside it, e.g. accuracy,params"
        )
    return ("accuracy", *(n for n in names if n != "accuracy"))


@dataclass(frozen=True)
class Goal:
    """A study's objectives and limits (``None``: no limit)."""

    objectives: tuple[str, ...] = ("accuracy",)
    max_params: int | None = None
    max_mult_adds: int | None = None
    max_latency_ms: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "objectives", parse_objectives(self.objectives))
        for name in LIMITS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Goal:
        """The goal in a strategy's options or stored section (absent keys: accuracy alone, no limit)."""
        return cls(
            objectives=parse_objectives(options.get("objectives") or "accuracy"),
            max_params=options.get("max_params"),
            max_mult_adds=options.get("max_mult_adds"),
            max_latency_ms=options.get("max_latency_ms"),
        )

    def to_options(self) -> dict[str, Any]:
        """The strategy options that give this goal, as a study stores them: only those that differ
        from accuracy alone without limits (an absent key means just that)."""
        options: dict[str, Any] = {"objectives": ",".join(self.objectives)} if self.multi else {}
        options.update({name: getattr(self, name) for name in LIMITS if getattr(self, name) is not None})
        return options

    @property
    def costs(self) -> tuple[str, ...]:
        """The minimised objectives."""
        return self.objectives[1:]

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def limits(self) -> dict[str, float]:
        """Objective -> its cap, for the limits that are set."""
        return {LIMITS[name]: getattr(self, name) for name in LIMITS if getattr(self, name) is not None}

    @property
    def uses_latency(self) -> bool:
        return "latency" in self.objectives or self.max_latency_ms is not None

    @property
    def uses_costs(self) -> bool:
        return self.multi or bool(self.limits)

    @property
    def maximize(self) -> list[bool]:
        return [OBJECTIVES[name] for name in self.objectives]

    def violations(self, measured: Mapping[str, Any]) -> list[str]:
        """The limits a trained cell's measured values break, as phrases (``measured``: keys of
        :data:`MEASURES`). A value that was not measured breaks nothing here: a cell never measured
        for latency is judged by what was known."""
        out = []
        for objective, cap in self.limits.items():
            value = measured.get(MEASURES[objective])
            if value is not None and value > cap:
                out.append(f"{MEASURES[objective]} {value:,} over the limit {cap:,}")
        return out

    def within(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Which rows meet every limit, from arrays of (estimated) values per objective; a NaN (unknown)
        value meets its limit."""
        size = len(next(iter(values.values()))) if values else 0
        ok = np.ones(size, dtype=bool)
        for objective, cap in self.limits.items():
            column = values.get(objective)
            if column is not None:
                column = np.asarray(column, dtype=float)
                ok &= ~(column > cap)
        return ok


def measured_values(row: Any) -> dict[str, Any]:
    """A trial's (or result's) measured values by :data:`MEASURES` key; latency comes from ``extra``."""
    extra = getattr(row, "extra", None) or {}
    return {
        "accuracy": getattr(row, "accuracy", None),
        "params": getattr(row, "params", None),
        "mult_adds": getattr(row, "mult_adds", None),
        "latency_ms": extra.get("latency_ms"),
    }
