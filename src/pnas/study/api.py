"""The Study API: create or load a study, ask for trials, tell their results, or let ``optimize`` run.

    import pnas
    study = pnas.create_study("mine", "studies.db", {"space": {"name": "nb201"}, "strategy": {"name": "guided"}})
    study.optimize(lambda trial: my_accuracy(trial.cell))
    print(study.best(1)[0].cell)

A study is durable: results are committed as they are told, and the same study loaded by another
process (after a crash, or on purpose) continues where it stopped (see :mod:`pnas.study.driver`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pnas.config import ConfigError, read_config_file
from pnas.evaluation.base import EvalResult, Evaluator
from pnas.execution.base import EXECUTORS, Executor
from pnas.pruners.base import Pruner
from pnas.pruners.none import NoPruner
from pnas.storage import StoreError, StudyInfo, StudyStorage, open_storage
from pnas.strategies.base import Strategy
from pnas.study.driver import StudyDriver
from pnas.study.opening import Opening, open_study
from pnas.study.pruning import check_pruning
from pnas.study.reading import StudyReader, missing_study
from pnas.study.trial import Trial, TrialFailed, TrialPruned, as_result

if TYPE_CHECKING:
    from pnas.execution.base import Outcome


class Reporter:
    """Receives a study's progress; the CLI draws bars from it. Methods are no-ops here."""

    def study_started(self, study: Study, resumed: bool) -> None: ...

    def batch_started(self, round_: int, total: int, todo: int) -> None: ...

    def child_event(self, key: str, event: dict[str, Any]) -> None: ...

    def child_finished(self, outcome: Outcome) -> None: ...

    def batch_finished(self, study: Study, round_: int) -> None:
        """Every child of the batch is recorded and told (a report may be rewritten now)."""

    def message(self, text: str) -> None: ...


@dataclass
class Components:
    """What a study runs with, built from its configuration."""

    strategy: Strategy
    evaluator: Evaluator | None
    """None when the user evaluates the cells (the configuration has no evaluator section)."""
    config: dict[str, Any]
    executor: dict[str, Any]
    pruner: Pruner = field(default_factory=NoPruner)
    """Stops losing children early (``none``: never)."""


Objective = Callable[[Trial], "float | EvalResult"]


