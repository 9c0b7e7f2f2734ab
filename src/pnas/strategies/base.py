"""The ask/tell interface every search strategy implements.

A strategy proposes cells (``ask``) and is told their outcomes (``tell``); it
never trains anything itself, so the same strategy runs behind the local loop,
a process pool or a cluster. Strategies must be deterministic given their
seed and the sequence of outcomes they are told: that is what makes a study
resumable by replay (see :mod:`pnas.study`).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np

from pnas.config import Options, option
from pnas.evaluation.base import CostModel, EvalResult, Probe
from pnas.objectives import LATENCY_PREDICTIONS, LIMITS, Goal
from pnas.registry import Registry
from pnas.space.base import SearchSpace
from pnas.strategies.costs import CellCosts


@dataclass(frozen=True)
class Proposal:
    """A cell a strategy wants evaluated."""

    cell: Any
    round: int
    """Progressive search: the cell's level b. Other strategies: their batch number."""
    predicted: float | None = None
    """The surrogate's score when the cell was chosen, if any."""
    finish: int | None = None
    """In a round run as a fidelity ladder (see :meth:`Strategy.use_widening`): the fewest of the round's
    children to train to the end, the same on each of its proposals; None (the default): each child is judged
    alone by the pruner's own rule."""


PREDICTOR_SECONDS = "predictor-seconds-{}"
"""The artifact in which a strategy keeps the seconds its predictor took to fit and rank in a round (read by
the study's round summaries)."""


DECISION = "decision-{}"
"""The artifact of a round a strategy chose with a fitted predictor (meta only, no tensors): a digest of the
predictions it chose from, how many results it was fitted on and, where the choice drew random numbers, the
generator's state after it. The picks themselves are the round's trials."""


