"""Reading a study: its trials, results, rounds, totals and the one JSON summary of it.

Every reader goes through here: ``pnas status`` and ``pnas best``, the report, ``pnas train --study``
and Python users. The functions over a list of trials are what a snapshot (the report's) shares with a
live handle, so both count, rank and total alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Self

from pnas.objectives import LATENCY_PREDICTIONS, MEASURES, Goal, measured_values
from pnas.pareto import hypervolume, non_dominated
from pnas.space.base import SearchSpace
from pnas.storage.base import StoreError, StudyInfo, StudyStorage, TrialRecord
from pnas.strategies.base import PREDICTOR_SECONDS
from pnas.study.layout import upgrade_layout
from pnas.study.opening import OBJECTIVES_ARTIFACT

FINISHED = ("done", "failed", "pruned")
OPEN = ("pending", "running")


def goal_of(config: dict[str, Any]) -> Goal:
    """What a study optimises (accuracy alone for a study made before goals existed)."""
    return Goal.from_options(config.get("strategy") or {})


def rounds_are_levels(config: dict[str, Any]) -> bool:
    """Whether a study's strategy, as registered, counts its rounds in cell sizes (False if unknown)."""
    from pnas.strategies.base import rounds_are_levels as strategy_rounds_are_levels

    name = (config.get("strategy") or {}).get("name")
    return isinstance(name, str) and strategy_rounds_are_levels(name)


FRACTIONS = ("accuracy", "report_accuracy")
NUMBERS = ("round", "predicted", "params", "mult_adds", "examples", "seconds", "started", "finished")


def trial_problem(trial: TrialRecord) -> str | None:
    """What a stored trial holds that no search writes (an accuracy that is not a fraction in [0, 1], a
    number that is not one), or None."""
    for name in FRACTIONS:
        value = getattr(trial, name)
        if value is not None and not (_is_number(value) and 0.0 <= value <= 1.0):
            return f"{name} {value!r}, not a fraction in [0, 1]"
    for name in NUMBERS:
        value = getattr(trial, name)
        if value is not None and not _is_number(value):
            return f"{name} {value!r}, not a number"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def results_of(trials: Sequence[TrialRecord], goal: Goal) -> list[TrialRecord]:
    """Trained cells that count as results: done, with an accuracy, and within every limit."""
    return [
        t for t in trials if t.status == "done" and t.accuracy is not None and not goal.violations(measured_values(t))
    ]


def best_of(trials: Sequence[TrialRecord], goal: Goal, top: int = 1) -> list[TrialRecord]:
    """The most accurate results, best first (ties: the earlier trial)."""
    return sorted(results_of(trials, goal), key=lambda t: (-(t.accuracy or 0.0), t.number))[:top]


def training_compute(trial: TrialRecord) -> int | None:
    """Forward mult-adds per image times the images the child trained on (None if either is unknown)."""
    if trial.mult_adds is None or trial.examples is None:
        return None
    return int(trial.mult_adds) * int(trial.examples)


def is_given(trial: TrialRecord) -> bool:
    """A result given from elsewhere (``study.add_trial``), not evaluated by this study."""
    return "given" in trial.extra


def totals_of(trials: Sequence[TrialRecord]) -> dict[str, Any]:
    """Models trained, failed, pruned and pending, and the compute the finished ones took (a pruned child's up
    to where it stopped); results given from elsewhere are counted apart (``given``) and cost nothing here."""
    given = [t for t in trials if is_given(t)]
    trials = [t for t in trials if not is_given(t)]
    finished = [t for t in trials if t.status in FINISHED]
    return {
        "models": sum(t.status == "done" for t in trials),
        "given": len(given),
        "failed": sum(t.status == "failed" for t in trials),
        "pruned": sum(t.status == "pruned" for t in trials),
        "pending": sum(t.status in OPEN for t in trials),
        "examples": int(sum(t.examples or 0 for t in finished)),
        "train_seconds": float(sum(t.seconds or 0.0 for t in finished)),
        "training_mult_adds": int(sum(training_compute(t) or 0 for t in finished)),
    }


