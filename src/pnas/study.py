"""A study: one search, driven durably. Data flows strategy -> executor -> store.

:func:`optimize` runs (or resumes) a study. Resuming is replay: the strategy
is rebuilt from its stored configuration and asked again from the start;
every proposal whose result is already in the store is told from there
instead of being trained, so the strategy walks the same path and training
picks up exactly where it stopped. This needs strategies that are
deterministic given their seed and the outcomes they are told (the
strategies that fit a predictor take a replayed round's picks from its stored
trials, so replay does not even depend on refitting being bit-exact).

:class:`Study` is a thin read handle (a store and a study id) used by the
CLI, reports and notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pnas.config
from pnas import __version__
from pnas.checkpoints import checkpoint
from pnas.config import OptionSpec
from pnas.evaluation.base import EVALUATORS, EvalResult, Evaluator, fingerprint_difference
from pnas.execution.base import DEFAULT_MAX_RETRIES, EXECUTORS, Executor, Job, Outcome
from pnas.objectives import LATENCY_PREDICTIONS, MEASURES, Goal, measured_values
from pnas.pareto import hypervolume, non_dominated
from pnas.predictors.base import PREDICTORS
from pnas.registry import Registry
from pnas.space import SPACES
from pnas.storage.base import MACHINERY_FAILURE, StudyStorage
from pnas.storage.sqlite import StoreError, StudyInfo, StudyStore, TrialRecord
from pnas.strategies.base import PREDICTOR_SECONDS, STRATEGIES, Proposal, Strategy


class ConfigMismatch(StoreError):
    """The command's settings differ from the stored study's."""


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


class StudyArtifacts:
    """Named tensors of one study, stored as safetensors bytes (never pickled), and the choices it holds."""

    def __init__(self, store: StudyStore, study_id: int) -> None:
        self.store, self.study_id = store, study_id

    def save_artifact(self, name: str, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        self.store.save_artifact(self.study_id, name, save(tensors), meta)

    def load_artifact(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        from safetensors.torch import load

        found = self.store.load_artifact(self.study_id, name)
        if found is None:
            return None
        data, meta = found
        return load(data), meta

    def proposals(self, round_: int) -> list[tuple[str, float | None]]:
        """The cells (as text) and predicted scores the study holds for ``round_``, in the order they were
        proposed: a resumed strategy takes its earlier choices from them instead of choosing again."""
        return [(t.cell, t.predicted) for t in self.store.trials(self.study_id) if t.round == round_]


REGISTRIES: dict[str, Registry[Any]] = {
    "space": SPACES,
    "strategy": STRATEGIES,
    "predictor": PREDICTORS,
    "evaluator": EVALUATORS,
    "executor": EXECUTORS,
}
"""Where each section of a study's configuration finds its components' declared options."""


def declared_options(section: str, name: str) -> dict[str, OptionSpec] | None:
    """The options a registered component declares; None for a section or component nobody registered."""
    registry = REGISTRIES.get(section)
    if registry is None or name not in registry:
        return None
    return registry.component(name).specs


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(refused, allowed) changes between a stored study's configuration and a new one (see
    :func:`pnas.config.config_changes`: the components' declarations decide)."""
    return pnas.config.config_changes(upgrade_layout(old), upgrade_layout(new), declared_options)


def upgrade_layout(config: dict[str, Any]) -> dict[str, Any]:
    """A stored configuration in today's layout; the one place that knows earlier layouts.

    Studies made before predictors had their own section kept the progressive search's predictor
    under ``strategy`` (``predictor``, ``ensemble``, ``predictor_options``), and NAS-Bench-201's
    space recorded its fixed size.
    """
    space = config.get("space")
    if isinstance(space, dict) and space.get("name") == "nb201" and "max_level" in space:
        # its size is fixed (6 edges): it was recorded before spaces recorded only their options
        config = {**config, "space": {"name": "nb201"}}
    strategy = config.get("strategy")
    if not isinstance(strategy, dict) or not isinstance(strategy.get("predictor"), str):
        return config
    strategy = dict(strategy)
    predictor = {"name": strategy.pop("predictor")}
    if "ensemble" in strategy:
        predictor["ensemble"] = strategy.pop("ensemble")
    predictor.update(strategy.pop("predictor_options", None) or {})
    upgraded = {key: value for key, value in config.items() if key != "strategy"}
    return {"space": upgraded.pop("space", None), "strategy": strategy, "predictor": predictor, **upgraded}