class Study(StudyReader):
    """One study: read it (see :class:`StudyReader`), and drive it with ask/tell or :meth:`optimize`.

    Get one from :func:`create_study` or :func:`load_study`; a handle made on a store directly
    (``Study(store, info)``) reads, and builds its components from the stored configuration the
    first time it is asked to drive.
    """

    def __init__(
        self,
        store: StudyStorage,
        info: StudyInfo,
        *,
        owns_store: bool = False,
        components: Components | None = None,
        opening: Opening | None = None,
    ) -> None:
        super().__init__(store, info, owns_store=owns_store)
        self._components = components
        self._opening = opening
        self._driver: StudyDriver | None = None
        self._fresh_strategy: Strategy | None = None
        self.for_reading = False
        """Opened by :func:`load_study`: it reads, and refuses to drive the study."""

    @classmethod
    def load(cls, store: StudyStorage, name: str) -> Study:
        """The study ``name`` of an open store (a StoreError listing the names there if it has none)."""
        return cls(store, _info(store, name))

    # --- components -----------------------------------------------------------
    @property
    def components(self) -> Components:
        if self._components is None:
            from pnas.search import resolve

            stored = self.info.config
            resolved = resolve([], stored=stored, name=self.name)
            self._components = Components(
                resolved.strategy,
                resolved.evaluator if "evaluator" in stored else None,
                _without_unasked_evaluator(resolved.config, keep="evaluator" in stored),
                resolved.executor,
                resolved.pruner,
            )
        return self._components

    @property
    def space(self) -> Any:
        """The study's search space (``space.parse(text)`` gives a cell object)."""
        return self.components.strategy.space

    def _drive(self) -> StudyDriver:
        if self.for_reading:
            raise StoreError(
                f"study {self.name!r} was opened for reading (pnas.load_study): "
                "to continue it, open it with pnas.create_study(name, storage, load_if_exists=True)"
            )
        if self._driver is None:
            components = self.components
            if self._fresh_strategy is None:  # kept unasked, so that a failed run can start over from it
                self._fresh_strategy = copy.deepcopy(components.strategy)
            else:
                components.strategy = copy.deepcopy(self._fresh_strategy)
            opening = self._opening or open_study(self.store, self.name, components.config)
            self._driver = StudyDriver(self.store, opening, components.strategy, self.config, components.pruner)
        return self._driver

    def _prepared_driver(self) -> StudyDriver:
        driver = self._drive()
        if not driver.prepared:
            evaluator = self.components.evaluator
            uses_costs = self.components.strategy.goal.uses_costs
            if uses_costs and evaluator is None:
                raise ConfigError(
                    f"study {self.name!r} has objectives or limits on costs, which need each cell's costs before it "
                    "is evaluated: give its configuration an [evaluator] section whose cost model can tell them "
                    "(your own code may still evaluate the cells)"
                )
            if evaluator is not None and uses_costs:
                evaluator.prepare()  # its cost model decides which cells may be asked
                driver.prepare(evaluator)
            else:
                driver.prepare(None, reporting=evaluator)
        return driver

    def _forget_driver(self) -> None:
        """After a failure the handle's ask/tell state may be half-updated: the next call replays from the
        store (which holds everything recorded) and takes the study's lock again."""
        self._driver = None
        self._opening = None
        self.store.release_locks()

    def close(self) -> None:
        """Release the study's lock (if this handle drove it) and close a store this handle opened."""
        if self._driver is not None and self._driver.prepared:
            self.store.release_locks()
        super().close()

    # --- ask and tell ------------------------------------------------------------
    def ask(self) -> list[Trial]:
        """The strategy's next batch of trials to evaluate; [] when the search is finished.

        Trials asked before and never told (in this process or in one that died) come first. Every
        trial of a batch must be told before the next batch is asked.
        """
        return self._prepared_driver().ask()

    def tell(self, trial: Trial | str, value: float | EvalResult | TrialFailed | TrialPruned) -> None:
        """Record a trial's result: its validation accuracy (a fraction in [0, 1]), an
        :class:`EvalResult`, a :class:`TrialFailed`, or a :class:`TrialPruned` (stopped early: recorded
        pruned at its last ``trial.report``). Told again the same value, nothing happens; another value is
        a ValueError."""
        driver = self._prepared_driver()
        key = trial.key if isinstance(trial, Trial) else str(trial)
        told = as_result(value)
        if isinstance(trial, Trial) and trial.reports:  # a copy of it may have reported where the study did not hear
            driver.add_reports(key, trial.reports)
        driver.tell(key, told)
        driver.complete_batch()

    def add_trial(self, cell: Any, value: float | EvalResult | TrialFailed | TrialPruned) -> None:
        """A result obtained elsewhere (another study, a table, a paper): recorded, told to the strategy as
        if it had asked, and never evaluated again by this study."""
        result = as_result(value)
        driver = self._prepared_driver()
        driver.give(self._cell(cell), result)
        driver.complete_batch()

    def enqueue(self, cell: Any) -> None:
        """A cell (or its text) for the strategy to ask first. Only strategies that choose their cells
        freely take it (random, evolution, guided); the progressive search refuses with a ValueError."""
        driver = self._prepared_driver()
        driver.enqueue([self._cell(cell)])

    def _cell(self, cell: Any) -> Any:
        """A cell of this study's space from a cell object or its text; a ValueError for anything else."""
        try:
            text = cell if isinstance(cell, str) else self.space.format(cell)
            parsed = self.space.parse(text)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            raise ValueError(f"{cell!r} is not a cell of the {self.space.name} space: {exc}") from None
        if not isinstance(cell, str) and parsed != cell:
            raise ValueError(f"{cell!r} is not a cell of the {self.space.name} space")
        return parsed

    # --- optimize ------------------------------------------------------------------
    def optimize(
        self,
        objective: Objective | None = None,
        *,
        workers: int | None = None,
        executor: Executor | None = None,
        reporter: Reporter | None = None,
        max_retries: int | None = None,
        child_timeout: float | None = None,
        stop_after_failures: int | None = None,
    ) -> Study:
        """Evaluate every trial the strategy asks for until the search ends; returns this study.

        ``objective(trial)`` returns the validation accuracy (or an :class:`EvalResult`) and raises
        :class:`TrialFailed` for a cell it cannot evaluate; any other exception is recorded as the trial's
        failure too, and the study stops when its first children all fail alike (as ``pnas search`` does).
        By default it runs in this process; ``workers=N`` runs it in N worker processes (the objective must
        then be importable, see :mod:`pnas.evaluation.objective`). Without an objective, the study's own
        evaluator (its configuration's ``[evaluator]``) evaluates the cells, with its ``[executor]``.
        """
        if objective is None:
            evaluator = self.components.evaluator
            if evaluator is None:
                raise ValueError(
                    f"study {self.name!r} has no evaluator in its configuration: pass optimize an objective"
                )
            evaluator.prepare()
        else:
            from pnas.evaluation.objective import ObjectiveEvaluator

            evaluator = ObjectiveEvaluator(objective)
        overrides = {
            "workers": workers if workers is not None else (1 if objective is not None else None),
            "max_retries": max_retries,
            "child_timeout": child_timeout,
            "stop_after_failures": stop_after_failures,
        }
        return self.run(evaluator, executor=executor, reporter=reporter, executor_overrides=overrides)

    def run(
        self,
        evaluator: Evaluator,
        *,
        executor: Executor | None = None,
        reporter: Reporter | None = None,
        executor_overrides: Mapping[str, Any] | None = None,
    ) -> Study:
        """Drive the study to its end with a prepared ``evaluator`` (what :meth:`optimize` and ``pnas search`` run)."""
        reporter = reporter or Reporter()
        driver = self._drive()
        driver.reporter = reporter
        own_executor = executor is None
        try:
            driver.prepare(evaluator)
            reporter.study_started(self, driver.opening.resumed)
            if executor is None:
                executor = self._executor(evaluator, executor_overrides or {})
            driver.run(executor, evaluator, reporter, lambda round_: reporter.batch_finished(self, round_))
        except BaseException:
            self._forget_driver()
            raise
        finally:
            if own_executor and executor is not None:
                executor.close()
        self.info = driver.opening.info
        self._forget_driver()  # finished: the study is complete and its lock released
        return self

    def _executor(self, evaluator: Evaluator, overrides: Mapping[str, Any]) -> Executor:
        options = {k: v for k, v in self.components.executor.items() if k != "name"}
        name = self.components.executor.get("name", "local")
        if evaluator.takes_trials:  # a user's objective runs here or in local worker processes
            name = "local"
            options = {k: v for k, v in options.items() if k in EXECUTORS.component(name).specs and k != "workers"}
        specs = EXECUTORS.component(name).specs
        options.update({k: v for k, v in overrides.items() if v is not None and k in specs})
        return EXECUTORS.create(name, evaluator, **options)


