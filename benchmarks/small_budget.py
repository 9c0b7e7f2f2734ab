"""Which strategy finds the best cell with 25, 50 or 75 trained models? NAS-Bench-201, CIFAR-10.

Every strategy searches the shipped 12-epoch table's validation column (``cifar10-val``) and is
scored on it (its best validation accuracy) and on the test column of the cell it would pick (the
best by validation; ``cifar10-test``, which no strategy sees). Budgeted strategies (``guided`` with
each acquisition, ``evolution``, ``random``, ``reinforce``) get each budget with their default
settings; the progressive search trains 24 one-edge cells and K per level, so it is reported at
its own model counts (K = 1, 5, 10: 29, 49 and 74 models), with the paper's mean ranking and with
the guided search's default acquisition. Over ``--seeds`` seeds (default 20): the mean best
validation accuracy and its standard error, the share of seeds whose best is in the table's top
0.1% and top 1% by validation accuracy, the mean test accuracy of the pick, and the models each
needs to reach the top 0.1% and 1% (mean over the seeds that do).

    python benchmarks/small_budget.py [--json] [--seeds 20] [--workers 2]
    python benchmarks/small_budget.py --features paths,zero-cost --zero-cost-cache zc.npz --only guided,evolution

``--features`` adds the default guided search with the feature-mlp on those feature sets
(``guided[paths+zero-cost]``); ``--zero-cost-cache`` (an .npz of data-free zero-cost rows, such
as ``predictor_quality.py --zero-cost-cache`` writes) spares recomputing them in every run;
``--only`` runs a subset of the contenders.

With ``--json`` one JSON object goes to stdout: ``by_budget``: strategy -> budget (``"75"``) ->
``mean_best_val``, ``sem_best_val``, ``top_0_1_share``, ``top_1_share``, ``mean_test_of_pick``,
``models``, ``models_to_top_0_1``, ``models_to_top_1``; tables and progress go to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time
from typing import Any

import numpy as np

BUDGETS = (25, 50, 75)
PNAS_BEAMS = {25: 1, 50: 5, 75: 10}
"""The progressive search's K at each budget: 24 + 5K models (29, 49, 74)."""

ACQUISITIONS = ("mean", "ucb", "ei", "thompson")


