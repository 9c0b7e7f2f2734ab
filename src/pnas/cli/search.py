"""``pnas search``, ``pnas status`` and ``pnas best``: run a study, look at one."""

from __future__ import annotations

import signal
import time
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pnas.cli.main import main
from pnas.cli.output import emit_json, err_console, fail
from pnas.execution.base import DEFAULT_MAX_RETRIES, Outcome
from pnas.limits import MAX_BATCH_SIZE, MAX_CELLS_PER_STACK, MAX_EPOCHS, MAX_FILTERS, MAX_IMAGE_SIZE
from pnas.search import DEFAULT_BEAM, DEFAULT_BLOCKS, DEFAULT_STORAGE, SearchConfig, run_search
from pnas.storage.sqlite import StoreError, StudyStore
from pnas.study import Reporter, Study

TRAINER_OPTIONS = ("image_size", "epochs", "train_subset", "val_size", "cells_per_stack", "filters", "batch_size", "lr")


class ProgressReporter(Reporter):
    """Bars on stderr: round, child i of K, the current child's epoch, elapsed and ETA.

    When stderr is not a terminal (a log file), one line per finished child instead.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.lines = not err_console.is_terminal
        self.round = 0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err_console,
            disable=not enabled or self.lines,
            transient=False,
        )
        self.children_task: Any = None
        self.finished = self.total = 0
        self.epoch_task: Any = None
        self.started = time.time()

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def study_started(self, study: Study, resumed: bool) -> None:
        done = sum(t.status in ("done", "failed") for t in study.trials())
        verb = (
            f"resuming study {study.name!r} ({done} children already recorded)"
            if resumed
            else f"new study {study.name!r}"
        )
        self.message(f"{verb} in {study.store.path or 'memory'}")

    def batch_started(self, round_: int, total: int, todo: int) -> None:
        if self.epoch_task is not None:
            self.progress.remove_task(self.epoch_task)
            self.epoch_task = None
        self.children_task = self.progress.add_task(f"round {round_}: children", total=total, completed=total - todo)
        self.round, self.finished, self.total = round_, total - todo, total
        if self.lines:
            self.message(f"round {round_}: {total} children, {todo} to train")

    def child_event(self, key: str, event: dict[str, Any]) -> None:
        if event.get("type") == "progress" and "epochs" in event:
            if self.epoch_task is None:
                self.epoch_task = self.progress.add_task("  epoch of current child", total=event["epochs"])
            self.progress.update(self.epoch_task, total=event["epochs"], completed=event.get("epoch", 0))
        elif event.get("type") == "start" and self.epoch_task is not None:
            self.progress.update(self.epoch_task, completed=0)
        elif event.get("type") == "retry":
            self.message(f"[yellow]child retried[/] (attempt {event.get('attempt')}): {key}: {event.get('reason')}")

    def child_finished(self, outcome: Outcome) -> None:
        if self.children_task is not None:
            self.progress.advance(self.children_task)
        self.finished += 1
        if outcome.error:
            self.message(f"[yellow]child failed[/]: {outcome.key}: {outcome.error}")
        elif self.lines and outcome.result is not None:
            elapsed = time.time() - self.started
            self.message(
                f"round {self.round} child {self.finished}/{self.total}: accuracy {outcome.result.accuracy:.4f} "
                f"in {outcome.result.seconds:.1f} s ({elapsed:.0f} s elapsed)  {outcome.key}"
            )

    def message(self, text: str) -> None:
        self.progress.console.print(text, soft_wrap=True)


def _interrupt(signum: int, frame: object) -> None:
    """`kill` (SIGTERM) stops a search as Ctrl-C does: workers stopped, everything recorded kept."""
    raise KeyboardInterrupt


def _open_store(storage: str, create: bool = True) -> StudyStore:
    try:
        return StudyStore(storage, create=create)
    except StoreError as exc:
        fail(str(exc))
        raise  # unreachable


def _resolve_study(store: StudyStore, study: str | None) -> Study:
    """The named study, or the storage's only study, or the default search's study."""
    try:
        studies = store.list_studies()
    except StoreError as exc:
        fail(str(exc))
        raise
    if study is None:
        if len(studies) == 1:
            return Study(store, studies[0])
        study = SearchConfig().default_study_name()
    try:
        return Study.load(store, study)
    except StoreError as exc:
        fail(f"{exc}; pass --study NAME")
        raise


def _fraction_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def summary_json(study: Study, top: int = 5) -> dict[str, Any]:
    best = study.best(1)
    return {
        "study": study.name,
        "storage": str(study.store.path) if study.store.path else None,
        "state": study.state,
        "config": study.config,
        "rounds": [r.to_json() for r in study.rounds()],
        "best": _trial_json(best[0]) if best else None,
        "top": [_trial_json(t) for t in study.best(top)],
        "totals": study.totals(),
    }


def _trial_json(trial: Any) -> dict[str, Any]:
    return {
        "cell": trial.cell,
        "accuracy": trial.accuracy,
        "report_accuracy": trial.report_accuracy,
        "round": trial.round,
        "predicted": trial.predicted,
        "params": trial.params,
        "mult_adds": trial.mult_adds,
        "examples": trial.examples,
        "seconds": trial.seconds,
    }


def _round_label(study: Study) -> str:
    """Progressive rounds are block counts; other strategies' rounds are batches."""
    return "b" if study.config.get("strategy", {}).get("name") == "pnas" else "batch"