def study_config(strategy: Strategy, evaluator: Evaluator, executor: dict[str, Any] | None = None) -> dict[str, Any]:
    """The nested configuration a study stores: one section per component, from the built components."""
    config: dict[str, Any] = {"space": strategy.space.config(), "strategy": strategy.config()}
    predictor_config = getattr(strategy, "predictor_config", None)
    if callable(predictor_config):
        config["predictor"] = predictor_config()
    config["evaluator"] = {"name": evaluator.name, **evaluator.config()}
    if executor is not None:
        config["executor"] = executor
    return config


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
class RoundSummary:
    b: int
    done: int
    failed: int
    pending: int
    best_accuracy: float | None
    spearman: float | None
    hypervolume: float | None = None
    """Of the front of every result up to this round, against the study's fixed reference (see
    :meth:`Study.hypervolume_reference`): it never falls from one round to the next."""
    over_limit: int = 0
    """Trained children whose measured values broke a limit (recorded, never a result)."""
    latency_spearman: float | None = None
    """Rank correlation of the latency predicted when the children were chosen with what was measured."""
    fit_seconds: float | None = None
    """Seconds the strategy's predictor took to fit before choosing this round (None: not recorded)."""
    rank_seconds: float | None = None
    """Seconds it took to rank the round's candidates (a guided search's pool, with its costly features)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "b": self.b,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "best_accuracy": self.best_accuracy,
            "spearman": self.spearman,
            "hypervolume": self.hypervolume,
            "over_limit": self.over_limit,
            "latency_spearman": self.latency_spearman,
            "fit_seconds": self.fit_seconds,
            "rank_seconds": self.rank_seconds,
        }


OBJECTIVES_ARTIFACT = "objectives"
"""The artifact that fixes a study's hypervolume reference point when it is created."""


def spearman(predicted: list[float], measured: list[float]) -> float | None:
    """Spearman's rho, or None for fewer than 3 pairs or a constant side."""
    from scipy.stats import spearmanr

    if len(predicted) < 3 or len(set(predicted)) < 2 or len(set(measured)) < 2:
        return None
    return float(spearmanr(predicted, measured).statistic)


