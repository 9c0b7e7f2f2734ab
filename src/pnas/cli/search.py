"""``pnas search``, ``pnas status`` and ``pnas best``: run a study, look at one."""

from __future__ import annotations

import signal
import time
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pnas.cli.main import main
from pnas.cli.output import count, emit_json, err_console, fail
from pnas.config import (
    SECTIONS,
    OptionSpec,
    base_type,
    check_sections,
    default_text,
    merge,
    parse_assignment,
    read_config_file,
    to_toml,
)
from pnas.evaluation.readers import DATASETS
from pnas.execution.base import ExecutorUnavailable, Outcome
from pnas.objectives import MEASURES, measured_values, parse_objectives
from pnas.search import (
    BUDGET_FLAT,
    DEFAULT_STORAGE,
    FLAT_ALIASES,
    SHARED_FLAGS,
    TRAINING_FLAGS,
    default_study_name,
    flag_declarations,
    flat_layer,
    printable_config,
    run_search,
    stored_config,
)
from pnas.storage.base import StoreError
from pnas.study import ChildrenFailing, Reporter, Study
from pnas.study.api import list_studies, load_study
from pnas.study.reading import trial_json


class ProgressReporter(Reporter):
    """What a search does, on stderr. On a terminal, a bar per round: children done of the round's,
    failed, pruned, the best accuracy so far, elapsed time and ETA,
    and the current child's epochs. In a log (stderr not a terminal), one line per finished child.
    Both say what happens before the first child: the data loading, the workers starting."""

    def __init__(self, enabled: bool = True, report: str | None = None) -> None:
        self.report = report
        self.reported = 0.0
        self.lines = not err_console.is_terminal
        self.round = 0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[tally]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err_console,
            disable=not enabled or self.lines,
            transient=False,
        )
        self.children_task: Any = None
        self.finished = self.total = self.failed = self.pruned = 0
        self.best: float | None = None
        self.goal: Any = None
        self.epoch_task: Any = None
        self.started = time.time()
        self.workers: dict[str, str] = {}
        """The worker (host:pid) of each child in flight."""
        self.starting: tuple[int, float] | None = None
        """Worker processes starting, and since when, until the first child starts."""

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def study_started(self, study: Study, resumed: bool) -> None:
        done = sum(t.status in ("done", "failed", "pruned") for t in study.trials())
        verb = (
            f"resuming study {study.name!r} ({count(done, 'child', 'children')} already recorded)"
            if resumed
            else f"new study {study.name!r}"
        )
        self.message(f"{verb} in {study.store.path or 'memory'}")
        self.goal = study.goal
        best = study.best(1)
        self.best = best[0].accuracy if best else None

    def batch_started(self, round_: int, total: int, todo: int) -> None:
        if self.epoch_task is not None:
            self.progress.remove_task(self.epoch_task)
            self.epoch_task = None
        if self.children_task is not None:
            self.progress.update(self.children_task, description=f"round {self.round}")
        self.round, self.finished, self.total, self.failed, self.pruned = round_, total - todo, total, 0, 0
        self.children_task = self.progress.add_task(
            f"round {round_}", total=total, completed=total - todo, tally=self._tally()
        )
        if self.lines:
            self.message(f"round {round_}: {count(total, 'child', 'children')}, {todo} to train")

    def _tally(self) -> str:
        best = "-" if self.best is None else f"{self.best:.4f}"
        return f"failed {self.failed}  pruned {self.pruned}  best {best}"

    def _in_flight(self) -> str:
        if self.starting is not None:
            return f"round {self.round} (starting {count(self.starting[0], 'worker')})"
        workers = sorted(set(self.workers.values()))
        shown = ", ".join(workers[:4]) + (f" and {len(workers) - 4} more" if len(workers) > 4 else "")
        return f"round {self.round}" + (f" (on {shown})" if workers else "")

    def child_event(self, key: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "workers":
            starting = int(event.get("starting", 0))
            self.starting = (starting, time.time())
            self.message(
                f"starting {count(starting, 'worker process', 'worker processes')} "
                "(each builds its evaluator and loads its data before its first child)..."
            )
        if kind == "start":
            if self.starting is not None:
                self.message(f"workers ready after {time.time() - self.starting[1]:.1f} s")
                self.starting = None
            self.workers[key] = str(event.get("worker", "?"))
        if kind in ("workers", "start") and self.children_task is not None:
            self.progress.update(self.children_task, description=self._in_flight())
        if kind == "progress" and "epochs" in event:
            if self.epoch_task is None:
                self.epoch_task = self.progress.add_task("  epoch of current child", total=event["epochs"], tally="")
            self.progress.update(self.epoch_task, total=event["epochs"], completed=event.get("epoch", 0))
        elif kind == "start" and self.epoch_task is not None:
            self.progress.update(self.epoch_task, completed=0)
        elif kind == "retry":
            self.workers.pop(key, None)
            self.message(f"[yellow]child retried[/] (attempt {event.get('attempt')}): {key}: {event.get('reason')}")

    def child_finished(self, outcome: Outcome) -> None:
        self.workers.pop(outcome.key, None)
        self.finished += 1
        result = outcome.result
        if outcome.error:
            self.failed += 1
        elif outcome.pruned is not None:
            self.pruned += 1  # its result holds only its costs so far: never a best
        elif result is not None and (self.goal is None or not self.goal.violations(measured_values(result))):
            self.best = result.accuracy if self.best is None else max(self.best, result.accuracy)
        if self.children_task is not None:
            self.progress.update(self.children_task, advance=1, description=self._in_flight(), tally=self._tally())
        if outcome.error:
            self.message(f"[yellow]child failed[/]: {outcome.key}: {outcome.error}")
        elif self.lines and outcome.pruned is not None:
            step, value = outcome.pruned
            self.message(f"round {self.round} child {self.finished}/{self.total}: pruned at step {step} "
                         f"(value {value:.4f}) on {outcome.worker}  {outcome.key}")  # fmt: skip
        elif self.lines and result is not None:
            elapsed = time.time() - self.started
            self.message(
                f"round {self.round} child {self.finished}/{self.total}: accuracy {result.accuracy:.4f} "
                f"in {result.seconds:.1f} s on {outcome.worker} ({elapsed:.0f} s elapsed)  {outcome.key}"
            )

    def message(self, text: str) -> None:
        self.progress.console.print(text, soft_wrap=True)

    REPORT_EVERY_SECONDS = 30.0
    """Batches of strategies without rounds can be small: their report is rewritten at most this often."""

    def batch_finished(self, study: Study, round_: int) -> None:
        if self.report and (study.rounds_are_levels or time.time() - self.reported >= self.REPORT_EVERY_SECONDS):
            self.write_report(study)

    def write_report(self, study: Study) -> None:
        """Rewrite the report from the driver's own handle; a failure to draw never stops the search."""
        from pnas.report.data import study_data
        from pnas.report.html import write_report

        assert self.report is not None
        try:
            write_report([study_data(study)], self.report)
        except Exception as exc:  # a report is a view: the search goes on without it
            self.message(f"[yellow]report not written[/]: {type(exc).__name__}: {exc}")
        self.reported = time.time()


def _interrupt(signum: int, frame: object) -> None:
    """`kill` (SIGTERM) stops a search as Ctrl-C does: workers stopped, everything recorded kept."""
    raise KeyboardInterrupt


def _read_study(storage: str, study: str | None) -> Study:
    """The named study, or the storage's only study, or the default search's study, opened for reading."""
    try:
        if study is None:
            names = list_studies(storage)
            study = names[0] if len(names) == 1 else default_study_name({})
        return load_study(study, storage)
    except StoreError as exc:
        fail(f"{exc}; pass --study NAME" if "no study named" in str(exc) else str(exc))
        raise  # unreachable


def _fraction_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def summary_json(study: Study, top: int = 5) -> dict[str, Any]:
    """The study's one JSON summary (:meth:`pnas.Study.summary`)."""
    return study.summary(top)


def _seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _trial_line(rank: int, t: dict[str, Any]) -> str:
    """One ranked cell. Every strategy's batches are called rounds (the progressive search's round b
    trains cells of b blocks)."""
    report = f"  report {t['report_accuracy']:.4f}" if t["report_accuracy"] is not None else ""
    return f"{rank:>3}. {t['accuracy']:.4f}{report}  [round {t['round']}]  {t['cell']}"


def print_summary(study: Study, top: int = 5) -> None:
    doc = summary_json(study, top)
    totals = doc["totals"]
    pruning = "pruner" in doc["config"] or totals["pruned"] > 0
    pruned = f"{totals['pruned']} pruned, " if pruning else ""
    click.echo(
        f"study {study.name!r} ({doc['state']}): {count(totals['models'], 'model')} trained, {totals['failed']} failed, "
        f"{pruned}{totals['pending']} pending; {count(totals['examples'], 'training example')}, "
        f"{totals['train_seconds']:.0f} s of training"
    )
    goal = study.goal
    if goal.multi or goal.limits:
        limits = ", ".join(f"{MEASURES[k]} <= {v:,}" for k, v in goal.limits.items()) or "none"
        click.echo(f"objectives: {', '.join(goal.objectives)}; limits: {limits}")
    multi, latency = goal.multi, goal.uses_latency
    timed = any(r["fit_seconds"] is not None for r in doc["rounds"])
    header = f"round  done  failed{'  pruned' if pruning else ''}  pending  best_acc  predictor_spearman"
    header += ("  hypervolume" if multi else "") + ("  latency_spearman" if latency else "")
    click.echo(header + ("  fit_s  rank_s" if timed else ""))
    for r in doc["rounds"]:
        volume = f"  {_fraction_text(r['hypervolume']):>11}" if multi else ""
        volume += f"  {_fraction_text(r['latency_spearman']):>16}" if latency else ""
        if timed:
            volume += f"  {_seconds_text(r['fit_seconds']):>5}  {_seconds_text(r['rank_seconds']):>6}"
        stopped = f"  {r['pruned']:>6}" if pruning else ""
        click.echo(
            f"{r['b']:>5}  {r['done']:>4}  {r['failed']:>6}{stopped}  {r['pending']:>7}  "
            f"{_fraction_text(r['best_accuracy']):>8}  "
            f"{_fraction_text(r['spearman']):>18}{volume}"
        )
    over = sum(r["over_limit"] for r in doc["rounds"])
    if over:
        click.echo(f"{count(over, 'trained cell')} broke a measured limit: recorded, never counted as results")
    click.echo("best cells (validation accuracy):")
    for i, t in enumerate(doc["top"], start=1):
        click.echo(_trial_line(i, t))
    if doc["running"]:
        click.echo("running now:")
    for r in doc["running"]:
        since = f" for {time.time() - r['started']:.0f} s" if r["started"] else ""
        click.echo(f"  on {r['worker'] or '?'}{since}  [round {r['round']}]  {r['cell']}")


OWN_FLAGS = frozenset({"study", "storage", "config", "set", "print_config", "top", "json", "report"})
"""The flags of ``pnas search`` itself: an option of that name is set with --set only."""

SHORT_FLAGS = {"blocks": "-B", "beam": "-K", "cells_per_stack": "-N", "filters": "-F"}
"""The one-letter names of the paper's symbols."""


def click_type(spec: OptionSpec) -> Any:
    """A click type with the option's range, so a bad value is refused naming its flag."""
    base = base_type(spec.type)
    if spec.choices:
        return click.Choice(list(spec.choices))
    if base is bool:
        return click.BOOL
    low, high = (spec.low, spec.high) if spec.above is None and spec.below is None else (spec.above, spec.below)
    if base is int:
        return click.IntRange(
            None if low is None else int(low), None if high is None else int(high),
            min_open=spec.above is not None, max_open=spec.below is not None,
        )  # fmt: skip
    if base is float:
        return click.FloatRange(low, high, min_open=spec.above is not None, max_open=spec.below is not None)
    return str


def _flag_type(name: str, specs: list[OptionSpec]) -> Any:
    """The click type of a flag: with the range and choices its options agree on, else just their type
    (the chosen component's own range is checked when the flags are routed)."""
    if name == "dataset":
        return click.Choice(DATASETS.names())
    first = specs[0]
    if all(_bounds(s) == _bounds(first) for s in specs):
        return click_type(first)
    types = {base_type(s.type) for s in specs}
    return types.pop() if len(types) == 1 and next(iter(types)) in (int, float, str) else str


def _bounds(spec: OptionSpec) -> tuple[Any, ...]:
    return spec.type, spec.low, spec.high, spec.above, spec.below, spec.choices


SHARED_HELP = {
    "seed": "Seed of every chosen component that has one.",
    "child_timeout": "Seconds after which a child is stopped and recorded failed, by every chosen component "
    "that has the option (the trainer at its next step, the executor by stopping the worker).",
}
"""The help of the flags that set every chosen component that declares them."""

HELP_FROM = ("evaluator", "space", "strategy", "executor", "pruner", "predictor")
"""Whose help text a flag shares by several sections shows (a training flag: the evaluator's)."""


def _flag_help(name: str, owners: list[tuple[str, Any]]) -> str:
    """One flag's help: what it does, which components have it, and its default: one, or each component's
    where they differ (``(strategy guided: default ei; strategy pnas: default mean)``)."""
    key = FLAT_ALIASES.get(name, (None, name))[1]
    owners = sorted(owners, key=lambda owner: HELP_FROM.index(owner[0]))  # the one whose help shows first
    spec = owners[0][1].specs[key]
    extra = " Also sets a baseline's default budget." if name in BUDGET_FLAT else ""
    text = spec.help
    if name in SHARED_FLAGS:
        text = SHARED_HELP.get(name, f"Sets {name} in every chosen component that has it: {spec.help}")
    defaults = {repr(component.specs[key].default) for _, component in owners}
    if len(defaults) == 1:
        default = "" if spec.default is None else f" [default: {default_text(spec.default)}]"
        sections: dict[str, list[str]] = {}
        for section, component in owners:
            sections.setdefault(section, []).append(component.name)
        where = "; ".join(f"{section}: {', '.join(names)}" for section, names in sections.items())
    else:
        default = ""
        groups: dict[tuple[str, str], list[str]] = {}
        for section, component in owners:
            groups.setdefault((section, default_text(component.specs[key].default)), []).append(component.name)
        where = "; ".join(
            f"{section} {', '.join(names)}: default {value}" for (section, value), names in groups.items()
        )
    if name in TRAINING_FLAGS and len({section for section, _ in owners}) > 1:
        where += "; the evaluator's where it has one" + (
            f", a predictor's only with --set predictor.{key}=VALUE" if any(s == "predictor" for s, _ in owners) else ""
        )
    return f"{text}{extra}{default} ({where})"


def _search_options(command: Any) -> Any:
    """The options of ``pnas search``, generated from the registries: one choice per section, one flag
    per option name that any registered component declares. The components are chosen after the
    flags are parsed (a --config file or a stored study may choose them): each flag then goes to the
    chosen components that declare it (:func:`pnas.search.route_flags`)."""
    from pnas.study import REGISTRIES

    declarations = flag_declarations()
    for name, owners in reversed(sorted(declarations.items(), key=lambda item: _flag_order(item[0]))):
        if name in OWN_FLAGS or not owners:  # a plugin's option named like one of the command's own is --set only
            continue
        key = FLAT_ALIASES.get(name, (None, name))[1]
        specs = [component.specs[key] for _, component in owners]
        names = [f"--{name.replace('_', '-')}", *([SHORT_FLAGS[name]] if name in SHORT_FLAGS else [])]
        # a true/false option alone means true (--measure-latency); it still takes a value (--compile false)
        flag: dict[str, Any] = {"is_flag": False, "flag_value": True} if base_type(specs[0].type) is bool else {}
        kind = _flag_type(name, specs)
        command = click.option(*names, name, type=kind, default=None, help=_flag_help(name, owners), **flag)(command)
    for section in reversed(SECTIONS):
        registry = REGISTRIES[section]
        command = click.option(
            f"--{section}", type=click.Choice(registry.names()), default=None,
            help=f"The {registry.kind}: " + "; ".join(f"{c.name} = {c.help.rstrip('.')}" for c in registry.components()),
        )(command)  # fmt: skip
    return command


def _flag_order(name: str) -> tuple[int, str]:
    """The paper's symbols first (-B, -K), then alphabetical."""
    return (0 if name in SHORT_FLAGS else 1, name)


def _config_layers(config_file: str | None, sets: tuple[str, ...]) -> list[dict[str, dict[str, Any]]]:
    layers: list[dict[str, dict[str, Any]]] = []
    if config_file is not None:
        layers.append(read_config_file(config_file, "--config"))
        check_sections(layers[0], config_file)
    overrides: dict[str, dict[str, Any]] = {}
    for text in sets:
        section, key, value = parse_assignment(text)
        overrides.setdefault(section, {})[key] = value
    check_sections(overrides, "--set")
    layers.append(overrides)
    return layers


def _print_stored_config(storage: str, study: str) -> None:
    handle = _read_study(storage, study)
    click.echo(to_toml(handle.config), nl=False)


@main.command()
@click.option("--study", default=None, help="Study name (default: derived from space, data set and strategy).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="SQLite study file; created if missing.")
@click.option(
    "--config", "config_file", default=None, help="A TOML file with the nested configuration (see --print-config)."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Set one option, e.g. strategy.population=40 (repeatable; flags win over it, it wins over --config).",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the resolved configuration as TOML and exit; with only --study/--storage, a stored study's.",
)
@click.option("--top", type=click.IntRange(1), default=5, show_default=True, help="Best cells printed at the end.")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as one JSON object.")
@click.option("--report", "report_dir", default=None, metavar="DIR",
              help="Write the study's report (pnas report) into DIR after every round and at the end.")  # fmt: skip
@_search_options
def search(
    study: str | None, storage: str, config_file: str | None, sets: tuple[str, ...], print_config: bool,
    as_json: bool, top: int, report_dir: str | None, **flat: Any,
) -> None:  # fmt: skip
    """Run a search, or resume it: the same command continues a stopped study and reports a finished one.

    Options come from the registered components (`pnas list`); an option that the chosen components do
    not have is an error. A flag sets the chosen component that declares it (--seed and --child-timeout:
    every one); the training flags (--epochs, --lr, --weight-decay, --batch-size, --threads) are the
    evaluator's, a predictor's is set with --set predictor.epochs=N; a flag several chosen components
    declare is refused, naming their --set keys. Options left unset on resume keep the study's stored values.
    """
    try:
        layers = _config_layers(config_file, sets)
        layer, origin = flat_layer(flat)
        layers.append(layer)
        if print_config:
            given = any(layer for layer in layers)
            if not given and study is not None:
                _print_stored_config(storage, study)
                return
            name = study or default_study_name(merge(*layers))
            stored = stored_config(storage, name)
            printed = printable_config(layers, stored=stored, name=name, origin=origin)
            click.echo(to_toml(printed.config, printed.derived), nl=False)
            return
    except (ValueError, StoreError) as exc:  # ConfigError, and what the components refuse when built
        fail(str(exc))
        return
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ProgressReporter(report=report_dir) as reporter:
            result = run_search(storage=storage, study=study, reporter=reporter, layers=layers, origin=origin)
            if report_dir:
                reporter.write_report(result)
        if as_json:
            emit_json(summary_json(result, top))
        else:
            print_summary(result, top)
    except KeyboardInterrupt:
        err_console.print("interrupted: everything finished so far is saved; run the same command to resume")
        raise SystemExit(130) from None
    except (ValueError, StoreError, OSError, ChildrenFailing, ExecutorUnavailable) as exc:
        fail(str(exc))


@main.command()
@click.option("--study", default=None, help="Study name (default: the storage's only study, or the default search's).")
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(study: str | None, storage: str, as_json: bool) -> None:
    """Per round: children done, failed, pending; best accuracy; the predictor's Spearman."""
    handle = _read_study(storage, study)
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
@click.option(
    "--top", type=click.IntRange(1), default=None, help="Rows listed. [default: 5; with --pareto, the whole front]"
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, best first.")
@click.option(
    "--pareto",
    is_flag=True,
    help="The Pareto front on the study's objectives instead: one row per distinct point, with how many "
    "cells share it.",
)
@click.option(
    "--objectives",
    default=None,
    metavar="LIST",
    help="With --pareto: the objectives to compare on, e.g. accuracy,mult_adds "
    "(default: the study's; for a study of accuracy alone, accuracy,params).",
)
def best(study: str | None, storage: str, top: int | None, as_json: bool, pareto: bool, objectives: str | None) -> None:
    """The best trained cells of a study, by validation accuracy; with --pareto, its Pareto front.

    Cells over one of the study's limits are never listed. On the front, cells with the same objective
    values (cells that build the same network) are one row: the first trained, and how many share it."""
    if objectives is not None and not pareto:
        fail("--objectives goes with --pareto")
    handle = _read_study(storage, study)
    more = 0
    try:
        if pareto:
            points = handle.pareto_points(parse_objectives(objectives) if objectives else None)
            more = max(0, len(points) - top) if top is not None else 0
            rows = [_point_json(cells) for cells in points[:top]]
        else:
            rows = [trial_json(t) for t in handle.best(top or 5)]
    except (StoreError, ValueError) as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"study {handle.name!r} has no trained cell yet")
    for i, t in enumerate(rows, start=1):
        click.echo(_trial_line(i, t) + (_costs_text(t) if pareto else ""))
    if more:
        click.echo(f"{count(more, 'more point')} on the front: raise --top to list them")


def _point_json(cells: list[Any]) -> dict[str, Any]:
    """One point of a Pareto front: its first cell's row, how many cells share the point, the others."""
    return {**trial_json(cells[0]), "shared_by": len(cells), "same_point": [t.cell for t in cells[1:]]}


def _costs_text(row: dict[str, Any]) -> str:
    parts = [f"{row[k]:,} {k}" for k in ("params", "mult_adds") if row.get(k) is not None]
    if row.get("latency_ms") is not None:
        parts.append(f"{row['latency_ms']:.2f} ms")
    if row.get("shared_by", 1) > 1:
        parts.append(f"{count(row['shared_by'] - 1, 'other cell')} at this point")
    return f"  ({', '.join(parts)})" if parts else ""