def _trial_line(rank: int, t: dict[str, Any], label: str) -> str:
    report = f"  report {t['report_accuracy']:.4f}" if t["report_accuracy"] is not None else ""
    return f"{rank:>3}. {t['accuracy']:.4f}{report}  [{label}={t['round']}]  {t['cell']}"


def print_summary(study: Study, top: int = 5) -> None:
    doc = summary_json(study, top)
    label = _round_label(study)
    totals = doc["totals"]
    click.echo(
        f"study {study.name!r} ({doc['state']}): {totals['models']} models trained, {totals['failed']} failed, "
        f"{totals['pending']} pending; {totals['examples']:,} training examples, {totals['train_seconds']:.0f} s of training"
    )
    click.echo(f"{label:>5}  done  failed  pending  best_acc  predictor_spearman")
    for r in doc["rounds"]:
        click.echo(
            f"{r['b']:>5}  {r['done']:>4}  {r['failed']:>6}  {r['pending']:>7}  {_fraction_text(r['best_accuracy']):>8}  "
            f"{_fraction_text(r['spearman']):>18}"
        )
    click.echo("best cells (validation accuracy):")
    for i, t in enumerate(doc["top"], start=1):
        click.echo(_trial_line(i, t, label))


@main.command()
@click.option("--study", default=None, help="Study name (default: derived from space, data set and strategy).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="SQLite study file; created if missing.")
@click.option("--space", type=click.Choice(["pnas", "nb201"]), default="pnas", show_default=True, help="Search space.")
@click.option(
    "--strategy",
    type=click.Choice(["pnas", "random", "evolution", "reinforce"]),
    default="pnas",
    show_default=True,
    help="pnas = progressive search; the others are baselines with a --budget of trained models.",
)
@click.option(
    "--evaluator",
    type=click.Choice(["train", "table", "synthetic"]),
    default=None,
    help="train = real child training; table = look-up in a benchmark table (default for nb201); synthetic = an instant deterministic stand-in for dry runs.",
)
@click.option(
    "--blocks", "-B", type=click.IntRange(1, 10), default=DEFAULT_BLOCKS, show_default=True, help="Blocks per cell (B)."
)
@click.option(
    "--beam",
    "-K",
    type=click.IntRange(1),
    default=DEFAULT_BEAM,
    show_default=True,
    help="Children trained per round (K).",
)
@click.option(
    "--predictor",
    default="mlp",
    show_default=True,
    help="Surrogate: lstm, mlp, random (a control), or a registered name.",
)
@click.option("--ensemble", type=click.IntRange(1), default=5, show_default=True, help="Predictor ensemble size.")
@click.option(
    "--budget",
    type=click.IntRange(1),
    default=None,
    help="Models to train (random/evolution/reinforce); default: as many as the progressive search with the same --blocks/--beam. "
    "On resume, --budget/--population/--sample/--batch left unset keep the study's stored values.",
)
@click.option(
    "--population",
    type=click.IntRange(2),
    default=None,
    help="Evolution: population size (default: a quarter of the budget, between 4 and 100).",
)
@click.option(
    "--sample",
    type=click.IntRange(1),
    default=None,
    help="Evolution: tournament sample size (default: a quarter of the population, at least 2).",
)
@click.option(
    "--batch",
    type=click.IntRange(1),
    default=None,
    help="random/evolution/reinforce: cells proposed at once (default: one per worker; whole budget for random).",
)
@click.option(
    "--dataset", default="fashion-mnist", show_default=True, help="fashion-mnist, cifar10, cifar100 or folder."
)
@click.option("--data-dir", default=None, help="Where the data set lives (also $PNAS_DATA_DIR).")
@click.option(
    "--image-size",
    type=click.IntRange(4, MAX_IMAGE_SIZE),
    default=None,
    help="Resize images to this many pixels (default: the proxy's).",
)
@click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS), default=None, help="Epochs per child.")
@click.option("--train-subset", type=click.IntRange(1), default=None, help="Training images per child.")
@click.option(
    "--val-size", type=click.IntRange(1), default=None, help="Validation images, held out from the training set."
)
@click.option(
    "--cells-per-stack", "-N", type=click.IntRange(1, MAX_CELLS_PER_STACK), default=None, help="Cells per stack (N)."
)
@click.option(
    "--filters", "-F", type=click.IntRange(2, MAX_FILTERS), default=None, help="Filters in the first stack (F)."
)
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=None, help="Training batch size.")
@click.option(
    "--lr", type=click.FloatRange(0, 100, min_open=True), default=None, help="Initial learning rate (cosine schedule)."
)
@click.option(
    "--table",
    default=None,
    help="Table evaluator: CSV with cellstr and metric columns (default: the shipped NAS-Bench-201 table).",
)
@click.option("--metric", default="cifar10-val", show_default=True, help="Table column searched on.")
@click.option("--report-metric", default="cifar10-test", show_default=True, help="Table column kept for reporting.")
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="Children trained at once, each in its own process; 1 = in this process. Default: one per GPU, else one per CPU core.",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option(
    "--child-timeout",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Seconds after which a child is recorded as failed.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(0, 100),
    default=DEFAULT_MAX_RETRIES,
    show_default=True,
    help="Times a child whose worker process died (killed, out of memory) is trained again before it is "
    "recorded failed; such children are also trained again when the study resumes.",
)
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True)
@click.option("--top", type=click.IntRange(1), default=5, show_default=True, help="Best cells printed at the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as one JSON object.")
def search(study: str | None, storage: str, as_json: bool, top: int, **options: Any) -> None:
    """Run a search, or resume it: the same command continues a stopped study and reports a finished one."""
    trainer = {k: options.pop(k) for k in TRAINER_OPTIONS}
    config = SearchConfig(trainer=trainer, **options)
    store = _open_store(storage)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ProgressReporter() as reporter:
            result = run_search(config, storage=store, study=study, reporter=reporter)
        if as_json:
            emit_json(summary_json(result, top))
        else:
            print_summary(result, top)
    except KeyboardInterrupt:
        err_console.print("interrupted: everything finished so far is saved; run the same command to resume")
        raise SystemExit(130) from None
    except (ValueError, StoreError, OSError) as exc:
        fail(str(exc))


@main.command()
@click.option("--study", default=None, help="Study name (default: the storage's only study, or the default search's).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(study: str | None, storage: str, as_json: bool) -> None:
    """Per round: children done, failed, pending; best accuracy; the predictor's Spearman."""
    handle = _resolve_study(_open_store(storage, create=False), study)
    try:
        if as_json:
            emit_json(summary_json(handle))
        else:
            print_summary(handle)
    except StoreError as exc:
        fail(str(exc))


@main.command()
@click.option("--study", default=None, help="Study name (default: the storage's only study, or the default search's).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
@click.option("--top", type=click.IntRange(1), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, best first.")
def best(study: str | None, storage: str, top: int, as_json: bool) -> None:
    """The best trained cells of a study, by validation accuracy."""
    handle = _resolve_study(_open_store(storage, create=False), study)
    try:
        rows = [_trial_json(t) for t in handle.best(top)]
        label = _round_label(handle)
    except StoreError as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"study {handle.name!r} has no trained cell yet")
    for i, t in enumerate(rows, start=1):
        click.echo(_trial_line(i, t, label))
