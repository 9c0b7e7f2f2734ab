"""The study's side of pruning: every value children reported, and the rule that keeps decisions deterministic.

A decision about trial n at step s depends only on what the trials numbered below n reported at step s.
:class:`ReportBoard` holds every report of the study (those of finished trials read back from the store,
where each trial keeps its curve) and knows which trials may still report. It answers a question only
once every earlier trial that may still report has reported that step or ended; until then the child
waits. Which worker finished first, how many workers there are, or where a killed run stopped never
changes an answer, so a pruned study is the same with 1 or N workers and after a resume.

A round run as a fidelity ladder (:meth:`ReportBoard.compete`) is judged on the same values, restricted to
its own trials: each earlier child's decision at the step is worked out again from the reports below it, so
what the board was told, not the order in which it answered, decides.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pnas.config import ConfigError
from pnas.evaluation.base import EVALUATORS, Evaluator
from pnas.pruners.base import Ladder, Pruner
from pnas.storage.base import MACHINERY_FAILURE, TrialRecord

CURVE = "curve"
"""``extra["curve"]`` of a finished trial: ``[[step, value], ...]``, what it reported, in step order."""

PRUNED = "pruned"
"""``extra["pruned"]`` of a pruned trial: ``{"step": s, "value": v}``, where it was stopped."""


def check_pruning(pruner: Pruner, evaluator: str, reports_steps: bool) -> None:
    """A ConfigError when the pruner may stop children but the evaluator reports nothing before a child ends."""
    if not pruner.prunes or reports_steps:
        return
    reporting = [
        c.name
        for c in EVALUATORS.components()
        if isinstance(c.factory, type) and issubclass(c.factory, Evaluator) and c.factory.reports_steps
    ]
    raise ConfigError(
        f"the {evaluator} evaluator reports no value before a child ends, so the {pruner.name} pruner could stop "
        f"nothing: use an evaluator that reports ({', '.join(reporting + ['objective'])}), or --pruner none"
    )


@dataclass
class Judged:
    """The decisions of a ladder round's children at one step, in trial order: those that reported it."""

    numbers: list[int] = field(default_factory=list)
    values: list[tuple[float, bool]] = field(default_factory=list)
    """(value, continued) of each, as :meth:`Pruner.should_prune_in_round` takes them."""

    def add(self, number: int, value: float, continued: bool) -> None:
        self.numbers.append(number)
        self.values.append((value, continued))


class LadderRound:
    """The trials of one ladder round, its plan, and the decisions worked out so far at each step (each
    one is worked out once: a round of N children costs O(N) questions per step, not O(N^2))."""

    def __init__(self, members: Sequence[int], finish: int, last_step: int) -> None:
        self.members = tuple(members)
        self.index = {number: i for i, number in enumerate(self.members)}
        self.ladder = Ladder(started=len(self.members), finish=finish, last_step=last_step)
        self.judged: dict[int, Judged] = {}
        self.scanned: dict[int, int] = {}
        """Step -> how many members (in trial order) ``judged`` has looked at."""

    def heard(self, number: int, step: int) -> None:
        """A member reported ``step`` for the first time: decisions worked out past it are worked out again
        (only a user evaluating out of order, or a child trained again, reports below what was judged)."""
        if self.scanned.get(step, 0) > self.index[number]:
            self.judged.pop(step, None)
            self.scanned.pop(step, None)

    def forget(self) -> None:
        """A member is trained again: every decision is worked out again from the reports."""
        self.judged.clear()
        self.scanned.clear()