def _without_unasked_evaluator(config: dict[str, Any], *, keep: bool) -> dict[str, Any]:
    return config if keep else {k: v for k, v in config.items() if k != "evaluator"}


def config_layer(config: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """A configuration given to :func:`create_study`: a nested dict, or the path of a TOML file."""
    if config is None:
        return {}
    if isinstance(config, str | Path):
        return read_config_file(config, "the configuration")
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"a study's configuration is a dict of sections or a TOML file's path, got {type(config).__name__}"
        )
    return {key: dict(value) if isinstance(value, Mapping) else value for key, value in config.items()}


def _store_of(storage: StudyStorage | str | Path | None, *, read_only: bool = False) -> tuple[StudyStorage, bool]:
    """(the store, whether it was opened here): a path opens the SQLite file, None keeps it in memory."""
    if isinstance(storage, StudyStorage):
        return storage, False
    return open_storage(storage, read_only=read_only), True


def create_study(
    name: str,
    storage: StudyStorage | str | Path | None,
    config: Mapping[str, Any] | str | Path | None = None,
    *,
    load_if_exists: bool = False,
) -> Study:
    """A new study (or, with ``load_if_exists``, the stored one, checked against ``config``).

    ``config`` is the nested configuration of a TOML file (``{"strategy": {"name": "evolution",
    "budget": 100}, ...}``), with the defaults, checks and messages of ``pnas search``; leave out the
    ``evaluator`` section when your own code evaluates the cells. A bad configuration raises
    :class:`pnas.ConfigError`; settings that differ from the stored study's raise
    :class:`pnas.study.ConfigMismatch`.
    """
    return open_configured(name, storage, [config_layer(config)], load_if_exists=load_if_exists)


