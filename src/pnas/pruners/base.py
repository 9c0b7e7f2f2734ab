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

A pruner may also run a round as a **fidelity ladder** (:meth:`Pruner.widening`): a strategy that proposes
rounds (the progressive search) then starts more children than it wants trained to the end, marks them as
one round, and the study asks :meth:`Pruner.should_prune_in_round` about them instead, with the values and
decisions of the round's children numbered below, at the same step: the same rule, on a smaller set.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pnas.config import Options
from pnas.registry import Registry


@dataclass(frozen=True)
class Ladder:
    """A round whose children compete among themselves for places to finish (see :meth:`Pruner.widening`)."""

    started: int
    """Children of the round (the trials of its batch, the strategy's own)."""
    finish: int
    """The fewest of them to train to the end (the progressive search's K)."""
    last_step: int
    """The last step at which a child reports (:meth:`pnas.evaluation.base.Evaluator.last_step`)."""


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

    def widening(self, finish: int, last_step: int) -> int:
        """How many children a round starts so that ``finish`` of them train to the end, when its children
        compete among themselves (:meth:`should_prune_in_round`) and report up to ``last_step``. The default,
        ``finish``: this pruner judges each child alone, and a strategy starts what it would without it."""
        return finish

    def should_prune_in_round(
        self, step: int, value: float, earlier: Sequence[tuple[float, bool]], ladder: Ladder
    ) -> bool:
        """Whether a child of a ladder round, which reported ``value`` at ``step``, stops now. ``earlier``: for
        each child of its round numbered below it that reported ``step``, in trial order, that value and
        whether it continued past ``step`` (what this method answered for it). Asked only where
        :meth:`widening` started more than ``finish`` children."""
        raise NotImplementedError(f"the {self.name} pruner widens rounds but judges no round (should_prune_in_round)")

    def config(self) -> dict[str, Any]:
        """The ``[pruner]`` section a study stores: the name and every option (all decide results)."""
        return {"name": self.name, **(self.options.to_config() if self.options is not None else {})}


PRUNERS: Registry[Pruner] = Registry("pruner", "pnas.pruners")
"""Factories are ``(**options)``; every option of a pruner decides results."""
