"""Progressive search vs random search vs regularized evolution, with real training.

Every strategy searches the PNAS space (B = 3) on Fashion-MNIST with the
default proxy of ``pnas search`` and the same number of trained models as the
default progressive search (136 + 2 x 8 = 152), for several seeds. For each
study: the best cell by validation accuracy, that cell's test accuracy (the
child retrained exactly as in the search, then scored on the test set, which
the search never saw), the models trained and the compute: training examples,
forward mult-adds over those examples (machine-independent) and seconds
(indicative only on a shared machine).

    python benchmarks/fashion_mnist_strategies.py [--seeds 3] [--json]

Studies are stored in ``benchmarks/results/fashion_mnist_strategies.db`` (kept in the
repository: the record of the runs reported in the README); running
the script again resumes unfinished studies and reuses finished ones. On 2
CPU cores a progressive study takes about 5-6 minutes and a baseline study
7-10 (baselines train 3-block cells throughout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pnas.evaluation.trainer import TrainingEvaluator
from pnas.search import SearchConfig, build_search, run_search

STRATEGIES = ("pnas", "random", "evolution", "guided")


def training_mult_adds(trials) -> int:
    """Forward mult-adds per image times the images each child trained on, summed over children.

    A measure of training compute that, unlike seconds, does not depend on the
    machine or on what else ran on it (a backward pass costs about twice the
    forward and is not counted).
    """
    return int(sum((t.mult_adds or 0) * (t.examples or 0) for t in trials if t.status in ("done", "failed")))


def run_one(strategy: str, seed: int, storage: str, log: Console) -> dict:
    config = SearchConfig(strategy=strategy, seed=seed)
    started = time.time()
    with run_search(config, storage=storage, study=f"{strategy}-seed{seed}") as study:
        best = study.best(1)[0]
        totals = study.totals()
        train_mult_adds = training_mult_adds(study.trials())
    evaluator = build_search(config).evaluator
    assert isinstance(evaluator, TrainingEvaluator)
    test = evaluator.test_accuracy(best.cell)
    row = {
        "strategy": strategy,
        "seed": seed,
        "best_cell": best.cell,
        "best_val": best.accuracy,
        "best_test": test,
        "models": totals["models"],
        "failed": totals["failed"],
        "examples": totals["examples"],
        "train_mult_adds": train_mult_adds,
        "train_seconds": totals["train_seconds"],
    }
    log.print(f"{strategy} seed {seed}: val {best.accuracy:.4f} test {test:.4f} ({time.time() - started:.0f} s)")
    return row


def summarize(rows: list[dict]) -> dict:
    out = {}
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        mine = [r for r in rows if r["strategy"] == strategy]
        if not mine:
            continue

        def stats(key: str) -> dict:
            values = [r[key] for r in mine]
            return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}

        out[strategy] = {
            "seeds": len(mine),
            "best_val": stats("best_val"),
            "best_test": stats("best_test"),
            "models": stats("models"),
            "examples": stats("examples"),
            "train_mult_adds": stats("train_mult_adds"),
            "train_seconds": stats("train_seconds"),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated, run in this order")
    parser.add_argument("--storage", default=str(Path(__file__).parent / "results" / "fashion_mnist_strategies.db"))
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    Path(args.storage).parent.mkdir(parents=True, exist_ok=True)
    log = Console(stderr=True)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        parser.error(f"unknown strategies {', '.join(unknown)}: choose from {', '.join(STRATEGIES)}")
    rows = [run_one(s, seed, args.storage, log) for seed in range(args.seeds) for s in strategies]
    summary = summarize(rows)
    if args.json:
        json.dump({"runs": rows, "summary": summary}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    table = Table(title=f"PNAS space (B=3), Fashion-MNIST proxy, {args.seeds} seeds: mean ± std")
    for column in (
        "strategy",
        "models",
        "best val acc",
        "its test acc",
        "training examples",
        "training mult-adds",
        "training s",
    ):
        table.add_column(column, justify="right")
    for strategy, s in summary.items():
        table.add_row(
            strategy,
            f"{s['models']['mean']:.0f}",
            f"{s['best_val']['mean']:.4f} ± {s['best_val']['std']:.4f}",
            f"{s['best_test']['mean']:.4f} ± {s['best_test']['std']:.4f}",
            f"{s['examples']['mean']:,.0f}",
            f"{s['train_mult_adds']['mean'] / 1e12:.2f}T",
            f"{s['train_seconds']['mean']:.0f}",
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
