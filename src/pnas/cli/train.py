"""``pnas train``: a cell, a named network or a study's R-th best cell, trained at full size in a run folder."""

from __future__ import annotations

import dataclasses
import json
import signal
import statistics
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from pnas.cli.main import main
from pnas.cli.output import count, emit_json, err_console, fail
from pnas.cli.search import click_type
from pnas.config import option_specs
from pnas.evaluation.readers import DATASETS
from pnas.training.config import NetworkChoices, TrainConfig
from pnas.training.reporting import TrainReporter

MAX_REPEAT = 100


class EpochBars(TrainReporter):
    """A bar per epoch on stderr (loss, accuracy, images per second, ETA); one line per epoch in a log file."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.lines = not err_console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.4f}  {task.fields[speed]:.0f} img/s"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err_console,
            disable=self.lines,
        )
        self.task: Any = None

    def __enter__(self) -> EpochBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def message(self, text: str) -> None:
        self.progress.console.print(text, soft_wrap=True)

    def resumed(self, epoch: int, epochs: int) -> None:
        self.message(f"{self.label}resuming after epoch {epoch} of {epochs} (its checkpoint)")

    def extending(self, epochs: int, to: int) -> None:
        added = f"epoch {to} follows" if to == epochs + 1 else f"epochs {epochs + 1}-{to} follow"
        self.message(
            f"{self.label}training the run of {count(epochs, 'epoch')} on to {to}: {added} a new cosine from --lr "
            "(a warm restart); the test set is scored again at the end"
        )

    def epoch_started(self, epoch: int, epochs: int, steps: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(
            f"{self.label}epoch {epoch}/{epochs}", total=steps, loss=0.0, acc=0.0, speed=0.0
        )

    def step(self, step: int, loss: float, accuracy: float, images_per_second: float) -> None:
        self.progress.update(self.task, completed=step, loss=loss, acc=accuracy, speed=images_per_second)

    def epoch_ended(self, row: dict[str, Any]) -> None:
        if self.lines:
            val = "" if row["val_accuracy"] is None else f", validation {row['val_accuracy']:.4f}"
            self.message(
                f"{self.label}epoch {row['epoch']}: loss {row['train_loss']:.4f}, accuracy {row['train_accuracy']:.4f}"
                f"{val}, {row['images_per_second']:.0f} img/s, {row['seconds']:.1f} s"
            )

    def testing(self) -> None:
        self.message(f"{self.label}scoring the test set")


def _generated_options(command: Any) -> Any:
    """One flag per declared option of the protocol and of the network (their help, ranges and choices)."""
    specs = list(option_specs(TrainConfig).values()) + list(option_specs(NetworkChoices).values())
    for spec in reversed(specs):
        kind = click.Choice(DATASETS.names()) if spec.name == "dataset" else click_type(spec)
        default = "" if spec.default is None else f" [default: {spec.default}]"
        names = [f"--{spec.name.replace('_', '-')}"]
        if spec.name == "cells_per_stack":
            names.append("-N")
        if spec.name == "filters":
            names.append("-F")
        command = click.option(*names, spec.name, type=kind, default=None, help=f"{spec.help}{default}")(command)
    return command


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _summary(results: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    accuracies = [r["test_accuracy"] for r in results]
    first = results[0]
    return {
        "test_accuracy": statistics.fmean(accuracies),
        "test_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        "repeats": len(results),
        "seeds": seeds,
        "test_accuracies": accuracies,
        "epochs": first["epochs"],
        "params": first["params"],
        "mult_adds": first["mult_adds"],
        "seconds": round(sum(r["seconds"] for r in results), 3),
        "cell": first["cell"],
        "network": first["network"],
        "runs": [f"seed-{s}" for s in seeds],
    }


def _print_result(result: dict[str, Any], out: Path) -> None:
    if "repeats" in result:
        click.echo(
            f"test accuracy {result['test_accuracy']:.4f} +- {result['test_accuracy_std']:.4f} over "
            f"{result['repeats']} seeds ({', '.join(f'{a:.4f}' for a in result['test_accuracies'])})"
        )
    else:
        click.echo(f"test accuracy {result['test_accuracy']:.4f} after {count(result['epochs'], 'epoch')}")
    click.echo(
        f"{result['params']:,} parameters, {result['mult_adds']:,} mult-adds, {result['seconds']:.0f} s of training; "
        f"{result['cell']}"
    )
    click.echo(f"run folder: {out}")


@main.command()
@click.argument("target", required=False)
@click.option("--study", default=None, help="Train a cell of this study (with --storage and --rank).")
@click.option("--storage", default=None, help="The study file of --study (default: ./pnas-studies.db).")
@click.option(
    "--rank", type=click.IntRange(1), default=None, help="Which of the study's cells: 1 = the best. [default: 1]"
)
@click.option("--out", required=True, help="Run folder: created, or resumed when it holds this run.")
@click.option("--repeat", type=click.IntRange(1, MAX_REPEAT), default=1, show_default=True,
              help="Train this many seeds (seed, seed+1, ...), one run folder each under --out; report mean and std.")  # fmt: skip
@_generated_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object on stdout.")
def train(
    target: str | None, study: str | None, storage: str | None, rank: int | None, out: str, repeat: int,
    as_json: bool, **options: Any,
) -> None:  # fmt: skip
    """Train TARGET at full size: a cell's text, a named network (pnasnet5-cifar, pnasnet5-mobile,
    pnasnet5-large), or, with --study, a study's R-th best cell.

    Kill it at any moment and run the same command: it resumes from the last epoch's checkpoint.
    Run on a finished run folder, it prints the result; with a larger --epochs, it trains the run on
    (the added epochs follow a new cosine from --lr down to --lr-min, a warm restart) and scores it
    again. The test set is scored once, at the end, into OUT/result.json.
    """
    from pnas.training import RunFolder, TrainingFailed, make_spec, train_run
    from pnas.training.checkpoint import write_atomic

    signal.signal(signal.SIGTERM, _interrupt)
    source, study_config = _source(target, study, storage, rank)
    settings = {k: v for k, v in options.items() if v is not None}
    training_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    protocol = {k: v for k, v in settings.items() if k in training_keys}
    if study_config is not None:
        evaluator = study_config.get("evaluator") or {}
        if "dataset" in evaluator:  # else the study read no images: TrainConfig's own default
            protocol.setdefault("dataset", evaluator["dataset"])
        if evaluator.get("data_dir") and "data_dir" not in protocol:
            protocol["data_dir"] = evaluator["data_dir"]
    choices = NetworkChoices(**{k: v for k, v in settings.items() if k not in training_keys})
    folder = Path(out).expanduser()
    seeds = [protocol.get("seed", 0) + i for i in range(repeat)]
    try:
        base = TrainConfig(**protocol)
        if repeat > 1:
            _check_repeat_folder(folder)
        results = []
        for i, seed in enumerate(seeds):
            spec = make_spec(source, base.replace(seed=seed), choices)
            run = RunFolder(folder / f"seed-{seed}" if repeat > 1 else folder)
            label = f"seed {seed} ({i + 1}/{repeat}): " if repeat > 1 else ""
            with EpochBars(label) as bars:
                results.append(train_run(spec, run, bars))
        result = results[0] if repeat == 1 else _summary(results, seeds)
        if repeat > 1:
            text = json.dumps(result, indent=2).encode() + b"\n"
            write_atomic(folder / "result.json", lambda f: f.write(text))
    except KeyboardInterrupt:
        fail("stopped; every finished epoch is kept: run the same command to resume", code=130)
        return
    except (ValueError, TrainingFailed) as exc:  # RunError, CheckpointError, DatasetError: one line each
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return
    if as_json:
        emit_json(result)
    else:
        _print_result(result, folder)


def _source(
    target: str | None, study: str | None, storage: str | None, rank: int | None
) -> tuple[Any, dict[str, Any] | None]:
    """The cell or network name to train, and the study's configuration when it comes from one."""
    from pnas.nets.registry import NAMED_NETWORKS
    from pnas.search import DEFAULT_STORAGE
    from pnas.training import RunError, cell_from_study, parse_cell

    from_study = study is not None or storage is not None or rank is not None
    if target is not None and from_study:
        fail("give either TARGET (a cell or a network) or --study/--storage/--rank, not both")
    if target is None and not from_study:
        fail("nothing to train: give a cell's text, a network name, or --study NAME --storage FILE --rank R")
    if target is not None:
        name = target.strip()
        if name in NAMED_NETWORKS:
            return name, None
        try:
            return parse_cell(name), None
        except RunError as exc:
            fail(str(exc))
    try:
        cell, config = cell_from_study(storage or DEFAULT_STORAGE, study, rank or 1)
    except RunError as exc:
        fail(str(exc))
        raise
    return cell, config


def _check_repeat_folder(folder: Path) -> None:
    """A folder of repeats holds only its seed-N runs and their summary."""
    from pnas.training import RunError, RunFolder

    if folder.exists() and not folder.is_dir():
        raise RunError(f"--out {folder} is a file, not a folder")
    if folder.exists():
        if RunFolder(folder).is_run():
            raise RunError(f"--out {folder} holds a single run, not repeats: pick another --out for --repeat")
        others = [p.name for p in folder.iterdir() if not p.name.startswith("seed-") and p.name != "result.json"]
        if others:
            raise RunError(f"--out {folder} holds other files ({', '.join(sorted(others)[:3])}): pick a new folder")
