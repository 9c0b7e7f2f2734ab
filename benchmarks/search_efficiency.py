"""How many trained models does each search strategy need? Every strategy on NAS-Bench-201.

The paper's central claim is efficiency: at equal search space, the
progressive search needs several times fewer trained models than RL-based
NAS and beats random search (docs/paper.md, section 6). Here every strategy searches
the NAS-Bench-201 space with the table evaluator: it is told each cell's
validation accuracy (``--metric``, default ``cifar10-val``), and after every
trained model we note the cell it would pick (the best by validation so far,
earliest on ties) and that cell's test accuracy (``--report-metric``, default
``cifar10-test``), which no strategy ever sees.

Reported over ``--seeds`` seeds (default 20): mean and standard deviation of
the picked cell's test accuracy as a function of the number of trained
models; how many models each needs until the picked cell is in the table's
top 1% and top 0.1% by test accuracy (mean over the seeds that get there,
and the fraction that do); and, as in the paper's comparison, how many
models each strategy needs on average to match the progressive search's
final mean test accuracy.

Contenders: random search, regularized evolution and REINFORCE with
``--budget`` models (default: as many as the widest progressive search);
the progressive search at each of ``--beams`` (the widest is ``pnas``, the
others ``pnas_beam{K}``), with the learned predictor (``--predictor``,
``--ensemble``, ``--epochs``: chosen so the run fits in 10 minutes on 2
cores), the same with the LSTM predictor (``pnas_lstm``), and two controls
at the widest beam: a predictor that scores at random
(``pnas_random_predictor``: what the search gets from its structure alone)
and one that knows the table's validation accuracy (``pnas_oracle_predictor``:
the best any predictor could do within the progressive scheme).

    python benchmarks/search_efficiency.py [--json] [--seeds 20] [--workers 2]
    python benchmarks/search_efficiency.py --table my.csv --metric val --report-metric test

Prints a table (to stderr with ``--json``), saves a plot (``--plot``), and
with ``--json`` prints one JSON object on stdout: for each strategy key
``best_test_at_budget``, ``models_to_top1pct``, ``reached_top1pct`` and more.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pnas.evaluation.table import TableEvaluator
from pnas.space import Nb201Space

DEFAULT_PLOT = Path(__file__).resolve().parent / "out" / "search_efficiency.png"
ORACLE = "table-oracle"


@dataclass(frozen=True)
class Contender:
    """One strategy configuration, run once per seed."""

    key: str
    strategy: str
    options: dict[str, Any] = field(default_factory=dict)
    cost: float = 1.0
    """Rough relative run time, so the slowest jobs start first."""


@dataclass(frozen=True)
class Settings:
    table: str | None
    metric: str
    report_metric: str
    seeds: int
    beams: tuple[int, ...]
    budget: int
    predictor: str
    ensemble: int
    epochs: int
    lstm: bool


def progressive_models(beam: int, space: Nb201Space) -> int:
    """Models a progressive search trains on NB201: every level-1 cell, then ``beam`` per level."""
    return len(space.initial_cells()) + beam * (space.max_level - 1)


def contenders(settings: Settings) -> list[Contender]:
    widest = max(settings.beams)
    learned = {
        "predictor": settings.predictor,
        "ensemble": settings.ensemble,
        "predictor_options": {"epochs": settings.epochs},
    }
    out = [
        Contender("random", "random", {"budget": settings.budget}, 0.1),
        Contender("evolution", "evolution", {"budget": settings.budget}, 0.1),
        Contender("reinforce", "reinforce", {"budget": settings.budget}, 3.0),
    ]
    for beam in sorted(settings.beams, reverse=True):
        key = "pnas" if beam == widest else f"pnas_beam{beam}"
        out.append(Contender(key, "pnas", {"beam": beam, **learned}, beam / 8))
    if settings.lstm and settings.predictor != "lstm":
        out.append(Contender("pnas_lstm", "pnas", {**learned, "beam": widest, "predictor": "lstm"}, widest / 2))
    out.append(Contender("pnas_random_predictor", "pnas", {"beam": widest, "predictor": "random", "ensemble": 1}, 0.5))
    oracle_options = {"table": settings.table, "metric": settings.metric}
    out.append(
        Contender(
            "pnas_oracle_predictor",
            "pnas",
            {"beam": widest, "predictor": ORACLE, "ensemble": 1, "predictor_options": oracle_options},
            0.5,
        )
    )
    return out


class TableOracle:
    """A 'predictor' that answers with the table's own validation accuracy: the ceiling for predictors."""

    def __init__(
        self, space, *, seed: int = 0, ensemble: int = 1, table: str | None = None, metric: str = "cifar10-val"
    ) -> None:
        self.values = TableEvaluator(table=table, metric=metric, report_metric=None).table.fractions(metric)

    def fit(self, cells, accuracies) -> None:
        """Nothing to learn."""

    def predict(self, cells) -> np.ndarray:
        return np.array([self.values.get(cell, 0.0) for cell in cells], dtype=np.float64)


