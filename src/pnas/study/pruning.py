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

from collections.abc import Iterable, Sequence

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


class ReportBoard:
    """Reports of a study's trials by number, and the trials that may still report (``open``)."""

    def __init__(self, pruner: Pruner) -> None:
        self.pruner = pruner
        self.reports: dict[int, dict[int, float]] = {}
        self.open: set[int] = set()
        self.rounds: dict[int, tuple[tuple[int, ...], Ladder]] = {}
        """Trial -> the trials of its ladder round (in trial order) and the round's plan."""

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

    def compete(self, numbers: Sequence[int], finish: int, last_step: int) -> None:
        """These trials are one round run as a fidelity ladder: at least ``finish`` of them are to train to
        the end, and each is judged among the earlier ones of the round (:meth:`Pruner.should_prune_in_round`)."""
        members = tuple(sorted(numbers))
        ladder = Ladder(started=len(members), finish=finish, last_step=last_step)
        for number in members:
            self.rounds[number] = (members, ladder)

    def report(self, number: int, step: int, value: float) -> None:
        """Trial ``number`` reported ``value`` at ``step``; a step already reported keeps its first value (a
        child given to a new worker reports the same again)."""
        self.reports.setdefault(number, {}).setdefault(step, value)

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
        members, ladder = self.rounds[number]
        earlier: list[tuple[float, bool]] = []
        for member in members:
            if member >= number:
                break
            reported = self.reports.get(member, {})
            if step in reported:
                stops = self.pruner.should_prune_in_round(step, reported[step], earlier, ladder)
                earlier.append((reported[step], not stops))
        return self.pruner.should_prune_in_round(step, value, earlier, ladder)

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