class ArtifactStore(Protocol):
    """Where a strategy keeps small named records durably, and reads back the choices its study holds."""

    def save_artifact(self, name: str, tensors: dict[str, Any], meta: dict[str, Any]) -> None: ...

    def load_artifact(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None: ...

    def proposals(self, round_: int) -> list[tuple[str, float | None]]:
        """The cells (as text) and predicted scores the study holds for ``round_``, in proposal order."""
        ...


def predictions_digest(values: np.ndarray) -> str:
    """A sha256 of predictions (as float64): a refit that ranks differently shows as another digest."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


class Strategy(ABC):
    """Base class. ``ask()`` returns the next batch (empty when finished);
    every proposal of a batch is told (in batch order) before the next ask.

    ``goal`` says what the strategy optimises (:class:`pnas.objectives.Goal`); one with costs
    needs :meth:`use_cost_model` before the first ask (the study driver calls it).
    """

    name: str = "strategy"
    rounds_are_levels: bool = False
    """Whether each round is one cell size (the progressive search: round b holds cells of b levels), so a
    report may call its rounds ``b``; otherwise a round is just a batch."""

    options: Options | None = None
    """A built-in strategy's options (its constructor's argument); ``config()`` is derived from them."""

    def __init__(self, space: SearchSpace, *, seed: int = 0, goal: Goal | None = None) -> None:
        self.space = space
        self.seed = seed
        self.goal = goal or Goal()
        self.costs = CellCosts(space, self.goal)
        self.artifacts: ArtifactStore | None = None
        self.probe: Probe | None = None
        """A batch of the study's images for data-dependent zero-cost features (the driver sets it; None:
        the study reads no images, and such features are computed without data)."""

    def use_probe(self, probe: Probe | None) -> None:
        """The evaluator's :meth:`~pnas.evaluation.base.Evaluator.probe`, before the first ask."""
        self.probe = probe

    def use_widening(self, widen: Callable[[int], int]) -> None:
        """The study's pruner can run a round as a fidelity ladder (the driver calls this before the first ask,
        and only then): ``widen(k)`` children started, and marked with ``finish=k``, compete so that the k best
        by their reported values train to the end (:meth:`pnas.pruners.Pruner.widening`). A strategy that
        proposes rounds may use it; the default ignores it."""

    def use_cost_model(self, model: CostModel | None) -> None:
        """The evaluator's cost model (a ValueError when the goal needs one and there is none)."""
        self.costs.use(model)

    def record_latency_predictions(self, round_: int, cells: list[Any]) -> None:
        """Keep the latency predicted for a round's proposals (once: a replay predicts the same), so the
        study can report how well the latency predictor ranked them."""
        if not self.goal.uses_latency or self.artifacts is None or not cells:
            return
        name = LATENCY_PREDICTIONS.format(round_)
        if self.artifacts.load_artifact(name) is not None:
            return
        predicted = self.costs.predicted_latency(cells)
        if np.isnan(predicted).all():
            return
        meta = {"cells": {self.space.format(c): float(v) for c, v in zip(cells, predicted) if not np.isnan(v)}}
        self.artifacts.save_artifact(name, {}, meta)

    def record_predictor_seconds(self, round_: int, fit: float, rank: float) -> None:
        """Keep how long the predictor took to fit and to rank the candidates of a round; the first run's
        figures stay (a replayed round takes its picks from the study and fits nothing)."""
        if self.artifacts is None:
            return
        name = PREDICTOR_SECONDS.format(round_)
        if self.artifacts.load_artifact(name) is None:
            self.artifacts.save_artifact(name, {}, {"fit_seconds": fit, "rank_seconds": rank})

    def stored_picks(self, round_: int) -> list[tuple[Any, float | None]]:
        """The cells and predicted scores the study already holds for ``round_`` (none in a new round, or
        without a study): a replayed round takes them instead of fitting and ranking again. The round's
        decision record lists them; a study stored before it did has them as the round's trials."""
        if self.artifacts is None:
            return []
        decision = self.stored_decision(round_)
        if decision is not None and "picks" in decision:
            return [(self.space.parse(text), predicted) for text, predicted in decision["picks"]]
        return [(self.space.parse(text), predicted) for text, predicted in self.artifacts.proposals(round_)]

    def stored_decision(self, round_: int) -> dict[str, Any] | None:
        """The :data:`DECISION` record of ``round_``, if the study holds one."""
        found = self.artifacts.load_artifact(DECISION.format(round_)) if self.artifacts else None
        return found[1] if found else None

    def checked_predictions(self, round_: int, predictions: np.ndarray) -> np.ndarray:
        """``predictions`` of this strategy's predictor in ``round_``, as given; a
        :class:`~pnas.predictors.base.NonFinitePredictions` naming the predictor when any is NaN or
        infinite (nothing can be ranked by such scores). Strategies call it before choosing by them."""
        from pnas.predictors.base import check_predictions

        name = (self.predictor_config() or {}).get("name", type(self).__name__)
        return check_predictions(predictions, str(name), round_)

    def record_decision(
        self,
        round_: int,
        predictions: np.ndarray,
        trained_on: int,
        picks: list[tuple[Any, float | None]],
        **state: Any,
    ) -> None:
        """Keep the :data:`DECISION` record of a round just chosen (replacing one a stopped run left): the
        picks themselves, in order (a pick may be a trial the study held already, given with
        ``add_trial``: the round's own trials would not list it), and a digest of what they were chosen from."""
        if self.artifacts is not None:
            meta = {
                "predictions": predictions_digest(predictions),
                "trained_on": trained_on,
                "picks": [[self.space.format(cell), score] for cell, score in picks],
                **state,
            }
            self.artifacts.save_artifact(DECISION.format(round_), {}, meta)

    @abstractmethod
    def ask(self) -> list[Proposal]: ...

    @abstractmethod
    def tell(self, proposal: Proposal, result: EvalResult | None) -> None:
        """``result`` is None when the child failed."""

    def spent(self, compute: int) -> None:
        """The training compute (forward mult-adds x training images) of the child just told, whatever its
        outcome (a pruned child's up to where it stopped); 0 where unknown. A strategy with a compute budget
        counts it; the default ignores it."""

    def warm_start(self, cell: Any, result: EvalResult | None) -> None:
        """A result obtained elsewhere (``study.add_trial``), told before the next ask. The default learns
        nothing from it: a cell the strategy proposes later is still never evaluated again, because its
        result is read from the study."""

    accepts_enqueued: bool = False
    """Whether cells may be queued for the strategy to ask first (``study.enqueue``): only strategies that
    choose their cells freely can take them."""

    def check_enqueue(self, cells: list[Any]) -> None:
        """A ValueError, saying why, when this strategy cannot take enqueued cells."""
        if not self.accepts_enqueued:
            raise ValueError(
                f"the {self.name} strategy chooses every cell it asks by its own rule and cannot take enqueued "
                "cells: give a known result with study.add_trial instead, or use a strategy that chooses freely "
                "(random, evolution, guided)"
            )

    def enqueue(self, cells: list[Any]) -> None:
        """Cells to ask first, from the next ask on (see :attr:`accepts_enqueued`)."""
        self.check_enqueue(cells)

    def predictor_config(self) -> dict[str, Any] | None:
        """The ``[predictor]`` section of a strategy that uses a predictor (None: it uses none)."""
        return None

    def config(self) -> dict[str, Any]:
        """JSON-able options that determine the strategy's choices (stored with the study): its options
        as built (with the defaults it derived), else its seed and goal."""
        if self.options is not None:
            return {"name": self.name, **self.options.to_config()}
        return {"name": self.name, "seed": self.seed, **self.goal.to_options()}