class Study:
    """A read handle on one stored study.

    A handle that opened its own store (``optimize`` given a path) closes it on
    :meth:`close` or at the end of a ``with`` block; a script that runs many
    studies should use one of the two, so it does not keep a connection per study.
    """

    def __init__(self, store: StudyStore, info: StudyInfo, *, owns_store: bool = False) -> None:
        self.store, self.info = store, info
        self.owns_store = owns_store

    def close(self) -> None:
        """Close the store if this handle opened it; a shared store stays open for its owner."""
        if self.owns_store:
            self.store.close()
            self.owns_store = False

    def __enter__(self) -> Study:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def load(cls, store: StudyStore, name: str) -> Study:
        info = store.get_study(name)
        if info is None:
            names = ", ".join(s.name for s in store.list_studies()) or "none"
            raise StoreError(f"no study named {name!r} in {store.path or 'memory'} (studies there: {names})")
        return cls(store, info)

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
        return self.store.trials(self.info.id, status)

    @property
    def goal(self) -> Goal:
        """What the study optimises (accuracy alone for a study made before goals existed)."""
        return Goal.from_options(self.config.get("strategy") or {})

    def results(self, trials: list[TrialRecord] | None = None) -> list[TrialRecord]:
        """Trained cells that count as results: done, with an accuracy, and within every limit."""
        goal = self.goal
        trials = self.trials("done") if trials is None else [t for t in trials if t.status == "done"]
        return [t for t in trials if t.accuracy is not None and not goal.violations(measured_values(t))]

    def best(self, top: int = 1) -> list[TrialRecord]:
        return sorted(self.results(), key=lambda t: (-t.accuracy, t.number))[:top]

    def pareto(self, objectives: tuple[str, ...] | None = None) -> list[TrialRecord]:
        """The results no other result beats on every objective (default: the study's; a study of accuracy
        alone: accuracy and parameters), best accuracy first. Results lacking a value are left out."""
        goal = Goal(objectives or (self.goal.objectives if self.goal.multi else ("accuracy", "params")))
        rows, points = self._points(self.results(), goal)
        chosen = [rows[i] for i in non_dominated(points, goal.maximize)]
        return sorted(chosen, key=lambda t: (-t.accuracy, t.number))

    @staticmethod
    def _points(trials: list[TrialRecord], goal: Goal) -> tuple[list[TrialRecord], list[list[float]]]:
        rows, points = [], []
        for trial in trials:
            values = measured_values(trial)
            point = [values[MEASURES[name]] for name in goal.objectives]
            if all(v is not None for v in point):
                rows.append(trial)
                points.append([float(v) for v in point])
        return rows, points

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
                trials = self.trials()
                first = [t for t in trials if t.round == min(t.round for t in trials)] if trials else []
                if first and all(t.status in ("done", "failed") for t in first):  # fixed once the first round ends
                    measured = [measured_values(t)["latency_ms"] for t in self.results(first)]
                    value = 2 * max((v for v in measured if v is not None), default=0.0) or None
            if value is None:
                return None
            reference[name] = float(value)
        return reference

    def rounds(self) -> list[RoundSummary]:
        by_round: dict[int, list[TrialRecord]] = {}
        for t in self.trials():
            by_round.setdefault(t.round, []).append(t)
        goal = self.goal
        reference = self.hypervolume_reference()
        so_far: list[TrialRecord] = []
        out = []
        for b in sorted(by_round):
            trials = by_round[b]
            done = [t for t in trials if t.status == "done"]
            results = self.results(trials)
            so_far += results
            scored = [t for t in done if t.predicted is not None and t.accuracy is not None]
            out.append(
                RoundSummary(
                    b=b,
                    done=len(done),
                    failed=sum(t.status == "failed" for t in trials),
                    pending=sum(t.status in ("pending", "running") for t in trials),
                    best_accuracy=max((t.accuracy for t in results if t.accuracy is not None), default=None),
                    spearman=spearman([t.predicted for t in scored], [t.accuracy for t in scored]),  # type: ignore[misc]
                    hypervolume=self._hypervolume(so_far, goal, reference),
                    over_limit=len(done) - len(results),
                    latency_spearman=self._latency_spearman(b, done) if goal.uses_latency else None,
                    **self._predictor_seconds(b),
                )
            )
        return out

    def _hypervolume(self, results: list[TrialRecord], goal: Goal, reference: dict[str, float] | None) -> float | None:
        if reference is None:
            return None
        rows, points = self._points(results, goal)
        if not rows:
            return 0.0
        scale = [1.0 if name == "accuracy" else reference[name] for name in goal.objectives]
        normalised = [[v / s for v, s in zip(point, scale)] for point in points]
        corner = [0.0 if name == "accuracy" else 1.0 for name in goal.objectives]
        return hypervolume(normalised, goal.maximize, corner)

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
        pairs = [(p, m) for p, m in pairs if m is not None]
        return spearman([p for p, _ in pairs], [m for _, m in pairs])

    def totals(self) -> dict[str, Any]:
        trials = self.trials()
        finished = [t for t in trials if t.status in ("done", "failed")]
        return {
            "models": sum(t.status == "done" for t in trials),
            "failed": sum(t.status == "failed" for t in trials),
            "pending": sum(t.status in ("pending", "running") for t in trials),
            "examples": int(sum(t.examples or 0 for t in finished)),
            "train_seconds": float(sum(t.seconds or 0.0 for t in finished)),
        }


def _result_from_trial(trial: TrialRecord) -> EvalResult | None:
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


DATA_FINGERPRINT = "data-fingerprint"
"""The artifact that records what data a study was made with (see ``Evaluator.data_fingerprint``)."""


class DataMismatch(ConfigMismatch):
    """The study is resumed on other data than it was made with."""


@dataclass
class _Opening:
    """What opening a study decided, and the writes it put off until the study really starts.

    A refused or failed resume must leave the store exactly as it was, and a
    finished study run again must not write at all (it may sit on read-only
    media), so the grown settings, the data fingerprint and the state
    ``running`` are written only once a child is about to be trained (or the
    study ends).
    """

    study: Study
    resumed: bool
    grown: dict[str, Any] | None = None
    grown_note: str = ""
    fingerprint: dict[str, Any] | None = None
    objectives: dict[str, Any] | None = None
    """The study's objectives and hypervolume reference, written once when the study is created."""
    started: bool = False

    def start(self, store: StudyStore, reporter: Reporter) -> None:
        """Write what was put off and mark the study running: called before the first child is trained."""
        if self.started:
            return
        self.started = True
        self._write_deferred(store, reporter)
        store.set_study_state(self.study.info.id, "running")

    def finish(self, store: StudyStore, reporter: Reporter) -> None:
        """Mark the study complete, writing what was put off if nothing had to be trained."""
        self._write_deferred(store, reporter)
        info = store.get_study(self.study.name)
        if info is None or info.state != "complete":
            store.set_study_state(self.study.info.id, "complete")

    def _write_deferred(self, store: StudyStore, reporter: Reporter) -> None:
        info = self.study.info
        if self.grown is not None:
            store.update_study_config(info.id, self.grown)
            reporter.message("study settings grown: " + self.grown_note)
            self.grown = None
            updated = store.get_study(info.name)
            assert updated is not None
            self.study.info = updated
        if self.fingerprint is not None:
            store.save_artifact(info.id, DATA_FINGERPRINT, b"", self.fingerprint)
            self.fingerprint = None
        if self.objectives is not None:
            store.save_artifact(info.id, OBJECTIVES_ARTIFACT, b"", self.objectives)
            self.objectives = None