def contenders(features: str | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, strategy, options): keys are the names given to --strategy, variants suffixed."""
    from pnas.strategies.guided import GuidedOptions

    default = GuidedOptions().acquisition
    out = [("guided", "guided", {})]
    if features:
        out += [(f"guided[{features.replace(',', '+')}]", "guided", {"predictor_options": {"features": features}})]
    out += [(f"guided_{a}", "guided", {"acquisition": a}) for a in ACQUISITIONS if a != default]
    out += [("pnas", "pnas", {}), (f"pnas_{default}", "pnas", {"acquisition": default})]
    out += [("evolution", "evolution", {}), ("random", "random", {}), ("reinforce", "reinforce", {})]
    return out


_CACHED_ZERO_COST: dict[str, Any] = {}
"""Per worker process: the data-free zero-cost rows of the cache file, shared by its guided runs."""


def cached_zero_cost(path: str) -> Any:
    if path not in _CACHED_ZERO_COST:
        from pnas.predictors.features import ZeroCostFeatures
        from pnas.space import Nb201Space

        space = Nb201Space()
        source = ZeroCostFeatures(space)
        with np.load(path) as saved:
            source.remember([space.parse(str(text)) for text in saved["cells"]], saved["rows"])
        _CACHED_ZERO_COST[path] = source
    return _CACHED_ZERO_COST[path]


def run_job(job: tuple[str, str, dict[str, Any], int, int, str | None]) -> dict[str, Any]:
    """One strategy, seed and budget: the validation and test accuracy of every trained cell, in order."""
    key, strategy, options, seed, budget, zero_cost_cache = job
    import torch

    from pnas.evaluation.table import TableEvaluator
    from pnas.space import Nb201Space
    from pnas.strategies import STRATEGIES

    torch.set_num_threads(1)
    evaluator = TableEvaluator()
    space = Nb201Space()
    if strategy == "pnas":
        options = {"beam": PNAS_BEAMS[budget], "predictor": "mlp", "ensemble": 5, **options}
    else:
        options = {"budget": budget, **options}
    if strategy in ("pnas", "guided"):
        from pnas.strategies.guided import GuidedSearch

        predictor = options.pop("predictor", "mlp" if strategy == "pnas" else GuidedSearch.default_predictor)
        options["predictor"] = predictor
    searcher = STRATEGIES.create(strategy, space, seed=seed, **options)
    if zero_cost_cache and strategy == "guided":
        searcher.use_zero_cost(cached_zero_cost(zero_cost_cache))
    started = time.perf_counter()
    val: list[float] = []
    test: list[float] = []
    while proposals := searcher.ask():
        for proposal in proposals:
            result = evaluator.evaluate(proposal.cell)
            val.append(result.accuracy)
            test.append(result.report_accuracy if result.report_accuracy is not None else math.nan)
            searcher.tell(proposal, result)
    steps = getattr(searcher, "step_seconds", [])
    return {"key": key, "seed": seed, "budget": budget, "val": val, "test": test,
            "seconds": time.perf_counter() - started, "steps": steps}  # fmt: skip


def models_until(val: list[float], threshold: float) -> int | None:
    for i, value in enumerate(val):
        if value >= threshold:
            return i + 1
    return None


def summarize(runs: list[dict[str, Any]], top01: float, top1: float) -> dict[str, Any]:
    best = [max(r["val"]) for r in runs]
    picks = [r["test"][int(np.argmax(r["val"]))] for r in runs]
    reach01 = [models_until(r["val"], top01) for r in runs]
    reach1 = [models_until(r["val"], top1) for r in runs]
    hits01, hits1 = [n for n in reach01 if n is not None], [n for n in reach1 if n is not None]
    entry: dict[str, Any] = {
        "models": statistics.mean(len(r["val"]) for r in runs),
        "mean_best_val": statistics.mean(best),
        "sem_best_val": statistics.stdev(best) / math.sqrt(len(best)) if len(best) > 1 else 0.0,
        "top_0_1_share": sum(b >= top01 for b in best) / len(best),
        "top_1_share": sum(b >= top1 for b in best) / len(best),
        "mean_test_of_pick": statistics.mean(picks),
        "models_to_top_0_1": statistics.mean(hits01) if hits01 else None,
        "models_to_top_1": statistics.mean(hits1) if hits1 else None,
        "seconds_per_run": statistics.mean(r["seconds"] for r in runs),
    }
    steps = [step for r in runs for step in r.get("steps", [])]
    if steps:  # the guided search's predictor: fitting and ranking seconds per step (indicative)
        entry["fit_seconds_per_step"] = statistics.mean(step["fit"] for step in steps)
        entry["rank_seconds_per_step"] = statistics.mean(step["rank"] for step in steps)
    return entry


def top_threshold(values: list[float], fraction: float) -> float:
    ordered = sorted(values, reverse=True)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def run(
    seeds: int,
    workers: int,
    log: Any,
    features: str | None = None,
    zero_cost_cache: str | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    from pnas.evaluation.table import TableEvaluator

    table = TableEvaluator()
    vals = list(table.table.fractions("cifar10-val").values())
    top01, top1 = top_threshold(vals, 0.001), top_threshold(vals, 0.01)
    chosen = contenders(features)
    if only:
        unknown = sorted(set(only) - {key for key, _, _ in chosen})
        if unknown:
            raise ValueError(
                f"unknown contender(s) {', '.join(unknown)}: choose from {', '.join(k for k, _, _ in chosen)}"
            )
        chosen = [c for c in chosen if c[0] in only]
    jobs = [(key, strategy, options, seed, budget, zero_cost_cache) for budget in BUDGETS
            for key, strategy, options in chosen for seed in range(seeds)]  # fmt: skip
    jobs.sort(key=lambda job: -(job[4] * (3 if job[1] in ("guided", "pnas", "reinforce") else 1)))
    started = time.perf_counter()
    outcomes: list[dict[str, Any]] = []
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for i, outcome in enumerate(pool.imap_unordered(run_job, jobs), start=1):
            outcomes.append(outcome)
            if i % 50 == 0 or i == len(jobs):
                print(f"  {i}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", file=log, flush=True)
    by_budget: dict[str, dict[str, Any]] = {}
    for key, _, _ in chosen:
        by_budget[key] = {}
        for budget in BUDGETS:
            runs = sorted((o for o in outcomes if o["key"] == key and o["budget"] == budget), key=lambda o: o["seed"])
            by_budget[key][str(budget)] = summarize(runs, top01, top1)
    return {
        "by_budget": by_budget,
        "thresholds": {"top_0_1_val": top01, "top_1_val": top1, "best_val": max(vals)},
        "settings": {
            "table": "shipped nb201_12epoch.csv",
            "search_column": "cifar10-val",
            "report_column": "cifar10-test",
            "seeds": seeds,
            "budgets": list(BUDGETS),
            "pnas_beams": {str(b): k for b, k in PNAS_BEAMS.items()},
            "contenders": {key: {"strategy": strategy, **options} for key, strategy, options in chosen},
        },  # fmt: skip
        "wall_seconds": time.perf_counter() - started,
    }


def print_table(result: dict[str, Any], stream: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = result["thresholds"]
    table = Table(
        title=f"NAS-Bench-201 CIFAR-10, {result['settings']['seeds']} seeds: best validation accuracy (%) ± sem "
        f"[share of seeds in the top 0.1%] test of the pick"
    )
    table.add_column("strategy")
    for budget in result["settings"]["budgets"]:
        table.add_column(f"@{budget}", justify="right")
    table.add_column("models to top 0.1% (at 75)", justify="right")
    for key, per_budget in result["by_budget"].items():
        cells = [escape(key)]
        for budget in result["settings"]["budgets"]:
            e = per_budget[str(budget)]
            models = f" ({e['models']:g} models)" if key.startswith("pnas") else ""
            cells.append(
                f"{e['mean_best_val'] * 100:.2f} ± {e['sem_best_val'] * 100:.2f} [{e['top_0_1_share']:.0%}] "
                f"{e['mean_test_of_pick'] * 100:.2f}{models}"
            )
        reach = per_budget["75"]["models_to_top_0_1"]
        cells.append("-" if reach is None else f"{reach:.0f}")
        table.add_row(*cells)
    console = Console(file=stream, width=200)
    console.print(table)
    console.print(
        f"top 0.1% = validation >= {t['top_0_1_val'] * 100:.2f}, top 1% >= {t['top_1_val'] * 100:.2f}, "
        f"table best {t['best_val'] * 100:.2f}; wall time {result['wall_seconds']:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (the table to stderr)")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per strategy and budget (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--features", help="also guided with the feature-mlp on these feature sets (comma-separated)")
    parser.add_argument("--zero-cost-cache", help="an .npz of data-free NB201 zero-cost rows (cells, rows)")
    parser.add_argument("--only", help="comma-separated contenders to run (default: all)")
    args = parser.parse_args(argv)
    if args.seeds < 2 or args.workers < 1:
        parser.error("--seeds must be >= 2 and --workers >= 1")
    if args.features:
        from pnas.predictors.features import parse_features

        try:
            args.features = ",".join(parse_features(args.features))
        except ValueError as error:
            parser.error(str(error))
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    try:
        result = run(args.seeds, args.workers, sys.stderr, args.features, args.zero_cost_cache, only)
    except ValueError as error:
        parser.error(str(error))
    print_table(result, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
