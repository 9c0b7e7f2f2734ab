"""Run a search from Python with the same settings as ``pnas search``.

    from pnas.search import SearchConfig, run_search
    with run_search(SearchConfig(blocks=3, beam=8), storage="studies.db") as study:
        for trial in study.best(top=5):
            print(trial.cell, trial.accuracy)

:class:`SearchConfig` holds every option of the command, with the command's
defaults; :func:`run_search` builds the space, strategy and evaluator from it
and drives the study with :func:`pnas.study.optimize` (create or resume).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pnas.evaluation.base import EVALUATORS, Evaluator
from pnas.execution.base import DEFAULT_MAX_RETRIES
from pnas.space import create_space
from pnas.space.base import SearchSpace
from pnas.storage.sqlite import StudyStore
from pnas.strategies import STRATEGIES
from pnas.strategies.base import Strategy
from pnas.study import Reporter, Study, optimize

DEFAULT_STORAGE = "pnas-studies.db"
"""The study file ``pnas search``, ``status`` and ``best`` use when no --storage is given."""

DEFAULT_BLOCKS = 3
DEFAULT_BEAM = 8
"""The default search (136 + 2 x 8 = 152 children) fits in about 15 minutes on 2 CPU cores."""


@dataclass
class SearchConfig:
    """Every setting of a search. ``None`` means: the evaluator's or strategy's default."""

    space: str = "pnas"
    blocks: int = DEFAULT_BLOCKS
    strategy: str = "pnas"
    seed: int = 0
    # progressive search
    beam: int = DEFAULT_BEAM
    predictor: str = "mlp"
    """The MLP ensemble ranks the top of a level best (docs/predictors.md), as the paper also found."""
    ensemble: int = 5
    # budget-driven strategies (random, evolution, reinforce)
    budget: int | None = None
    population: int | None = None
    sample: int | None = None
    batch: int | None = None
    """Cells evolution/REINFORCE (and random search) propose at once; None: one per worker, so
    every worker has a child (it is part of the study's settings, like the seed)."""
    # evaluator: "train" (real training) or "table" (look-up); None picks by space
    evaluator: str | None = None
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    trainer: dict[str, Any] = field(default_factory=dict)
    """Trainer settings (image_size, epochs, train_subset, val_size, cells_per_stack, filters, ...)."""
    table: str | None = None
    metric: str = "cifar10-val"
    report_metric: str | None = "cifar10-test"
    device: str = "auto"
    child_timeout: float | None = None
    workers: int | None = None
    """Children trained at once; None: one per visible GPU, else one per CPU core."""
    max_retries: int = DEFAULT_MAX_RETRIES
    """Times a child whose worker died under it is trained again before it is recorded failed."""

    @property
    def evaluator_name(self) -> str:
        return self.evaluator or ("table" if self.space == "nb201" else "train")

    def default_study_name(self) -> str:
        """Derived from the space, the data and the strategy, e.g. ``pnas-fashion-mnist-pnas``."""
        data = {"train": self.dataset, "table": f"table-{self.metric}"}.get(self.evaluator_name, self.evaluator_name)
        return f"{self.space}-{data}-{self.strategy}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def default_workers(evaluator_name: str) -> int:
    """One worker per visible GPU, else one per CPU core (children train on one thread each).

    Look-up evaluators answer instantly, so they run in-process.
    """
    if evaluator_name != "train":
        return 1
    from pnas.execution.local import visible_gpus

    return len(visible_gpus()) or max(1, os.cpu_count() or 1)


def build_space(config: SearchConfig) -> SearchSpace:
    if config.space == "pnas":
        return create_space("pnas", blocks=config.blocks)
    return create_space(config.space)


def progressive_model_count(space: SearchSpace, beam: int, max_level: int | None = None) -> int:
    """Models the progressive search trains: all level-1 cells, then ``beam`` per level."""
    levels = min(max_level or space.max_level, space.max_level)
    return len(space.initial_cells()) + beam * (levels - 1)


def build_strategy(config: SearchConfig, space: SearchSpace, workers: int = 1) -> Strategy:
    if config.strategy == "pnas":
        return STRATEGIES.create(
            "pnas", space, seed=config.seed, beam=config.beam, predictor=config.predictor, ensemble=config.ensemble
        )
    budget = config.budget or progressive_model_count(space, config.beam)
    options: dict[str, Any] = {"seed": config.seed, "budget": budget}
    if config.batch is not None:
        options["batch"] = config.batch
    elif config.strategy in ("evolution", "reinforce"):
        options["batch"] = workers
    if config.strategy == "evolution":
        if config.population is not None:
            options["population"] = config.population
        if config.sample is not None:
            options["sample"] = config.sample
    return STRATEGIES.create(config.strategy, space, **options)


def build_evaluator(config: SearchConfig) -> Evaluator:
    if config.evaluator_name == "table":
        return EVALUATORS.create(
            "table", table=config.table, metric=config.metric, report_metric=config.report_metric, space=config.space
        )
    if config.evaluator_name == "synthetic":
        return EVALUATORS.create("synthetic", seed=config.seed)
    if config.space != "pnas":
        raise ValueError(f"the training evaluator builds PNAS cells; for --space {config.space} use --evaluator table")
    options = {k: v for k, v in config.trainer.items() if v is not None}
    return EVALUATORS.create(
        config.evaluator_name,
        dataset=config.dataset,
        data_dir=config.data_dir,
        seed=config.seed,
        device=config.device,
        child_timeout=config.child_timeout,
        **options,
    )


STORED_DEFAULTS = ("budget", "population", "sample", "batch")
"""Options whose defaults are derived from other options (evolution's population from the budget,
the batch from the worker count); on resume, leaving one unset means "as stored"."""


def with_stored_defaults(config: SearchConfig, stored: dict[str, Any] | None) -> SearchConfig:
    """``config`` with every unset option of :data:`STORED_DEFAULTS` taken from a stored study's settings.

    Recomputing a derived default on resume could change the study (a larger
    --budget would change evolution's default population, another --workers the
    batch), and the resume would be refused. The stored value is what the study
    was run with, so keeping it always continues the same search.
    """
    strategy = (stored or {}).get("strategy", {})
    if strategy.get("name") != config.strategy:
        return config
    updates = {key: strategy[key] for key in STORED_DEFAULTS if getattr(config, key) is None and key in strategy}
    return replace(config, **updates)


def run_search(
    config: SearchConfig | None = None,
    *,
    storage: StudyStore | str | None = DEFAULT_STORAGE,
    study: str | None = None,
    reporter: Reporter | None = None,
) -> Study:
    """Create or resume the study and run it to the end. ``storage=None`` keeps it in memory.

    Given a path, the returned study owns the file's connection: use it in a
    ``with`` block (or call ``close()``) in a script that runs many studies.
    """
    import pnas.evaluation  # noqa: F401  (registers the built-in evaluators)

    config = config or SearchConfig()
    name = study or config.default_study_name()
    store = storage if isinstance(storage, StudyStore) else StudyStore(storage)
    owns_store = store is not storage
    try:
        stored = store.get_study(name)
        config = with_stored_defaults(config, stored.config if stored else None)
        workers = config.workers or default_workers(config.evaluator_name)
        strategy = build_strategy(config, build_space(config), workers)
        evaluator = build_evaluator(config)
        result = optimize(
            strategy,
            evaluator,
            storage=store,
            study_name=name,
            workers=workers,
            max_retries=config.max_retries,
            reporter=reporter,
        )
    except BaseException:
        if owns_store:
            store.close()
        raise
    result.owns_store = owns_store
    return result