def run_job(job: tuple[Contender, int, Settings]) -> dict[str, Any]:
    """One strategy, one seed: validation and test accuracy of every trained cell, in order."""
    contender, seed, settings = job
    import torch

    from pnas.predictors import PREDICTORS
    from pnas.strategies import STRATEGIES

    torch.set_num_threads(1)  # one job per core; tiny tensors gain nothing from more threads
    if ORACLE not in PREDICTORS:
        PREDICTORS.register(ORACLE, TableOracle)
    evaluator = TableEvaluator(table=settings.table, metric=settings.metric, report_metric=settings.report_metric)
    strategy = STRATEGIES.create(contender.strategy, Nb201Space(), seed=seed, **contender.options)
    started = time.perf_counter()
    val: list[float] = []
    test: list[float] = []
    while proposals := strategy.ask():
        for proposal in proposals:
            try:
                result = evaluator.evaluate(proposal.cell)
            except ValueError:  # a cell the table lacks: a failed child, as in a study
                result = None
            if result is not None:
                val.append(result.accuracy)
                test.append(math.nan if result.report_accuracy is None else result.report_accuracy)
            else:
                val.append(-math.inf)
                test.append(math.nan)
            strategy.tell(proposal, result)
    return {"key": contender.key, "seed": seed, "val": val, "test": test, "seconds": time.perf_counter() - started}


def picked_test_curve(val: list[float], test: list[float], length: int) -> np.ndarray:
    """Test accuracy of the best-by-validation cell after each model (held after the run ends)."""
    curve = np.full(length, np.nan)
    best_val, best_test = -math.inf, math.nan
    for i in range(length):
        if i < len(val) and val[i] > best_val:
            best_val, best_test = val[i], test[i]
        curve[i] = best_test
    return curve


def models_until(curve: np.ndarray, threshold: float, models: int) -> int | None:
    """Trained models until the picked cell's test accuracy reaches ``threshold`` (None: never)."""
    hits = np.nonzero(curve[:models] >= threshold)[0]
    return int(hits[0]) + 1 if len(hits) else None


def top_threshold(values: np.ndarray, fraction: float) -> float:
    """Test accuracy of the ceil(fraction x N)-th best cell: at or above it is the top ``fraction``."""
    ordered = np.sort(values)[::-1]
    return float(ordered[max(1, math.ceil(fraction * len(ordered))) - 1])


def mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarize(runs: list[dict[str, Any]], length: int, thresholds: dict[str, float]) -> dict[str, Any]:
    curves = np.stack([picked_test_curve(r["val"], r["test"], length) for r in runs])
    models = [len(r["val"]) for r in runs]
    final = np.array([curve[m - 1] for curve, m in zip(curves, models)])
    best_val = [max(r["val"]) for r in runs]
    entry: dict[str, Any] = {
        "models": int(round(np.mean(models))),
        "best_test_at_budget": float(np.nanmean(final)),
        "best_test_at_budget_std": float(np.nanstd(final)),
        "best_val_at_budget": float(np.mean(best_val)),
        "seconds_per_seed": float(np.mean([r["seconds"] for r in runs])),
    }
    for name, threshold in thresholds.items():
        reached = [models_until(curve, threshold, m) for curve, m in zip(curves, models)]
        hits = [n for n in reached if n is not None]
        entry[f"models_to_{name}"] = mean_or_none(hits)
        entry[f"reached_{name}"] = len(hits) / len(runs)
    with np.errstate(all="ignore"):
        entry["curve_mean"] = [round(float(v), 6) for v in np.nanmean(curves, axis=0)]
        entry["curve_std"] = [round(float(v), 6) for v in np.nanstd(curves, axis=0)]
    return entry


def models_to_match(curve_mean: list[float], target: float) -> int | None:
    """Models until a mean curve reaches ``target`` (the paper's 'models to match PNAS')."""
    for i, value in enumerate(curve_mean):
        if value >= target - 1e-12:
            return i + 1
    return None