def open_study(
    store: StudyStore,
    name: str,
    config: dict[str, Any],
    *,
    fingerprint: dict[str, Any] | None = None,
) -> _Opening:
    """Create the study, or check the stored one against ``config`` and the data's fingerprint."""
    info = store.get_study(name)
    if info is None:
        return _Opening(Study(store, store.create_study(name, config)), False, fingerprint=fingerprint)
    refused, allowed = config_changes(info.config, config)
    if refused:
        raise ConfigMismatch(
            f"study {name!r} in {store.path or 'memory'} was created with other settings ("
            + "; ".join(refused)
            + "); use the original settings to resume it, or pick a new --study name"
        )
    opening = _Opening(Study(store, info), True)
    if allowed:
        opening.grown, opening.grown_note = config, "; ".join(allowed)
    if fingerprint is not None:
        stored = store.load_artifact(info.id, DATA_FINGERPRINT)
        if stored is None:  # a study made before fingerprints were kept: record the data from now on
            opening.fingerprint = fingerprint
        else:
            difference = fingerprint_difference(stored[1], fingerprint)
            if difference is not None:
                raise DataMismatch(
                    f"study {name!r} in {store.path or 'memory'} was made with other data: {difference}; "
                    "resume it on the data it was made with, or pick a new --study name"
                )
    return opening


def make_executor(evaluator: Evaluator, workers: int, max_retries: int = DEFAULT_MAX_RETRIES) -> Executor:
    """The local executor: one worker runs in-process; more run in a local process pool."""
    import pnas.execution.local  # noqa: F401  (registers it)

    return EXECUTORS.create("local", evaluator, workers=workers, max_retries=max_retries)


def optimize(
    strategy: Strategy,
    evaluator: Evaluator,
    *,
    storage: StudyStorage | str | None = None,
    study_name: str = "default",
    workers: int = 1,
    max_retries: int = DEFAULT_MAX_RETRIES,
    executor: Executor | None = None,
    reporter: Reporter | None = None,
    config: dict[str, Any] | None = None,
) -> Study:
    """Run the study to the end (or resume it), recording every result as it arrives.

    ``storage`` is a :class:`StudyStore`, a file path, or None for memory; a
    store opened here belongs to the returned study (close it, or use ``with``).
    Raises :class:`ConfigMismatch` when the stored study has other settings or
    data, :class:`pnas.storage.StudyLocked` when another process drives it.
    A finished study run again with the same settings writes nothing.
    """
    reporter = reporter or Reporter()
    evaluator.prepare()
    cost_model = evaluator.cost_model()
    strategy.use_cost_model(cost_model)
    strategy.use_probe(evaluator.probe())
    fingerprint = evaluator.data_fingerprint()
    own_store = not isinstance(storage, StudyStorage)
    store = StudyStore(storage) if own_store else storage
    try:
        existing = store.get_study(study_name)
        if existing is not None:  # "someone else is running it" is the first thing to know
            store.lock_study(existing.id, study_name)
        config = config or study_config(strategy, evaluator)
        opening = open_study(store, study_name, config, fingerprint=fingerprint)
        study = opening.study
        if strategy.goal.uses_costs and store.load_artifact(study.info.id, OBJECTIVES_ARTIFACT) is None:
            opening.objectives = objectives_record(strategy, cost_model)
        store.lock_study(study.info.id, study.name)
        strategy.artifacts = StudyArtifacts(store, study.info.id)
        provenance = _provenance(strategy, evaluator)
        reporter.study_started(study, opening.resumed)
        own_executor = executor is None
        executor = executor or make_executor(evaluator, workers, max_retries)
        streak = FailureStreak(executor.stop_after_failures)
        try:
            while True:
                batch = strategy.ask()
                if not batch:
                    break
                _run_batch(store, opening, strategy, batch, executor, reporter, provenance, streak)
                checkpoint("between_rounds")
            opening.finish(store, reporter)
        finally:
            if own_executor:
                executor.close()
            store.release_locks()
    except BaseException:
        if own_store:  # nobody gets a handle: do not leave the connection open
            store.close()
        raise
    study.owns_store = own_store
    return study


