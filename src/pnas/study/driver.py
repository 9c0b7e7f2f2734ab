"""Driving a study: the strategy's batches handed out as trials, results recorded as they are told.

Resuming is replay. The strategy is rebuilt from the study's stored configuration and asked again
from the start; every proposal whose result is already in the store is told from there instead of
being evaluated, so the strategy walks the same path and evaluation picks up exactly where it
stopped. This needs strategies that are deterministic given their seed and what they are told. Trials
that were asked and never told (their process died) are simply asked again, before anything new.

Results given from elsewhere (:meth:`StudyDriver.give`) and cells queued for the strategy
(:meth:`StudyDriver.enqueue`) are kept with the number of batches the strategy had been told when
they arrived, and replayed at that same point, so that the sequence of trials never depends on
where a process stopped.

A study whose pruner may stop children keeps every value they report on a
:class:`~pnas.study.pruning.ReportBoard` and records each trial with its curve, so a resumed study
decides exactly as the uninterrupted one did; a pruned trial is final, and the strategy is told it as
no result (like a failed one): it is never best, a parent or a population member.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pnas import __version__
from pnas.checkpoints import checkpoint
from pnas.config import ConfigError
from pnas.evaluation.base import EvalResult, Evaluator, TrialPruned
from pnas.execution.base import PRUNED_UNREPORTED, Executor, Job, Outcome
from pnas.pruners.base import Pruner
from pnas.pruners.none import NoPruner
from pnas.storage.base import MACHINERY_FAILURE, StudyStorage, TrialRecord
from pnas.strategies.base import Proposal, Strategy
from pnas.study.artifacts import StudyArtifacts
from pnas.study.opening import Messages, Opening
from pnas.study.pruning import CURVE, PRUNED, ReportBoard, check_pruning
from pnas.study.reading import training_compute
from pnas.study.trial import Trial, TrialFailed

Told = EvalResult | TrialFailed | TrialPruned
"""What a trial may be told: its result, that it failed, or that it was stopped early."""

FINAL = ("done", "failed", "pruned")
"""States a trial keeps for good (but a failure of the machinery under it, see :func:`needs_evaluation`)."""

GIVEN_ROUND = 0
"""The round of a trial given with ``add_trial`` (a strategy's own rounds count from 1)."""

ENQUEUED = "enqueued-cells"
"""The artifact listing the cells enqueued for the strategy, each with the point it was enqueued at."""


class ChildrenFailing(RuntimeError):
    """The first children of a run all failed with the same error: the setup is broken, not the cells."""


@dataclass
class FailureStreak:
    """Watches a run's first outcomes: ``limit`` failures in a row with one error, before any child of the
    run succeeded or failed otherwise, mean a broken evaluator or a worker without its data, so the study
    stops instead of recording every child failed and calling itself complete."""

    limit: int
    keys: list[str] = field(default_factory=list)
    error: str | None = None
    over: bool = False
    """A success or a second kind of error was seen: this run's setup works."""

    def add(self, outcome: Outcome) -> bool:
        """Count ``outcome``; True when the run must stop."""
        if self.over or self.limit <= 0:
            return False
        if outcome.error is None or (self.error is not None and outcome.error != self.error):
            self.over = True
            return False
        self.error = outcome.error
        self.keys.append(outcome.key)
        return len(self.keys) >= self.limit


def is_machinery_failure(trial: TrialRecord) -> bool:
    """A child recorded failed because its worker died (or a node left), not because of the child."""
    return trial.status == "failed" and trial.extra.get("failure") == MACHINERY_FAILURE


def needs_evaluation(trial: TrialRecord | None) -> bool:
    """Not finished, or failed only because the machinery failed (never final across a resume)."""
    if trial is None:
        return True
    return trial.status not in FINAL or is_machinery_failure(trial)


def result_from_trial(trial: TrialRecord) -> EvalResult | None:
    """What the strategy is told of a finished trial: its result, or None when it failed or was pruned
    (so predictors learn from complete children only)."""
    if trial.status != "done" or trial.accuracy is None:
        return None
    return EvalResult(
        accuracy=trial.accuracy,
        report_accuracy=trial.report_accuracy,
        params=trial.params,
        mult_adds=trial.mult_adds,
        examples=trial.examples or 0,
        seconds=trial.seconds or 0.0,
        extra=trial.extra,
    )


@dataclass
class OpenBatch:
    """The strategy's batch being evaluated: its proposals, and the trials not told yet."""

    proposals: list[Proposal]
    keys: list[str]
    open: dict[str, Trial]
    handed: set[str] = field(default_factory=set)

    @property
    def round(self) -> int:
        return self.proposals[0].round


class Silent:
    """A reporter that says nothing (see :class:`pnas.study.Reporter` for what one may hear)."""

    def message(self, text: str) -> None: ...


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class StudyDriver:
    """The ask/tell state of one study in this process: the strategy, replayed up to its open batch."""

    def __init__(
        self,
        store: StudyStorage,
        opening: Opening,
        strategy: Strategy,
        config: dict[str, Any],
        pruner: Pruner | None = None,
    ) -> None:
        self.store, self.opening, self.strategy, self.config = store, opening, strategy, config
        self.pruner = pruner or NoPruner()
        self._board: ReportBoard | None = None
        self.batches_told = 0
        self.covered: set[str] = set()
        """The cells of every batch told to the strategy so far."""
        self.batch: OpenBatch | None = None
        self.finished = False
        self.prepared = False
        self.reporter: Messages = Silent()
        self.provenance: dict[str, Any] = {}
        self._given: dict[int, list[tuple[Any, EvalResult | None]]] = {}
        self.last_step: int | None = None
        """The last step a child reports, as the study plans it (None: unknown, or no pruner): set by prepare."""
        self._enqueued: dict[int, list[Any]] = {}

    @property
    def study_id(self) -> int:
        return self.opening.info.id

    @property
    def board(self) -> ReportBoard:
        """Every value the study's trials reported (the finished ones' read from the store once)."""
        if self._board is None:
            self._board = ReportBoard.of(self.pruner, self.store.trials(self.study_id))
        return self._board

    # --- setting up -----------------------------------------------------------
    def prepare(self, evaluator: Evaluator | None, *, reporting: Evaluator | None = None) -> None:
        """Before the strategy's first ask: the evaluator's cost model and probe, the data check, the lock,
        and the fidelity ladder the pruner offers the strategy.

        ``evaluator`` must be prepared (its data loaded); None for cells the user evaluates. ``reporting``:
        the evaluator whose reports the study plans for, when it is not ``evaluator`` (the study's configured
        one, while the user evaluates its cells); only its settings are read (:meth:`Evaluator.last_step`).
        """
        if self.prepared:
            return
        info = self.opening.info
        self.store.lock_study(info.id, info.name)
        reporting = reporting or evaluator
        self.last_step = reporting.last_step() if reporting is not None and self.pruner.prunes else None
        if self.last_step is not None:
            self.strategy.use_widening(functools.partial(self.pruner.widening, last_step=self.last_step))
        cost_model = evaluator.cost_model() if evaluator is not None else None
        self.strategy.use_cost_model(cost_model)
        self.strategy.use_probe(evaluator.probe() if evaluator is not None else None)
        if evaluator is not None:
            self.opening.check_data(evaluator.data_fingerprint())
        self.opening.record_objectives(self.strategy, cost_model)
        self.strategy.artifacts = StudyArtifacts(self.store, info.id)
        self.provenance = _provenance(self.strategy, evaluator)
        self._load_warm_starts()
        self.prepared = True

    def _load_warm_starts(self) -> None:
        space = self.strategy.space
        for trial in self.store.trials(self.study_id):
            given = trial.extra.get("given")
            if isinstance(given, dict) and trial.status in ("done", "failed"):
                cell = space.parse(trial.cell)
                self._given.setdefault(int(given["after_batch"]), []).append((cell, result_from_trial(trial)))
        found = self.store.load_artifact(self.study_id, ENQUEUED)
        for text, after in found[1].get("cells", []) if found else []:
            self._enqueued.setdefault(int(after), []).append(space.parse(text))

    # --- asking -----------------------------------------------------------------
    def replay(self) -> None:
        """Tell the strategy what the store holds of its own proposals, without asking anything new."""
        recorded = {t.cell for t in self.store.trials(self.study_id) if "given" not in t.extra}
        while self.batch is None and not self.finished and not recorded <= self.covered:
            self._advance()

    def sync(self) -> None:
        """Replay (or advance) the strategy until a batch has trials to evaluate, or the search ends."""
        while self.batch is None and not self.finished:
            self._advance()

    def _advance(self) -> None:
        for cell, result in self._given.pop(self.batches_told, []):
            self.strategy.warm_start(cell, result)
        queued = self._enqueued.pop(self.batches_told, [])
        if queued:
            self.strategy.enqueue(queued)
        proposals = self.strategy.ask()
        if not proposals:
            self.finished = True
            return
        space, store, study = self.strategy.space, self.store, self.study_id
        keys = [space.format(p.cell) for p in proposals]
        known = {key: store.trial(study, key) for key in dict.fromkeys(keys)}
        todo = [key for key, trial in known.items() if needs_evaluation(trial)]
        if todo or any(trial is None for trial in known.values()):
            self.opening.start(self.reporter)
            store.add_proposals(study, [(k, p.round, p.predicted) for k, p in zip(keys, proposals)])
            for key in todo:
                trial = known[key]
                if trial is not None and is_machinery_failure(trial):
                    store.retry_trial(study, key)
        if not todo:
            self._tell_strategy(proposals, keys)
            return
        cells = dict(zip(keys, (p.cell for p in proposals)))
        trials = {}
        for key in todo:
            record = store.trial(study, key)
            assert record is not None
            trials[key] = Trial(record.number, record.round, cells[key], self.config, record.predicted)
        self.board.start(trial.number for trial in trials.values())
        finish = proposals[0].finish
        if finish is not None and self.last_step is not None:  # a ladder round: its own trials compete
            records = (store.trial(study, key) for key in dict.fromkeys(keys))
            own = [r.number for r in records if r is not None and r.round == proposals[0].round]
            self.board.compete(own, finish, self.last_step)
        self.batch = OpenBatch(proposals, keys, trials)

    def ask(self, *, mark_running: bool = True, bind: bool = True) -> list[Trial]:
        """The open batch's trials not handed out yet by this process; [] when the search is finished.
        With ``bind``, their ``report`` asks this study's pruner (an executor binds its own channel)."""
        self.sync()
        if self.batch is None:
            self.finish()
            return []
        batch = self.batch
        fresh = [trial for key, trial in batch.open.items() if key not in batch.handed]
        if not fresh:
            raise RuntimeError(
                f"the {len(batch.open)} trial(s) of the current batch were asked and not told yet: tell each of "
                "them (a value, or pnas.TrialFailed) before asking again"
            )
        batch.handed.update(trial.key for trial in fresh)
        for trial in fresh if bind else []:  # trial.report / should_prune decide on what earlier trials reported
            trial.bind(functools.partial(self._judge_now, trial.key))
        if mark_running:
            for trial in fresh:
                self.store.mark_running(self.study_id, trial.key, this_worker())
        return fresh

    def finish(self) -> None:
        """The search has ended: the study is marked complete (writing nothing if it already is)."""
        self.opening.finish(self.reporter)
        self.store.release_locks()

    # --- telling ---------------------------------------------------------------------
    def tell(
        self,
        key: str,
        value: Told,
        *,
        worker: str | None = None,
        started: float | None = None,
        finished: float | None = None,
        machinery: bool = False,
    ) -> None:
        """Record the outcome of an asked trial; telling a finished trial its own value again does nothing."""
        record = self.store.trial(self.study_id, key)
        if record is None:
            raise ValueError(f"{key} is not a trial of study {self.opening.info.name!r}")
        if record.status in FINAL and not is_machinery_failure(record):
            if _same_outcome(record, value):
                return
            raise ValueError(
                f"trial {record.number} ({key}) was already told {_describe_record(record)}; "
                f"it cannot be told {_describe_value(value)}"
            )
        self.sync()
        if self.batch is None or key not in self.batch.open:
            raise ValueError(f"trial {record.number} ({key}) was not asked: tell only trials that study.ask() gave")
        self._record(key, value, worker=worker, started=started, finished=finished, machinery=machinery)
        self.board.end(self.batch.open.pop(key).number)

    def complete_batch(self) -> bool:
        """Tell the strategy the open batch once every trial of it is recorded; True if it was."""
        batch = self.batch
        if batch is None or batch.open:
            return False
        self._tell_strategy(batch.proposals, batch.keys)
        self.batch = None
        checkpoint("between_rounds")
        return True

    def _tell_strategy(self, proposals: Sequence[Proposal], keys: Sequence[str]) -> None:
        for key, proposal in zip(keys, proposals):
            trial = self.store.trial(self.study_id, key)
            assert trial is not None and trial.status in FINAL, f"{key} left unfinished"
            self.strategy.tell(proposal, result_from_trial(trial))
            if "given" not in trial.extra:  # a result from elsewhere cost this study nothing
                self.strategy.spent(training_compute(trial) or 0)
        self.covered.update(keys)
        self.batches_told += 1

    def _record(
        self,
        key: str,
        value: Told,
        *,
        worker: str | None,
        started: float | None,
        finished: float | None,
        machinery: bool,
        extra: dict[str, Any] | None = None,
    ) -> None:
        common: dict[str, Any] = {"worker": worker, "started": started, "finished": finished}
        record = self.store.trial(self.study_id, key)
        number = record.number if record is not None else -1
        extra = dict(extra or {})
        if isinstance(value, TrialPruned):
            where = (value.step, value.value) if value.step is not None and value.value is not None else None
            where = where or self.board.last(number)
            if where is None:
                value = TrialFailed(PRUNED_UNREPORTED)
            else:
                self.board.report(number, int(where[0]), float(where[1]))
                extra[PRUNED] = {"step": int(where[0]), "value": float(where[1])}
        if self.board.reports.get(number):
            extra[CURVE] = self.board.curve(number)
        if isinstance(value, EvalResult | TrialPruned):
            metrics = value.to_dict() if isinstance(value, EvalResult) else _costs(value.result)
            if extra:
                metrics["extra"] = {**metrics.get("extra", {}), **extra}
            status = "done" if isinstance(value, EvalResult) else "pruned"
            self.store.record_result(
                self.study_id, key, status=status, metrics=metrics, provenance=self.provenance, **common
            )
            return
        failure: dict[str, Any] = extra
        if machinery:
            failure["failure"] = MACHINERY_FAILURE
        self.store.record_result(
            self.study_id,
            key,
            status="failed",
            error=str(value) or "failed",
            metrics={"extra": failure} if failure else None,
            provenance=self.provenance,
            **common,
        )

    # --- results from elsewhere, cells to ask first --------------------------------------------
    def give(self, cell: Any, value: Told) -> None:
        """A result obtained elsewhere: recorded, and told to the strategy before its next ask."""
        if isinstance(value, TrialPruned):
            raise ValueError("a result given from elsewhere is an accuracy or pnas.TrialFailed, not TrialPruned")
        self.replay()
        key = self.strategy.space.format(cell)
        record = self.store.trial(self.study_id, key)
        if record is not None:
            if self.batch is not None and key in self.batch.open:
                self.tell(key, value)
                return
            if record.status in ("done", "failed") and _same_outcome(record, value):
                return
            raise ValueError(
                f"{key} is already a trial of study {self.opening.info.name!r} ({_describe_record(record)})"
            )
        after = self.batches_told + (1 if self.batch is not None else 0)
        # recorded without marking the study running: a finished study stays complete (the next ask that
        # finds something new to evaluate marks it)
        self.store.add_proposals(self.study_id, [(key, GIVEN_ROUND, None)])
        self._record(
            key,
            value,
            worker=None,
            started=None,
            finished=None,
            machinery=False,
            extra={"given": {"after_batch": after}},
        )
        result = value if isinstance(value, EvalResult) else None
        if self.finished:
            return
        self._given.setdefault(after, []).append((cell, result))

    def enqueue(self, cells: list[Any]) -> None:
        """Cells for the strategy to ask first, from its next ask on (durable: replayed at the same point)."""
        self.strategy.check_enqueue(cells)
        self.replay()
        if self.finished:
            raise ValueError(f"study {self.opening.info.name!r} is finished: nothing more will be asked")
        after = self.batches_told + (1 if self.batch is not None else 0)
        found = self.store.load_artifact(self.study_id, ENQUEUED)
        listed = list(found[1].get("cells", [])) if found else []
        listed += [[self.strategy.space.format(cell), after] for cell in cells]
        self.opening.start(self.reporter)
        self.store.save_artifact(self.study_id, ENQUEUED, b"", {"cells": listed})
        self._enqueued.setdefault(after, []).extend(cells)

    # --- pruning ------------------------------------------------------------------------------
    def _judge(self, key: str, step: int, value: float) -> bool | None:
        """An executor's judge: record the report, and decide once every earlier trial reported the step
        or ended (None until then)."""
        number = self._number(key)
        self.board.report(number, step, value)
        return self.board.decide(number, step, value)

    def _judge_now(self, key: str, step: int, value: float) -> bool:
        """A handed-out trial's ``report``: decide on what the earlier trials reported so far (evaluated in
        trial order, as ``optimize`` does, they have all ended)."""
        number = self._number(key)
        self.board.report(number, step, value)
        return self.board.decide(number, step, value, wait=False) is True

    def _number(self, key: str) -> int:
        trial = self.batch.open.get(key) if self.batch is not None else None
        if trial is not None:
            return trial.number
        record = self.store.trial(self.study_id, key)
        if record is None:
            raise ValueError(f"{key} is not a trial of study {self.opening.info.name!r}")
        return record.number

    def add_reports(self, key: str, reports: Sequence[tuple[int, float]]) -> None:
        """Reports a trial made where this driver did not hear them (a copy of it evaluated elsewhere)."""
        number = self._number(key)
        for step, value in reports:
            self.board.report(number, step, value)

    # --- running an evaluator over every batch ----------------------------------------
    def run(self, executor: Executor, evaluator: Evaluator, reporter: Any, on_batch: Callable[[int], None]) -> None:
        """Evaluate every batch with ``executor`` until the search ends (what ``optimize`` runs)."""
        streak = FailureStreak(executor.stop_after_failures)
        takes_trials = evaluator.takes_trials
        check_pruning(self.pruner, evaluator.name, evaluator.reports_steps)
        pruning = self.pruner.prunes
        if pruning and not executor.judges:
            raise ConfigError(
                f"this executor ({type(executor).__name__}) cannot stop children early, which the "
                f"{self.pruner.name} pruner asks for: run this study with --executor local, or make one with --pruner none"
            )
        while True:
            trials = self.ask(mark_running=False, bind=False)
            if not trials:
                return
            batch = self.batch
            assert batch is not None
            reporter.batch_started(batch.round, len(batch.proposals), len(trials))
            trials.sort(key=lambda trial: trial.number)  # a child waits only on earlier ones, started first
            jobs = [Job(trial.key, trial if takes_trials else trial.cell) for trial in trials]

            def on_event(key: str, event: dict[str, Any]) -> None:
                if event.get("type") == "start":
                    self.store.mark_running(self.study_id, key, str(event.get("worker", "")))
                reporter.child_event(key, event)

            outcomes = executor.run(jobs, on_event, judge=self._judge) if pruning else executor.run(jobs, on_event)
            try:
                for outcome in outcomes:
                    value: Told = (
                        TrialPruned(step=outcome.pruned[0], value=outcome.pruned[1], result=outcome.result)
                        if outcome.pruned is not None
                        else outcome.result
                        if outcome.result is not None
                        else TrialFailed(outcome.error or "unknown error")
                    )
                    self.tell(
                        outcome.key,
                        value,
                        worker=outcome.worker,
                        started=outcome.started,
                        finished=outcome.finished,
                        machinery=outcome.machinery,
                    )
                    reporter.child_finished(outcome)
                    if streak.add(outcome):
                        self._stop_failing(streak)
            finally:
                if isinstance(outcomes, Generator):
                    outcomes.close()  # stops the children still in flight when the run ends early
            self.complete_batch()
            on_batch(batch.round)

    def _stop_failing(self, streak: FailureStreak) -> None:
        """Reopen the streak's children for the next run (they say nothing about their cells) and stop."""
        for key in streak.keys:
            self.store.mark_machinery_failure(self.study_id, key)
        raise ChildrenFailing(
            f"stopped: {_first_failed(len(streak.keys))}: {streak.error}; "
            "fix the cause and run the same command again (those children are trained again), "
            "or raise --stop-after-failures"
        )


def _first_failed(n: int) -> str:
    return "the first child failed" if n == 1 else f"the first {n} children all failed with the same error"


def _costs(result: EvalResult | None) -> dict[str, Any]:
    """The metrics of a pruned trial: the costs up to where it stopped (no accuracy: it has no result)."""
    if result is None:
        return {}
    metrics = result.to_dict()
    return {key: metrics[key] for key in ("params", "mult_adds", "examples", "seconds", "extra")}


def _same_outcome(record: TrialRecord, value: Told) -> bool:
    if isinstance(value, TrialFailed):
        return record.status == "failed"
    if isinstance(value, TrialPruned):
        return record.status == "pruned"
    return record.status == "done" and record.accuracy == value.accuracy


def _describe_record(record: TrialRecord) -> str:
    if record.status == "pruned":
        where = record.extra.get(PRUNED) or {}
        return f"pruned at step {where.get('step')} (value {where.get('value')})"
    return f"accuracy {record.accuracy}" if record.status == "done" else f"failed ({record.error})"


def _describe_value(value: Told) -> str:
    if isinstance(value, TrialPruned):
        return "pruned"
    return f"failed ({value})" if isinstance(value, TrialFailed) else f"accuracy {value.accuracy}"


def _provenance(strategy: Strategy, evaluator: Evaluator | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version = version("torch")
    except PackageNotFoundError:  # a study evaluated by the user's own code may not use torch at all
        torch_version = None
    return {
        "pnas": __version__,
        "torch": torch_version,
        "strategy_seed": strategy.seed,
        "evaluator_seed": evaluator.config().get("seed") if evaluator is not None else None,
    }