def fmt(value: float | None, scale: float = 100.0, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * scale:.{digits}f}"


def print_table(result: dict[str, Any], keys: list[str], checkpoints: list[int], stream) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title="Test accuracy (%) of the picked cell, NAS-Bench-201 "
        f"({result['settings']['report_metric']}), mean ± std over {result['settings']['seeds']} seeds"
    )
    table.add_column("strategy")
    table.add_column("models", justify="right")
    for m in checkpoints:
        table.add_column(f"@{m}", justify="right")
    table.add_column("top 1%: models (reached)", justify="right")
    table.add_column("top 0.1%: models (reached)", justify="right")
    table.add_column("to match pnas", justify="right")
    table.add_column("s/seed", justify="right")
    for key in keys:
        e = result[key]
        cells = [key, str(e["models"])]
        for m in checkpoints:
            cells.append(f"{fmt(e['curve_mean'][m - 1])} ± {fmt(e['curve_std'][m - 1])}" if m <= e["models"] else "")
        for name in ("top1pct", "top01pct"):
            cells.append(f"{fmt(e[f'models_to_{name}'], 1, 0)} ({e[f'reached_{name}']:.0%})")
        match = result["comparison"]["models_to_match_pnas"].get(key)
        cells.append("-" if match is None else str(match))
        cells.append(f"{e['seconds_per_seed']:.2f}")
        table.add_row(*cells)
    console = Console(file=stream, width=200)
    console.print(table)
    t = result["thresholds"]
    console.print(
        f"top 1% = test >= {fmt(t['top1pct'])}, top 0.1% = test >= {fmt(t['top01pct'])}, "
        f"table best {fmt(t['best'])}; pnas ends at {fmt(result['comparison']['pnas_final_test'])}; "
        f"{result['settings']['note']}; wall time {result['wall_seconds']:.0f} s"
    )


