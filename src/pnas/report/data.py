"""What a report shows, read from a study file: trials, series and statistics, no drawing.

A study is read once through a read-only store (a running search is never
blocked or disturbed, and a copy on read-only media works) into a
:class:`StudyData`; every figure and table is computed from that snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnas.storage.base import TrialRecord
from pnas.study.api import Study, load_study
from pnas.study.reading import best_of, goal_of, rounds_are_levels, totals_of, training_compute


@dataclass(frozen=True)
class StudyData:
    name: str
    path: str | None
    config: dict[str, Any]
    state: str
    trials: list[TrialRecord] = field(default_factory=list)
    label: str = ""
    """How figures and sections name the study (its name, or file:name when files differ)."""
    summary: dict[str, Any] = field(default_factory=dict)
    """The study's one JSON summary (:meth:`pnas.Study.summary`) when the snapshot was taken."""

    @property
    def strategy(self) -> str:
        return str(self.config.get("strategy", {}).get("name", "?"))

    @property
    def has_rounds(self) -> bool:
        """Rounds that mean something (b, the cell size): a strategy whose rounds are cell sizes."""
        return rounds_are_levels(self.config)

    @property
    def done(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status == "done" and t.accuracy is not None]

    @property
    def pruned(self) -> list[TrialRecord]:
        """Children stopped early that keep where they stopped (``extra["pruned"]``): never results."""
        return [t for t in self.trials if t.status == "pruned" and stopped_value(t) is not None]

    @property
    def failed(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status == "failed"]

    def best(self, top: int) -> list[TrialRecord]:
        """The most accurate results; a cell over one of the study's limits is never one."""
        return best_of(self.trials, goal_of(self.config), top)

    def in_training_order(self) -> list[TrialRecord]:
        """Finished children (pruned ones too) in the order they finished (proposal order where no time was recorded)."""
        finished = [t for t in self.trials if t.status in ("done", "failed", "pruned")]
        return sorted(finished, key=lambda t: (t.finished if t.finished is not None else math.inf, t.number))

    def totals(self) -> dict[str, Any]:
        return totals_of(self.trials)

    def versions(self) -> dict[str, list[str]]:
        """Every version of each library that trained a child of this study (a resumed study may have several)."""
        seen: dict[str, set[str]] = {}
        for t in self.trials:
            for key in ("pnas", "torch"):
                value = t.provenance.get(key)
                if value:
                    seen.setdefault(key, set()).add(str(value))
        return {key: sorted(values) for key, values in seen.items()}


def study_data(study: Study, label: str | None = None) -> StudyData:
    """A snapshot of an open study (the driver's own handle, or a reader's)."""
    path = str(study.store.path) if study.store.path else None
    return StudyData(
        study.name, path, study.config, study.state, study.trials(), label=label or study.name, summary=study.summary()
    )


def open_study(storage: str | Path, name: str | None) -> StudyData:
    """Read study ``name`` (or the file's only study) from ``storage``, read-only; StoreError if absent."""
    with load_study(name, storage) as study:
        return study_data(study)


def best_so_far(study: StudyData) -> tuple[list[int], list[float], list[float]]:
    """(models trained, best accuracy so far, cumulative training compute) after each finished child."""
    models, best, compute = [], [], []
    top, spent, count = -math.inf, 0.0, 0
    for t in study.in_training_order():
        spent += training_compute(t) or 0
        if t.status == "done" and t.accuracy is not None:
            count += 1
            top = max(top, t.accuracy)
            models.append(count)
            best.append(top)
            compute.append(spent)
    return models, best, compute


def stopped_value(trial: TrialRecord) -> float | None:
    """The value a pruned child had reached when it was stopped (None for any other trial)."""
    where = trial.extra.get("pruned") if trial.status == "pruned" else None
    value = where.get("value") if isinstance(where, dict) else None
    return None if value is None else float(value)


def pruned_stops(study: StudyData) -> tuple[list[float], list[float]]:
    """(cumulative training compute once each pruned child stopped, the value it had reached), in training
    order: the compute axis of :func:`best_so_far`, where the pruned children spent theirs."""
    compute, values = [], []
    spent = 0.0
    for t in study.in_training_order():
        spent += training_compute(t) or 0
        value = stopped_value(t)
        if value is not None:
            compute.append(spent)
            values.append(value)
    return compute, values


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats (cheaper or as cheap, and more accurate), by cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i]))
    front, best = [], -math.inf
    for i in order:
        if accuracies[i] > best:
            front.append(i)
            best = accuracies[i]
    return front


@dataclass(frozen=True)
class RankQuality:
    round: int
    predicted: list[float]
    actual: list[float]
    spearman: float | None
    kendall: float | None


def predictor_quality(study: StudyData) -> list[RankQuality]:
    """For each round whose children were chosen by a predictor: its scores against their real accuracies."""
    from scipy.stats import kendalltau, spearmanr

    rounds: dict[int, list[TrialRecord]] = {}
    for t in study.done:
        if t.predicted is not None:
            rounds.setdefault(t.round, []).append(t)
    out = []
    for b in sorted(rounds):
        predicted = [float(t.predicted) for t in rounds[b] if t.predicted is not None]
        actual = [float(t.accuracy) for t in rounds[b] if t.accuracy is not None]
        rho = tau = None
        if len(predicted) >= 3 and len(set(predicted)) > 1 and len(set(actual)) > 1:
            rho = float(spearmanr(predicted, actual).statistic)
            tau = float(kendalltau(predicted, actual).statistic)
        out.append(RankQuality(b, predicted, actual, rho, tau))
    return out
