"""The options of the built-in strategies, apart from the strategies so that registering them,
listing them and offering their flags import nothing heavy (torch, scipy): each dataclass is the one
place of its strategy's defaults, ranges and choices (see :mod:`pnas.config`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pnas.config import GROWS, option
from pnas.predictors.options import ACQUISITIONS
from pnas.strategies.base import DEFAULT_BEAM, DeriveContext, GoalOptions, progressive_model_count

LATENCY_BATCH = 10
"""Default batch of a baseline under a latency limit: the first batch is drawn before any latency is
known, each later one within the limit as predicted from the batches before."""


@dataclass(frozen=True)
class BudgetOptions(GoalOptions):
    """The options every budgeted strategy shares."""

    seed: int = option(0, "Seed of the strategy's random choices.", low=0, high=2**63 - 1)
    budget: int | None = option(
        None,
        "Models to train; default: as many as the progressive search with the same --blocks and --beam.",
        low=1,
        decides=GROWS,
    )
    batch: int | None = option(
        None,
        "Cells proposed at once; default: the whole budget as one round (with --budget-compute: one per worker).",
        low=1,
    )
    budget_compute: int | None = option(
        None,
        "Training compute to spend, in forward mult-adds x training images (as pnas status and the report count "
        "it, pruned and failed children included): no batch is asked once the children told reach it, so the last "
        "batch may pass it; --budget still caps the number of models (unset: no compute limit).",
        low=1,
        decides=GROWS,
    )

    def to_config(self) -> dict[str, Any]:
        """As :class:`GoalOptions` stores them, ``budget_compute`` only when set (absent: no compute limit, what
        every study made before it had)."""
        config = super().to_config()
        if config.get("budget_compute") is None:
            config.pop("budget_compute", None)
        return config

    @staticmethod
    def derive(values: dict[str, Any], context: DeriveContext) -> None:
        """A budget left unset is the progressive search's model count with the same blocks and beam."""
        if values.get("budget") is None:
            values["budget"] = progressive_model_count(context.space, context.beam)
        if values.get("max_latency_ms") is not None and values.get("batch") is None:
            # latency is predicted from measured cells: propose in batches, so later ones can use the earlier
            values["batch"] = max(context.workers, LATENCY_BATCH)
        if values.get("budget_compute") is not None and values.get("batch") is None:
            values["batch"] = context.workers  # the compute spent is looked at before each batch


@dataclass(frozen=True)
class WorkerBatchOptions(BudgetOptions):
    """Strategies that learn from each batch propose one cell per worker at a time by default."""

    batch: int | None = option(
        None,
        "Cells proposed at once (default: one per child the executor runs at once: its workers, a cluster's slots).",
        low=1,
    )

    @staticmethod
    def derive(values: dict[str, Any], context: DeriveContext) -> None:
        BudgetOptions.derive(values, context)
        if values.get("batch") is None:
            values["batch"] = context.workers


@dataclass(frozen=True)
class ProgressiveOptions(GoalOptions):
    seed: int = option(0, "Seed of the predictor's initialisation and of its folds.", low=0, high=2**63 - 1)
    beam: int = option(
        DEFAULT_BEAM,
        "Children trained per round (K; the paper: 256); on a fidelity ladder (--pruner successive-halving), "
        "those trained to the end.",
        low=1,
    )
    acquisition: str = option(
        "mean",
        "How children are ranked: the ensemble's mean prediction (the paper's), ucb (mean + kappa spreads), "
        "ei (expected improvement over the best so far) or thompson (one member per pick).",
        choices=ACQUISITIONS,
    )
    kappa: float = option(1.0, "Spreads added to the mean by --acquisition ucb.", low=0)

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        if self.acquisition == "mean":  # absent: the paper's rule, as every study before acquisitions
            del config["acquisition"], config["kappa"]
        return config


@dataclass(frozen=True)
class EvolutionOptions(WorkerBatchOptions):
    population: int | None = option(None, "Population size (default: a quarter of the budget, 4 to 100).", low=2)
    sample: int | None = option(
        None, "Tournament sample size (default: a quarter of the population, at least 2).", low=1
    )


@dataclass(frozen=True)
class GuidedOptions(WorkerBatchOptions):
    initial: int | None = option(
        None, "Random cells before the predictor guides (default: a fifth of the budget, at least 5).", low=1
    )
    pool: int = option(500, "Candidates ranked by the predictor at each step.", low=1)
    screen: int = option(
        50,
        "When the predictor has costly features (zero-cost): candidates kept by a first ranking without them, "
        "so they are computed for these few (0: rank the whole pool with every feature).",
        low=0,
        legacy=0,
    )
    expand: float = option(
        0.25,
        "Share of the pool from progressive expansions of the best cells (their last block replaced; spaces "
        "that grow cells block by block, such as pnas).",
        low=0,
        high=1,
        legacy=0.0,
    )
    acquisition: str = option(
        "ei",
        "How candidates are ranked: mean prediction, ucb (mean + kappa spreads), ei (expected improvement) or "
        "thompson (one ensemble member per pick).",
        choices=ACQUISITIONS,
    )
    kappa: float = option(1.0, "Spreads added to the mean by --acquisition ucb.", low=0)

    @staticmethod
    def derive(values: dict[str, Any], context: DeriveContext) -> None:
        WorkerBatchOptions.derive(values, context)


@dataclass(frozen=True)
class ReinforceOptions(WorkerBatchOptions):
    lr: float = option(0.01, "Controller learning rate (Adam; chosen by a sweep on NAS-Bench-201, docs/baselines.md).",
                       above=0)  # fmt: skip
    baseline_decay: float = option(0.9, "Decay of the moving-average reward baseline.", low=0, below=1)
    hidden: int = option(35, "Controller LSTM units per layer (Zoph and Le's: 2 layers of 35 units [recalled]).", low=1)
    layers: int = option(2, "Controller LSTM layers.", low=1)