def objectives_record(strategy: Strategy, cost_model: Any) -> dict[str, Any]:
    """What a study records of its goal when created: its objectives, and the cost bounds its
    hypervolume is measured from (fixed from then on, so the hypervolume never falls)."""
    record: dict[str, Any] = {"objectives": list(strategy.goal.objectives), "reference": {}}
    if cost_model is not None:
        params, mult_adds = cost_model.bound(strategy.space.max_level)
        record["reference"] = {"params": int(params), "mult_adds": int(mult_adds)}
    return record


def _needs_training(trial: TrialRecord | None) -> bool:
    """Not finished, or failed only because the machinery failed (never final across a resume)."""
    if trial is None:
        return True
    return trial.status not in ("done", "failed") or is_machinery_failure(trial)


def is_machinery_failure(trial: TrialRecord) -> bool:
    """A child recorded failed because its worker died (or a node left), not because of the child."""
    return trial.status == "failed" and trial.extra.get("failure") == MACHINERY_FAILURE


def _run_batch(
    store: StudyStore,
    opening: _Opening,
    strategy: Strategy,
    batch: list[Proposal],
    executor: Executor,
    reporter: Reporter,
    provenance: dict[str, Any],
    streak: FailureStreak,
) -> None:
    study = opening.study
    space = strategy.space
    keys = [space.format(p.cell) for p in batch]
    known = {key: store.trial(study.info.id, key) for key in dict.fromkeys(keys)}
    jobs = [Job(key, proposal.cell) for key, proposal in dict(zip(keys, batch)).items() if _needs_training(known[key])]
    if jobs or any(trial is None for trial in known.values()):
        opening.start(store, reporter)
        store.add_proposals(study.info.id, [(k, p.round, p.predicted) for k, p in zip(keys, batch)])
        for job in jobs:
            trial = known[job.key]
            if trial is not None and is_machinery_failure(trial):
                store.retry_trial(study.info.id, job.key)
    reporter.batch_started(batch[0].round, len(batch), len(jobs))

    def on_event(key: str, event: dict[str, Any]) -> None:
        if event.get("type") == "start":
            store.mark_running(study.info.id, key, str(event.get("worker", "")))
        reporter.child_event(key, event)

    if jobs:
        outcomes = executor.run(jobs, on_event)
        try:
            for outcome in outcomes:
                _record(store, study, outcome, provenance)
                reporter.child_finished(outcome)
                if streak.add(outcome):
                    _stop_failing(store, study, streak)
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()  # stops the children still in flight when the run ends early
    for key, proposal in zip(keys, batch):
        trial = store.trial(study.info.id, key)
        assert trial is not None and trial.status in ("done", "failed"), f"{key} left unfinished"
        strategy.tell(proposal, _result_from_trial(trial))
    if jobs:
        reporter.batch_finished(study, batch[0].round)


def _stop_failing(store: StudyStore, study: Study, streak: FailureStreak) -> None:
    """Reopen the streak's children for the next run (they say nothing about their cells) and stop."""
    for key in streak.keys:
        store.mark_machinery_failure(study.info.id, key)
    raise ChildrenFailing(
        f"stopped: the first {len(streak.keys)} children all failed with the same error: {streak.error}; "
        "fix the cause and run the same command again (those children are trained again), "
        "or raise --stop-after-failures"
    )


def _record(store: StudyStore, study: Study, outcome: Outcome, provenance: dict[str, Any]) -> None:
    if outcome.result is not None:
        store.record_result(
            study.info.id,
            outcome.key,
            status="done",
            metrics=outcome.result.to_dict(),
            worker=outcome.worker,
            started=outcome.started,
            finished=outcome.finished,
            provenance=provenance,
        )
    else:
        store.record_result(
            study.info.id,
            outcome.key,
            status="failed",
            error=outcome.error or "unknown error",
            metrics={"extra": {"failure": MACHINERY_FAILURE}} if outcome.machinery else None,
            worker=outcome.worker,
            started=outcome.started,
            finished=outcome.finished,
            provenance=provenance,
        )


def _provenance(strategy: Strategy, evaluator: Evaluator) -> dict[str, Any]:
    import torch

    return {
        "pnas": __version__,
        "torch": torch.__version__,
        "strategy_seed": strategy.seed,
        "evaluator_seed": evaluator.config().get("seed"),
    }