def goal_from_options(options: dict[str, Any]) -> Goal:
    """The goal among a strategy's keyword options (``objectives``, ``max_params``, ...); a TypeError for
    any other keyword, as a misspelt argument gets."""
    unknown = sorted(set(options) - {"objectives", *LIMITS})
    if unknown:
        raise TypeError(f"unexpected strategy option(s): {', '.join(unknown)}")
    return Goal.from_options(options)


DEFAULT_BEAM = 8
"""K of the progressive search when none is given: also what a baseline's default budget is counted with."""

DEFAULT_PREDICTOR = "mlp"
"""The predictor of a strategy that uses one and names none of its own (``default_predictor``)."""


@dataclass(frozen=True)
class GoalOptions(Options):
    """The options every built-in strategy shares: what it optimises and under which limits."""

    objectives: str = option(
        "accuracy",
        "Objectives, comma-separated: accuracy (maximised) and any of params, mult_adds, latency (minimised); "
        "more than one makes a Pareto search.",
    )
    max_params: int | None = option(None, "Propose only cells whose network has at most this many parameters.", low=1)
    max_mult_adds: int | None = option(
        None, "Propose only cells whose network has at most this many mult-adds per image.", low=1
    )
    max_latency_ms: float | None = option(
        None,
        "Propose only cells predicted (then measured) under this inference latency at batch 1, in ms "
        "(needs --measure-latency).",
        low=0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.goal()  # an unknown objective is refused when the options are built

    def goal(self) -> Goal:
        return Goal.from_options({name: getattr(self, name) for name in ("objectives", *LIMITS)})

    def to_config(self) -> dict[str, Any]:
        """The goal as a study stores it, only where it differs from accuracy alone without limits (an
        absent key means just that), then the other options."""
        goal_keys = {f.name for f in fields(GoalOptions)}
        rest = {key: value for key, value in super().to_config().items() if key not in goal_keys}
        return {"seed": rest.pop("seed"), **self.goal().to_options(), **rest} if "seed" in rest else rest


STRATEGIES: Registry[Strategy] = Registry("strategy", "pnas.strategies")
"""Factories are ``(space, **options)``; one that uses a predictor (``uses=("predictor",)``) also gets
``predictor=<name>``, ``ensemble=<members>`` and ``predictor_options=<that section's other options>``."""


def rounds_are_levels(name: str) -> bool:
    """Whether the rounds of the strategy registered as ``name`` are cell sizes
    (:attr:`Strategy.rounds_are_levels`), for a reader of a stored study; False for a strategy not
    registered here or not built by a :class:`Strategy` class."""
    factory = STRATEGIES.component(name).factory if name in STRATEGIES else None
    return isinstance(factory, type) and issubclass(factory, Strategy) and factory.rounds_are_levels


class DeriveContext:
    """What an options class may derive its unset defaults from (see ``derive`` below).

    ``workers`` may be given as a function: it is then called the first time an options class reads
    it, and only then (knowing an executor's slots may mean connecting to its cluster).
    """

    def __init__(self, space: SearchSpace, workers: int | Callable[[], int], beam: int) -> None:
        self.space = space
        self.beam = beam
        """The progressive search's K: baselines default to as many models as it would train."""
        self._workers = workers

    @property
    def workers(self) -> int:
        """Children the executor runs at once (:meth:`pnas.execution.base.Executor.slots`): a batch of
        this many keeps each of them busy."""
        if callable(self._workers):
            self._workers = self._workers()
        return self._workers


def declared_ensemble(predictor: str) -> int:
    """The ensemble size a predictor declares as its default (1 for one that declares none or is unknown)."""
    from pnas.predictors import PREDICTORS

    spec = PREDICTORS.component(predictor).specs.get("ensemble") if predictor in PREDICTORS else None
    return 1 if spec is None else int(spec.default)


def derived(options: Any, space: SearchSpace) -> Any:
    """``options`` with the defaults its class derives (``derive``) filled for a strategy built directly in
    Python: one worker, the default K. The search derives them with its own workers and K first."""
    derive = getattr(type(options), "derive", None)
    if derive is None:
        return options
    values = options.values()
    derive(values, DeriveContext(space=space, workers=1, beam=DEFAULT_BEAM))
    return options if values == options.values() else type(options)(**values)


def progressive_model_count(space: SearchSpace, beam: int, max_level: int | None = None) -> int:
    """Models the progressive search trains: all level-1 cells, then ``beam`` per level."""
    levels = min(max_level or space.max_level, space.max_level)
    return len(space.initial_cells()) + beam * (levels - 1)