class ReportBoard:
    """Reports of a study's trials by number, and the trials that may still report (``open``)."""

    def __init__(self, pruner: Pruner) -> None:
        self.pruner = pruner
        self.reports: dict[int, dict[int, float]] = {}
        self.open: set[int] = set()
        self.rounds: dict[int, LadderRound] = {}
        """Trial -> its ladder round (see :meth:`compete`)."""

    @classmethod
    def of(cls, pruner: Pruner, trials: Iterable[TrialRecord]) -> ReportBoard:
        """The board of a study's stored trials: the curves of the finished ones; none open yet."""
        board = cls(pruner)
        for trial in trials:
            curve = trial.extra.get(CURVE) if trial.status in ("done", "failed", "pruned") else None
            if curve and trial.extra.get("failure") != MACHINERY_FAILURE:
                board.reports[trial.number] = {int(step): float(value) for step, value in curve}
        return board

    def start(self, numbers: Iterable[int]) -> None:
        """These trials are about to be evaluated (again): what they may have reported before is forgotten
        (a retried trial reports it again)."""
        for number in numbers:
            self.open.add(number)
            self.reports.pop(number, None)
            if number in self.rounds:
                self.rounds[number].forget()

    def compete(self, numbers: Sequence[int], finish: int, last_step: int) -> None:
        """These trials are one round run as a fidelity ladder: at least ``finish`` of them are to train to
        the end, and each is judged among the earlier ones of the round (:meth:`Pruner.should_prune_in_round`)."""
        round_ = LadderRound(sorted(numbers), finish, last_step)
        for number in round_.members:
            self.rounds[number] = round_

    def report(self, number: int, step: int, value: float) -> None:
        """Trial ``number`` reported ``value`` at ``step``; a step already reported keeps its first value (a
        child given to a new worker reports the same again)."""
        reported = self.reports.setdefault(number, {})
        if step not in reported:
            reported[step] = value
            if number in self.rounds:
                self.rounds[number].heard(number, step)

    def end(self, number: int) -> None:
        """Trial ``number``'s outcome is known: it reports nothing more."""
        self.open.discard(number)

    def decide(self, number: int, step: int, value: float, *, wait: bool = True) -> bool | None:
        """Whether trial ``number`` stops at ``step`` with ``value``: the pruner's answer on the values that
        the trials numbered below it reported at ``step``. None (with ``wait``) while one of them may still
        report it; without ``wait``, on what they reported so far (a user evaluating trials out of order)."""
        if not self.pruner.prunes:
            return False
        if wait and any(m < number and self._may_report(m, step) for m in self.open):
            return None
        if number in self.rounds:
            return self._decide_in_round(number, step, value)
        peers = [self.reports[m][step] for m in sorted(self.reports) if m < number and step in self.reports[m]]
        return self.pruner.should_prune(number, step, value, peers)

    def _decide_in_round(self, number: int, step: int, value: float) -> bool:
        """The pruner's answer for a child of a ladder round: the earlier children of the round that reported
        ``step``, each with the decision the same question gave it (on the children below it)."""
        round_ = self.rounds[number]
        judged = round_.judged.setdefault(step, Judged())
        scanned = round_.scanned.get(step, 0)
        while scanned < len(round_.members) and round_.members[scanned] < number:
            member = round_.members[scanned]
            reported = self.reports.get(member, {})
            if step in reported:
                stops = self.pruner.should_prune_in_round(step, reported[step], judged.values, round_.ladder)
                judged.add(member, reported[step], not stops)
            scanned += 1
        round_.scanned[step] = scanned
        earlier = judged.values[: bisect.bisect_left(judged.numbers, number)]
        return self.pruner.should_prune_in_round(step, value, earlier, round_.ladder)

    def _may_report(self, number: int, step: int) -> bool:
        """Whether open trial ``number`` may still report ``step`` (steps only rise: past it, it never will)."""
        reported = self.reports.get(number, {})
        return step not in reported and max(reported, default=-1) < step

    def curve(self, number: int) -> list[list[float]]:
        """What trial ``number`` reported, as ``[[step, value], ...]`` in step order (what its record keeps)."""
        return [[step, value] for step, value in sorted(self.reports.get(number, {}).items())]

    def last(self, number: int) -> tuple[int, float] | None:
        """The last (step, value) trial ``number`` reported, if any."""
        reported = self.reports.get(number)
        if not reported:
            return None
        step = max(reported)
        return step, reported[step]