def plot(result: dict[str, Any], keys: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for key in keys:
        e = result[key]
        mean = np.array(e["curve_mean"][: e["models"]]) * 100
        std = np.array(e["curve_std"][: e["models"]]) * 100
        x = np.arange(1, len(mean) + 1)
        style = "--" if key.startswith("pnas_") and "predictor" in key else "-"
        (line,) = ax.plot(x, mean, style, label=f"{key} ({e['best_test_at_budget'] * 100:.2f})")
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.08)
    for name, label in (("top1pct", "top 1%"), ("top01pct", "top 0.1%")):
        ax.axhline(result["thresholds"][name] * 100, color="grey", linewidth=0.8, linestyle=":")
        ax.text(1, result["thresholds"][name] * 100, label, color="grey", va="bottom", fontsize=8)
    settings = result["settings"]
    ax.set_ylim(max(80.0, ax.get_ylim()[0]), result["thresholds"]["best"] * 100 + 0.3)
    ax.set_xlabel("trained models")
    ax.set_ylabel(f"test accuracy of the picked cell (%), {settings['report_metric']}")
    ax.set_title(f"NAS-Bench-201: search efficiency, mean ± std over {settings['seeds']} seeds")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(settings: Settings, workers: int, log) -> dict[str, Any]:
    space = Nb201Space()
    evaluator = TableEvaluator(table=settings.table, metric=settings.metric, report_metric=settings.report_metric)
    tests = np.array(list(evaluator.table.fractions(settings.report_metric).values()))
    thresholds = {"top1pct": top_threshold(tests, 0.01), "top01pct": top_threshold(tests, 0.001)}
    chosen = contenders(settings)
    jobs = sorted(((c, seed, settings) for c in chosen for seed in range(settings.seeds)), key=lambda job: -job[0].cost)
    started = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in chosen}
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for i, outcome in enumerate(pool.imap_unordered(run_job, jobs), start=1):
                runs[outcome["key"]].append(outcome)
                if i % 20 == 0 or i == len(jobs):
                    print(f"  {i}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", file=log, flush=True)
    else:
        for i, job in enumerate(jobs, start=1):
            outcome = run_job(job)
            runs[outcome["key"]].append(outcome)
            if i % 20 == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", file=log, flush=True)
    length = max(len(r["val"]) for rs in runs.values() for r in rs)
    result: dict[str, Any] = {}
    for c in chosen:
        entry = summarize(sorted(runs[c.key], key=lambda r: r["seed"]), length, thresholds)
        result[c.key] = {"strategy": c.strategy, "options": c.options, **entry}
    target = result["pnas"]["best_test_at_budget"]
    result["comparison"] = {
        "pnas_final_test": target,
        "pnas_models": result["pnas"]["models"],
        "models_to_match_pnas": {
            c.key: models_to_match(result[c.key]["curve_mean"][: result[c.key]["models"]], target) for c in chosen
        },
    }
    result["thresholds"] = {**thresholds, "best": float(tests.max())}
    result["settings"] = {
        "table": settings.table or "shipped nb201_12epoch.csv",
        "metric": settings.metric,
        "report_metric": settings.report_metric,
        "seeds": settings.seeds,
        "budget": settings.budget,
        "beams": list(settings.beams),
        "pnas_models": {b: progressive_models(b, space) for b in settings.beams},
        "predictor": settings.predictor,
        "ensemble": settings.ensemble,
        "epochs": settings.epochs,
        "workers": workers,
        "note": (
            f"progressive search with predictor={settings.predictor}, ensemble={settings.ensemble}, "
            f"epochs={settings.epochs} (the search's default ensemble is 5; 1 fits this run in 10 minutes)"
        ),
    }
    result["wall_seconds"] = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (the table goes to stderr)"
    )
    parser.add_argument(
        "--table", help="a CSV with cellstr and the metric columns, in percent (default: the shipped table)"
    )
    parser.add_argument("--metric", default="cifar10-val", help="column the strategies search on (default cifar10-val)")
    parser.add_argument(
        "--report-metric",
        default="cifar10-test",
        help="column reported, never seen by a strategy (default cifar10-test)",
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds per strategy (default 20)")
    parser.add_argument(
        "--beams", default="10,20,40", help="progressive search beam sizes K; the widest is 'pnas' (default 10,20,40)"
    )
    parser.add_argument(
        "--budget", type=int, help="models for random, evolution, reinforce (default: the widest pnas's count)"
    )
    parser.add_argument("--predictor", default="mlp", help="the progressive search's predictor (default mlp)")
    parser.add_argument("--ensemble", type=int, default=1, help="predictor ensemble size (default 1, for time)")
    parser.add_argument("--epochs", type=int, default=60, help="predictor training epochs per fit (default 60)")
    parser.add_argument("--no-lstm", action="store_true", help="skip the pnas_lstm contender (the slowest)")
    parser.add_argument("--workers", type=int, default=2, help="processes, one run each at a time (default 2)")
    parser.add_argument("--plot", default=str(DEFAULT_PLOT), help=f"where to save the plot (default {DEFAULT_PLOT})")
    args = parser.parse_args(argv)
    try:
        beams = tuple(sorted({int(b) for b in args.beams.split(",") if b.strip()}))
    except ValueError:
        parser.error(f"--beams takes comma-separated integers, got {args.beams!r}")
    if not beams or min(beams) < 1:
        parser.error("--beams needs at least one beam size >= 1")
    if args.seeds < 1 or args.workers < 1:
        parser.error("--seeds and --workers must be >= 1")
    budget = args.budget or progressive_models(max(beams), Nb201Space())
    settings = Settings(
        table=args.table,
        metric=args.metric,
        report_metric=args.report_metric,
        seeds=args.seeds,
        beams=beams,
        budget=budget,
        predictor=args.predictor,
        ensemble=args.ensemble,
        epochs=args.epochs,
        lstm=not args.no_lstm,
    )
    log = sys.stderr
    try:
        TableEvaluator(table=args.table, metric=args.metric, report_metric=args.report_metric)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"search efficiency on NAS-Bench-201: {len(contenders(settings))} strategies x {args.seeds} seeds, "
        f"{args.workers} workers",
        file=log,
        flush=True,
    )
    result = run(settings, args.workers, log)
    keys = [c.key for c in contenders(settings)]
    keys = ["pnas"] + [k for k in keys if k != "pnas"]
    checkpoints = sorted({progressive_models(b, Nb201Space()) for b in beams} | {budget})
    print_table(
        result,
        keys,
        [m for m in checkpoints if m <= budget or m in result["settings"]["pnas_models"].values()],
        sys.stderr if args.json else sys.stdout,
    )
    plot_path = Path(args.plot)
    plot(result, keys, plot_path)
    result["plot"] = str(plot_path)
    print(f"plot saved to {plot_path}", file=log)
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
