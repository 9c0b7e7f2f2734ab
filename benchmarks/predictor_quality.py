"""How well do the predictors rank the next level's cells? The paper's protocol on a real table.

On NAS-Bench-201 (the 12-epoch table shipped with the package), cells are
ordered by complexity: the number of edges that are not ``none`` (levels 1..6
hold 24, 240, 1280, 3840, 6144 and 4096 cells). For each level b = 1..5 a
predictor is trained on up to 300 cells sampled from levels <= b (all of
them where fewer exist) and scores every cell of level b + 1, as in the
progressive search, where a predictor trained on b-block cells ranks
(b+1)-block cells (docs/paper.md, section 4). Reported per level, over several seeds
(mean and standard deviation): Spearman's rho and Kendall's tau between
predicted and true accuracy, and precision@K, the fraction of the true top K
that the predictor puts in its own top K (K = 5% of the level's size).

    python benchmarks/predictor_quality.py [--json] [--seeds N]
    python benchmarks/predictor_quality.py --features paths,tokens --predictors mlp_ensemble
    python benchmarks/predictor_quality.py --features paths,tokens,zero-cost --zero-cost-cache zc.npz
    python benchmarks/predictor_quality.py --table my_table.csv --metric val_acc

A ``--table`` CSV needs a ``cellstr`` column (NAS-Bench-201 cell strings)
and the metric column, accuracies in percent (the table evaluator's format). The table is printed to stdout, or to stderr with ``--json``,
which prints one JSON object holding every number and a ``summary``: for each
predictor the mean over levels and seeds of spearman, kendall and
precision_at_k.

``--features`` adds the feature-mlp ensemble on every combination of the named feature sets (each
with and without every other). Zero-cost features are computed on the project's own NB201 networks
(:meth:`pnas.space.Nb201Space.proxy_network`, no data): about 0.04 s a cell, some ten minutes for
the whole table on two cores; ``--zero-cost-cache FILE`` keeps them between runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from scipy import stats

from pnas.evaluation.table import read_table
from pnas.predictors import create_predictor
from pnas.space import Nb201Cell, Nb201Space

PREDICTORS = {
    # name in the report -> (registered predictor, ensemble size)
    "lstm": ("lstm", 1),
    "mlp": ("mlp", 1),
    "lstm_ensemble": ("lstm", 5),
    "mlp_ensemble": ("mlp", 5),
    "random": ("random", 1),
}
OPTIONS: dict[str, dict] = {}
"""Predictor options of a contender (the ``--features`` ones: ``feature_mlp[paths]``, ...)."""
METRICS = ("spearman", "kendall", "precision_at_k")


def load_table(path: str | None, metric: str) -> list[tuple[Nb201Cell, float]]:
    """(cell, accuracy as a fraction) for every row of a NAS-Bench-201-style CSV (None: the shipped one)."""
    return list(read_table(path).fractions(metric).items())


def precision_at_k(predicted: np.ndarray, true: np.ndarray, k: int) -> float:
    """Fraction of the true top ``k`` that is also in the predicted top ``k``."""
    top_true = set(np.argsort(-true, kind="stable")[:k].tolist())
    top_predicted = set(np.argsort(-predicted, kind="stable")[:k].tolist())
    return len(top_true & top_predicted) / k


def evaluate(predicted: np.ndarray, true: np.ndarray, k: int) -> dict[str, float]:
    spearman = stats.spearmanr(predicted, true).statistic
    kendall = stats.kendalltau(predicted, true).statistic
    return {
        "spearman": float(np.nan_to_num(spearman)),  # constant predictions have no correlation
        "kendall": float(np.nan_to_num(kendall)),
        "precision_at_k": precision_at_k(predicted, true, k),
    }


def run(table: list[tuple[Nb201Cell, float]], predictors: list[str], seeds: int, train_size: int, log) -> dict:
    space = Nb201Space()
    by_level: dict[int, list[tuple[Nb201Cell, float]]] = {}
    for cell, accuracy in table:
        by_level.setdefault(space.level(cell), []).append((cell, accuracy))
    top = max(by_level)
    levels = []
    fit_seconds = {name: [] for name in predictors}
    for b in range(1, top):
        if b + 1 not in by_level:
            continue
        pool = [item for level in range(1, b + 1) for item in by_level.get(level, [])]
        target = by_level[b + 1]
        k = max(1, round(0.05 * len(target)))
        true = np.array([accuracy for _, accuracy in target])
        results = {name: {metric: [] for metric in METRICS} for name in predictors}
        for seed in range(seeds):
            rng = np.random.default_rng([seed, b])
            chosen = rng.choice(len(pool), size=min(train_size, len(pool)), replace=False)
            cells = [pool[i][0] for i in chosen]
            accuracies = [pool[i][1] for i in chosen]
            for name in predictors:
                registered, ensemble = PREDICTORS[name]
                predictor = create_predictor(registered, space, seed=seed, ensemble=ensemble, **OPTIONS.get(name, {}))
                start = time.perf_counter()
                predictor.fit(cells, accuracies)
                fit_seconds[name].append(time.perf_counter() - start)
                scores = predictor.predict([cell for cell, _ in target])
                for metric, value in evaluate(scores, true, k).items():
                    results[name][metric].append(value)
            log(escape(f"b={b} seed {seed}: " + ", ".join(f"{n} {results[n]['spearman'][-1]:.3f}" for n in predictors)))
        levels.append(
            {
                "b": b,
                "train_cells": int(min(train_size, len(pool))),
                "eval_level": b + 1,
                "eval_cells": len(target),
                "k": k,
                "results": {
                    name: {
                        metric: {
                            "mean": float(np.mean(values)),
                            "std": float(np.std(values)),
                            "values": values,
                        }
                        for metric, values in per.items()
                    }
                    for name, per in results.items()
                },
            }
        )
    summary = {
        name: {
            metric: float(np.mean([v for lv in levels for v in lv["results"][name][metric]["values"]]))
            for metric in METRICS
        }
        for name in predictors
    }
    return {
        "seeds": seeds,
        "train_size": train_size,
        "levels": levels,
        "summary": summary,
        "mean_fit_seconds": {name: float(np.mean(t)) for name, t in fit_seconds.items()},
    }


def render(report: dict, console: Console) -> None:
    predictors = list(report["summary"])
    table = Table(
        title=f"Predictor quality on {report['table']} ({report['metric']}), {report['seeds']} seeds: mean ± std"
    )
    table.add_column("train on\nlevels", justify="right")
    table.add_column("score\nlevel", justify="right")
    table.add_column("predictor")
    for metric in ("Spearman", "Kendall", "precision@K"):
        table.add_column(metric, justify="right")
    for level in report["levels"]:
        for i, name in enumerate(predictors):
            r = level["results"][name]
            table.add_row(
                f"<= {level['b']} ({level['train_cells']})" if i == 0 else "",
                f"{level['eval_level']} ({level['eval_cells']}, K={level['k']})" if i == 0 else "",
                escape(name),
                *(f"{r[m]['mean']:.3f} ± {r[m]['std']:.3f}" for m in METRICS),
                end_section=i == len(predictors) - 1,
            )
    for name in predictors:
        s = report["summary"][name]
        table.add_row("mean", "", escape(name), *(f"{s[m]:.3f}" for m in METRICS))
    console.print(table)


def recall_zero_cost(path: Path) -> None:
    """Zero-cost rows of an earlier run (the shared data-free ones every feature-mlp here uses)."""
    from pnas.predictors.features import shared_zero_cost

    if path.exists():
        space = Nb201Space()
        with np.load(path) as saved:
            cells = [space.parse(str(text)) for text in saved["cells"]]
            shared_zero_cost(space).remember(cells, saved["rows"])


def keep_zero_cost(path: Path) -> None:
    from pnas.predictors.features import shared_zero_cost

    source = shared_zero_cost(Nb201Space())
    if source.computed == 0 and path.exists():
        return
    space = Nb201Space()
    cells = list(source.known)
    rows = np.stack([source.known[c] for c in cells]) if cells else np.zeros((0, len(source.columns)))
    np.savez(path, cells=np.array([space.format(c) for c in cells]), rows=rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout (the table goes to stderr)"
    )
    parser.add_argument(
        "--table", help="a CSV with a cellstr column and the metric column (default: the shipped NAS-Bench-201 table)"
    )
    parser.add_argument("--metric", default="cifar10-val", help="column to predict (default cifar10-val)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per level (default 3)")
    parser.add_argument("--train-size", type=int, default=300, help="training cells per level (default 300)")
    parser.add_argument(
        "--predictors", default=",".join(PREDICTORS), help=f"comma-separated subset of {', '.join(PREDICTORS)}"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument(
        "--features",
        help="also (beside --predictors) the feature-mlp predictor on every combination of these feature sets "
        "(comma-separated: paths, tokens, zero-cost; zero-cost builds a small network per cell: slow)",
    )
    parser.add_argument(
        "--zero-cost-cache",
        type=Path,
        help="an .npz file of zero-cost rows: read if it exists, written with every row computed",
    )
    args = parser.parse_args(argv)
    predictors = [p.strip() for p in args.predictors.split(",") if p.strip()]
    if args.features:
        from pnas.predictors.features import parse_features

        try:
            sets = parse_features(args.features)
        except ValueError as error:
            parser.error(str(error))
        combinations = [c for size in range(1, len(sets) + 1) for c in itertools.combinations(sets, size)]
        for combination in combinations:
            key = f"feature_mlp[{'+'.join(combination)}]"
            PREDICTORS[key] = ("feature-mlp", 5)
            OPTIONS[key] = {"features": ",".join(combination)}
            predictors.append(key)
    console = Console(stderr=args.json, width=120)
    log = Console(stderr=True).log if args.json else console.log
    unknown = [p for p in predictors if p not in PREDICTORS]
    if unknown or not predictors:
        parser.error(
            f"unknown predictor(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(PREDICTORS)}"
        )
    if args.seeds < 1 or args.train_size < 1:
        parser.error("--seeds and --train-size must be positive")
    torch.set_num_threads(args.threads)
    try:
        table = load_table(args.table, args.metric)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.zero_cost_cache is not None:
        recall_zero_cost(args.zero_cost_cache)
    start = time.perf_counter()
    report = {"table": args.table or "nb201_12epoch.csv (shipped)", "metric": args.metric}
    report |= run(table, predictors, args.seeds, args.train_size, log)
    report["seconds"] = round(time.perf_counter() - start, 1)
    if args.zero_cost_cache is not None:
        keep_zero_cost(args.zero_cost_cache)
    render(report, console)
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