def trial_json(trial: TrialRecord) -> dict[str, Any]:
    """A trained cell as ``pnas best --json`` and the summary list it."""
    extra = trial.extra or {}
    return {
        "cell": trial.cell,
        "accuracy": trial.accuracy,
        "report_accuracy": trial.report_accuracy,
        "round": trial.round,
        "predicted": trial.predicted,
        "params": trial.params,
        "mult_adds": trial.mult_adds,
        "latency_ms": extra.get("latency_ms"),
        "latency_batch_ms": extra.get("latency_batch_ms"),
        "examples": trial.examples,
        "seconds": trial.seconds,
    }


def spearman(predicted: list[float], measured: list[float]) -> float | None:
    """Spearman's rho, or None for fewer than 3 pairs or a constant side."""
    from scipy.stats import spearmanr

    if len(predicted) < 3 or len(set(predicted)) < 2 or len(set(measured)) < 2:
        return None
    return float(spearmanr(predicted, measured).statistic)


@dataclass
class RoundSummary:
    b: int
    done: int
    failed: int
    pending: int
    best_accuracy: float | None
    spearman: float | None
    hypervolume: float | None = None
    """Of the front of every result up to this round, against the study's fixed reference (see
    :meth:`StudyReader.hypervolume_reference`): it never falls from one round to the next."""
    over_limit: int = 0
    """Trained children whose measured values broke a limit (recorded, never a result)."""
    latency_spearman: float | None = None
    """Rank correlation of the latency predicted when the children were chosen with what was measured."""
    fit_seconds: float | None = None
    """Seconds the strategy's predictor took to fit before choosing this round (None: not recorded)."""
    rank_seconds: float | None = None
    """Seconds it took to rank the round's candidates (a guided search's pool, with its costly features)."""
    pruned: int = 0
    """Children the study's pruner stopped early (final, never a result)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class StudyReader:
    """A read handle on one stored study: a store and the study's record.

    A handle that opened its own store closes it on :meth:`close` or at the end of a ``with`` block;
    a script that reads many studies should use one of the two.
    """

    def __init__(self, store: StudyStorage, info: StudyInfo, *, owns_store: bool = False) -> None:
        self.store, self.info = store, info
        self.owns_store = owns_store
        self._cells_read: set[str] = set()  # cells already read by the space (a trial's cell never changes)
        self._space_read: tuple[str, SearchSpace | None] | None = None  # (its stored section, the space)

    def close(self) -> None:
        """Close the store if this handle opened it; a shared store stays open for its owner."""
        if self.owns_store:
            self.store.close()
            self.owns_store = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def config(self) -> dict[str, Any]:
        """The stored configuration, in today's layout (see :func:`upgrade_layout`)."""
        return upgrade_layout(self.info.config)

    @property
    def state(self) -> str:
        """``complete``, ``running`` (a live process drives it) or ``interrupted`` (resume it)."""
        info = self.store.get_study(self.info.name)
        state = info.state if info else self.info.state
        if state == "running" and not self.store.is_driven(self.info.id):
            return "interrupted"
        return state

    def trials(self, status: str | None = None) -> list[TrialRecord]:
        """The study's trials in number order (only those in ``status`` if given).

        Every reader gets them here, checked: a trial holding what no search writes (an accuracy that is
        not a fraction, text for a number, a cell the study's space cannot read) is a StoreError naming the
        study, the trial and the value, never a crash further on.
        """
        trials = self.store.trials(self.info.id, status)
        for trial in trials:
            problem = trial_problem(trial) or self._cell_problem(trial.cell)
            if problem is not None:
                where = self.store.path or "memory"
                raise StoreError(
                    f"study {self.name!r} in {where} holds a damaged trial {trial.number} ({trial.cell}): "
                    f"{problem}; restore the study file from a copy"
                )
        return trials

    def _cell_problem(self, text: str) -> str | None:
        if text in self._cells_read:
            return None
        space = self._cell_space
        if space is not None:
            try:
                space.parse(text)
            except ValueError as exc:
                return f"the {space.name} space cannot read its cell ({exc})"
        self._cells_read.add(text)
        return None

    @property
    def _cell_space(self) -> SearchSpace | None:
        """The study's space, to read its cells (None for a plugin's space that is not installed here); built
        again when the stored section changes (a study grown to more blocks reads its new cells)."""
        from pnas.space import space_from_config

        section = self.config.get("space") or {}
        key = json.dumps(section, sort_keys=True, default=str)
        if self._space_read is None or self._space_read[0] != key:
            try:
                space: SearchSpace | None = space_from_config(section)
            except (ValueError, TypeError):
                space = None
            self._space_read = (key, space)
        return self._space_read[1]

    @property
    def goal(self) -> Goal:
        return goal_of(self.config)

    @property
    def rounds_are_levels(self) -> bool:
        """Whether the study's rounds are cell sizes b (the progressive search's) rather than batches."""
        return rounds_are_levels(self.config)

    def results(self, trials: list[TrialRecord] | None = None) -> list[TrialRecord]:
        """Trained cells that count as results: done, with an accuracy, and within every limit."""
        return results_of(self.trials("done") if trials is None else trials, self.goal)

    def best(self, top: int = 1) -> list[TrialRecord]:
        """The ``top`` most accurate results, best first."""
        return best_of(self.trials("done"), self.goal, top)

    def pareto(self, objectives: tuple[str, ...] | None = None) -> list[TrialRecord]:
        """The results no other result beats on every objective (default: the study's; a study of accuracy
        alone: accuracy and parameters), best accuracy first. Results lacking a value are left out."""
        goal = Goal(self.pareto_objectives(objectives))
        rows, points = _points(self.results(), goal)
        chosen = [rows[i] for i in non_dominated(points, goal.maximize)]
        return sorted(chosen, key=lambda t: (-(t.accuracy or 0.0), t.number))

    def pareto_objectives(self, objectives: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """The objectives :meth:`pareto` compares on: ``objectives``, else the study's, else (a study of
        accuracy alone) accuracy and parameters."""
        return tuple(objectives or (self.goal.objectives if self.goal.multi else ("accuracy", "params")))

    def pareto_points(self, objectives: tuple[str, ...] | None = None) -> list[list[TrialRecord]]:
        """The Pareto front as distinct points: per point (best accuracy first), every result with exactly
        those objective values, earliest first (cells that build the same network share a point)."""
        names = self.pareto_objectives(objectives)
        points: dict[tuple[Any, ...], list[TrialRecord]] = {}
        for trial in self.pareto(names):
            values = measured_values(trial)
            points.setdefault(tuple(values[MEASURES[name]] for name in names), []).append(trial)
        return list(points.values())

    def hypervolume_reference(self) -> dict[str, float] | None:
        """The point each round's hypervolume is measured from, per objective: accuracy 0; a cost its
        limit, else the bound the evaluator's cost model gave when the study was created, else (latency
        without a limit) twice the slowest child measured in the first round. Costs are divided by their
        reference, so the hypervolume is a fraction of the unit box. None until it can be known."""
        goal = self.goal
        found = self.store.load_artifact(self.info.id, OBJECTIVES_ARTIFACT)
        stored = found[1].get("reference", {}) if found else {}
        reference: dict[str, float] = {"accuracy": 0.0}
        for name in goal.costs:
            value = goal.limits.get(name, stored.get(name))
            if value is None and name == "latency":
                trials = [t for t in self.trials() if not is_given(t)]
                first = [t for t in trials if t.round == min(t.round for t in trials)] if trials else []
                if first and all(t.status in FINISHED for t in first):  # fixed once the first round ends
                    measured = [measured_values(t)["latency_ms"] for t in self.results(first)]
                    value = 2 * max((v for v in measured if v is not None), default=0.0) or None
            if value is None:
                return None
            reference[name] = float(value)
        return reference

    def rounds(self) -> list[RoundSummary]:
        """Per round (a level b of the progressive search, a batch of the others): counts and quality.
        Results given from elsewhere belong to no round (see ``totals()["given"]``)."""
        by_round: dict[int, list[TrialRecord]] = {}
        for t in self.trials():
            if not is_given(t):
                by_round.setdefault(t.round, []).append(t)
        goal = self.goal
        reference = self.hypervolume_reference()
        so_far: list[TrialRecord] = []
        out = []
        for b in sorted(by_round):
            trials = by_round[b]
            done = [t for t in trials if t.status == "done"]
            results = results_of(trials, goal)
            so_far += results
            scored = [(t.predicted, t.accuracy) for t in done if t.predicted is not None and t.accuracy is not None]
            out.append(
                RoundSummary(
                    b=b,
                    done=len(done),
                    failed=sum(t.status == "failed" for t in trials),
                    pruned=sum(t.status == "pruned" for t in trials),
                    pending=sum(t.status in OPEN for t in trials),
                    best_accuracy=max((t.accuracy for t in results if t.accuracy is not None), default=None),
                    spearman=spearman([p for p, _ in scored], [a for _, a in scored]),
                    hypervolume=_hypervolume(so_far, goal, reference),
                    over_limit=len(done) - len(results),
                    latency_spearman=self._latency_spearman(b, done) if goal.uses_latency else None,
                    **self._predictor_seconds(b),
                )
            )
        return out

    def _predictor_seconds(self, round_: int) -> dict[str, float | None]:
        found = self.store.load_artifact(self.info.id, PREDICTOR_SECONDS.format(round_))
        meta = found[1] if found else {}
        return {key: meta.get(key) for key in ("fit_seconds", "rank_seconds")}

    def _latency_spearman(self, round_: int, done: list[TrialRecord]) -> float | None:
        found = self.store.load_artifact(self.info.id, LATENCY_PREDICTIONS.format(round_))
        if found is None:
            return None
        predicted = found[1].get("cells", {})
        pairs = [(predicted[t.cell], measured_values(t)["latency_ms"]) for t in done if t.cell in predicted]
        kept = [(float(p), float(m)) for p, m in pairs if m is not None]
        return spearman([p for p, _ in kept], [m for _, m in kept])

    def totals(self) -> dict[str, Any]:
        """Models trained, failed, pruned and pending, and the compute they took."""
        return totals_of(self.trials())

    def summary(self, top: int = 5) -> dict[str, Any]:
        """The one JSON document of a study: what ``pnas status --json`` prints and the report keeps."""
        goal = self.goal
        best = self.best(max(top, 1))
        return {
            "study": self.name,
            "storage": str(self.store.path) if self.store.path else None,
            "state": self.state,
            "config": self.config,
            "objectives": list(goal.objectives),
            "limits": {MEASURES[name]: cap for name, cap in goal.limits.items()},
            "hypervolume_reference": self.hypervolume_reference(),
            "rounds": [r.to_json() for r in self.rounds()],
            "best": trial_json(best[0]) if best else None,
            "top": [trial_json(t) for t in best[:top]],
            "totals": self.totals(),
            "running": self._running(),
        }

    def _running(self) -> list[dict[str, Any]]:
        """Children being trained now, with the worker (host:pid) training each: only while a driver runs."""
        if self.state != "running":
            return []
        return [
            {"cell": t.cell, "round": t.round, "worker": t.worker, "started": t.started} for t in self.trials("running")
        ]


def _points(trials: list[TrialRecord], goal: Goal) -> tuple[list[TrialRecord], list[list[float]]]:
    rows, points = [], []
    for trial in trials:
        values = measured_values(trial)
        point = [values[MEASURES[name]] for name in goal.objectives]
        if all(v is not None for v in point):
            rows.append(trial)
            points.append([float(v) for v in point if v is not None])
    return rows, points


def _hypervolume(results: list[TrialRecord], goal: Goal, reference: dict[str, float] | None) -> float | None:
    if reference is None:
        return None
    rows, points = _points(results, goal)
    if not rows:
        return 0.0
    scale = [1.0 if name == "accuracy" else reference[name] for name in goal.objectives]
    normalised = [[v / s for v, s in zip(point, scale)] for point in points]
    corner = [0.0 if name == "accuracy" else 1.0 for name in goal.objectives]
    return hypervolume(normalised, goal.maximize, corner)


def missing_study(store: StudyStorage, name: str) -> StoreError:
    """The error for a study name a file does not hold, listing the names it does."""
    names = ", ".join(s.name for s in store.list_studies()) or "none"
    return StoreError(f"no study named {name!r} in {store.path or 'memory'} (studies there: {names})")
