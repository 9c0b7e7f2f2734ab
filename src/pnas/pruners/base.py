"""What a pruner is: the rule that stops a child whose intermediate values say it is losing.

A child that reports (see :class:`pnas.evaluation.base.Evaluator.reports_steps`) gives its value (the
validation accuracy so far) after each step; at each report the study asks the study's pruner whether to
stop it. The question is always the same, and its answer depends on nothing else::

    should_prune(number, step, value, peers)

``number`` is the trial's number, ``value`` what it reported at ``step``, and ``peers`` the values that
the trials numbered below it (of the whole study, every round) reported at that same step, in trial
order. The study waits until every such trial has either reported that step or ended before it asks, so
the answer never depends on which worker happened to finish first: a pruned study is the same with 1
or N workers and after a resume (docs/pruning.md). A pruner is therefore a pure function of its options
and these arguments.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from pnas.config import Options
from pnas.registry import Registry


class Pruner(ABC):
    """Decides whether a trial stops at a step, from what earlier trials reported at that step."""

    name: str = "pruner"
    options: Options | None = None

    prunes: bool = True
    """Whether it may ever stop a child. A pruner that never does (``none``) asks no child to report,
    and is not written into a study's configuration: such a study is one made before pruners existed."""

    @abstractmethod
    def should_prune(self, number: int, step: int, value: float, peers: Sequence[float]) -> bool:
        """Whether trial ``number``, which reported ``value`` at ``step``, stops now; ``peers``: the values
        reported at ``step`` by the trials numbered below it, in trial order."""

    def config(self) -> dict[str, Any]:
        """The ``[pruner]`` section a study stores: the name and every option (all decide results)."""
        return {"name": self.name, **(self.options.to_config() if self.options is not None else {})}


PRUNERS: Registry[Pruner] = Registry("pruner", "pnas.pruners")
"""Factories are ``(**options)``; every option of a pruner decides results."""