def open_configured(
    name: str,
    storage: StudyStorage | str | Path | None,
    layers: Sequence[Mapping[str, Mapping[str, Any]]],
    *,
    load_if_exists: bool = True,
    origin: Mapping[tuple[str, str], str] | None = None,
    keep_evaluator: bool = False,
    before_create: Callable[[Components], None] | None = None,
    slots: Callable[[Evaluator, Mapping[str, Any]], int] | None = None,
) -> Study:
    """Resolve ``layers`` (later ones win) against the stored study of that name, and open it.

    Resolved before the store is opened for writing, so a wrong option never creates a file.
    ``keep_evaluator`` keeps the default evaluator when no layer names one (``pnas search``);
    ``before_create`` runs on the built components before the study is created or checked (the
    command line prepares its evaluator there, so data that cannot be read never leaves a study);
    ``slots`` tells how many children the executor runs at once (see :func:`pnas.search.resolve`).
    """
    from pnas.search import resolve, stored_config

    if not name or not isinstance(name, str):
        raise ConfigError(f"a study's name is a non-empty string, got {name!r}")
    stored = stored_config(storage, name)
    if stored is not None and not load_if_exists:
        raise StoreError(
            f"study {name!r} already exists in {storage}: pass load_if_exists=True to continue it, or pick another name"
        )
    resolved = resolve(layers, stored=stored, name=name, origin=origin, slots=slots)
    given = (
        keep_evaluator
        or any("evaluator" in layer for layer in layers)
        or (stored is not None and "evaluator" in stored)
    )
    components = Components(
        resolved.strategy,
        resolved.evaluator if given else None,
        _without_unasked_evaluator(resolved.config, keep=given),
        resolved.executor,
        resolved.pruner,
    )
    if components.evaluator is not None:
        check_pruning(components.pruner, components.evaluator.name, components.evaluator.reports_steps)
    if before_create is not None:
        before_create(components)
    store, owns = _store_of(storage)
    try:
        opening = open_study(store, name, components.config)
    except BaseException:
        if owns:
            store.close()
        raise
    return Study(store, opening.info, owns_store=owns, components=components, opening=opening)


def load_study(name: str | None, storage: StudyStorage | str | Path) -> Study:
    """The stored study ``name`` (None: the file's only study), opened for reading: a file is never
    changed through it, and a running search is neither blocked nor slowed."""
    store, owns = _store_of(storage, read_only=True)
    try:
        if name is None:
            studies = store.list_studies()
            if len(studies) != 1:
                names = ", ".join(s.name for s in studies) or "none"
                raise StoreError(
                    f"{storage} holds {len(studies)} studies ({names}): name the one to read (--study NAME)"
                )
            study = Study(store, studies[0], owns_store=owns)
        else:
            study = Study(store, _info(store, name), owns_store=owns)
        study.for_reading = True
        return study
    except BaseException:
        if owns:
            store.close()
        raise


def list_studies(storage: StudyStorage | str | Path) -> list[str]:
    """The names of the studies in a store, in creation order."""
    store, owns = _store_of(storage, read_only=True)
    try:
        return [info.name for info in store.list_studies()]
    finally:
        if owns:
            store.close()


def _info(store: StudyStorage, name: str) -> StudyInfo:
    info = store.get_study(name)
    if info is None:
        raise missing_study(store, name)
    return info


def optimize(
    strategy: Strategy,
    evaluator: Evaluator,
    *,
    storage: StudyStorage | str | Path | None = None,
    study_name: str = "default",
    workers: int = 1,
    max_retries: int | None = None,
    executor: Executor | None = None,
    reporter: Reporter | None = None,
    config: dict[str, Any] | None = None,
    pruner: Pruner | None = None,
) -> Study:
    """Run a study of components built in Python to the end (or resume it); the returned study owns a
    store opened here (close it, or use ``with``). A :class:`ConfigMismatch` when the stored study has
    other settings or data, :class:`pnas.storage.StudyLocked` when another process drives it. ``pruner``
    stops losing children early (default: none)."""
    from pnas.execution.base import DEFAULT_MAX_RETRIES
    from pnas.study.layout import study_config

    evaluator.prepare()
    store, owns = _store_of(storage)
    try:
        existing = store.get_study(study_name)
        if existing is not None:  # "someone else is running it" is the first thing to know
            store.lock_study(existing.id, study_name)
        pruner = pruner or NoPruner()
        config = config or study_config(strategy, evaluator, pruner=pruner)
        opening = open_study(store, study_name, config)
        retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        executor_options = {"name": "local", "workers": workers, "max_retries": retries}
        components = Components(strategy, evaluator, config, executor_options, pruner)
        study = Study(store, opening.info, owns_store=owns, components=components, opening=opening)
        return study.run(evaluator, executor=executor, reporter=reporter)
    except BaseException:
        store.release_locks()
        if owns:
            store.close()
        raise
