"""Pruning measured on real training: what stopping losing children early saves, and what it costs.

On Fashion-MNIST in the PNAS space, for each seed, the progressive search and random search each run
with the pruners ``none``, ``median`` and ``successive-halving`` (their default options, a report after
every epoch). A pruned random search is given the unpruned one's training compute (``--budget-compute``,
the same seed), so it trains more children for the same compute; a pruned progressive search trains the
same number of children as the unpruned one, the pruned ones only part of the way. Per contender, mean ±
standard deviation over the seeds:

- the best validation accuracy, and the test accuracy of that pick (the child retrained exactly as in
  the search, then scored on the test set, which no search sees: as ``fashion_mnist_strategies.py``);
- the training compute: forward mult-adds x training images, pruned children included up to where they
  stopped (``training_mult_adds`` of ``pnas status --json``), and its ratio to the unpruned search's;
- wall seconds (from the first child's start to the last one's end), children trained and pruned;
- the compute at which it reached the unpruned search's best validation accuracy of the same seed,
  children counted in trial order (mean over the seeds; ``never`` where it did not on some seed).

The **goal** (issue 27): a pruner reaches the unpruned search's best validation accuracy with at most
half the training compute, or picks a better cell (higher mean test accuracy) at equal compute (at most
5 % more: the last batch of a compute-bounded search may pass its budget). "Half the compute" is taken
against what the unpruned search itself spent to reach that accuracy (its compute when it trained its
best child), on every seed, means over the seeds: an unpruned search that finds its best child early
reaches it with a small share of its total compute too, so its total would credit the pruner with what
the trial order did. The share of the unpruned search's total compute is reported beside it.

It also trains the first round's one-block cells (136 in the PNAS space) of the first seed through the
evaluator with a ``report`` callback that records every epoch's validation accuracy and never stops, and
gives the Spearman correlation of each reported epoch's accuracy with the final one (the first epoch
against the last, and each rung of successive halving).

    python benchmarks/multi_fidelity.py [--scale full|small] [--seeds 0,1,2] [--json] [--device cpu]

``--scale full`` uses the default search (B = 3, K = 8; random: 152 models) and the default proxy;
``--scale small`` (the measured one) B = 2, K = 4, random 60 models, a 1,024-image training subset and
1,000 validation images (14 x 14 px, N = 1, F = 8, 3 epochs), 2 workers; ``--scale tiny`` runs the
synthetic evaluator in seconds (for tests: it has no test set). Studies are kept in ``--storage``
(default ``benchmarks/results/multi_fidelity_SCALE.db``): a second run reuses the finished ones and
resumes an interrupted one; the first-round curves are reused from an earlier ``--out`` file with the
same settings. The JSON goes to ``--out`` (default ``benchmarks/results/multi_fidelity_SCALE.json``);
with ``--json`` it is also the one document on stdout (progress on stderr). Its ``run_seconds`` is this
run's (a run that reuses every study retrains only the picks, for their test accuracy); each contender's
``wall_seconds`` comes from its children's recorded times, so it stays the first run's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pnas.evaluation.base import Evaluator
from pnas.evaluation.trainer import TrainingEvaluator
from pnas.pruners import SuccessiveHalving
from pnas.search import SearchConfig, build_search, run_search
from pnas.storage.base import TrialRecord
from pnas.study.reading import FINISHED, spearman, totals_of, training_compute

RESULTS = Path(__file__).resolve().parent / "results"
STRATEGIES = ("pnas", "random")
PRUNERS = ("none", "median", "successive-halving", "successive-halving-ladder")
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "successive-halving": ("successive-halving", {"ladder": False}),  # each child judged alone (ASHA)
    "successive-halving-ladder": ("successive-halving", {"ladder": True}),  # K * eta^s start, K finish
}
"""Contenders that are a pruner with options: (the pruner, its options)."""
LADDER_ONLY = ("successive-halving-ladder",)
"""Contenders that differ from another only for a strategy that runs rounds as a ladder (the progressive)."""
BASELINE = "none"
HALF = 0.5
"""The goal: the unpruned search's best validation accuracy with at most this share of its compute."""
EQUAL_COMPUTE = 1.05
"""At 'equal compute', a pruned search may spend this much of the unpruned one's (its last batch passes)."""
MODEL_CAP = 4
"""A compute-bounded random search may train up to this many times the unpruned one's models."""


@dataclass(frozen=True)
class Scale:
    """The search and proxy of one scale; ``None`` leaves a setting at ``pnas search``'s default."""

    blocks: int | None = None
    beam: int | None = None
    budget: int | None = None
    workers: int = 2
    evaluator: str | None = None
    trainer: dict[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0, 1, 2)


SCALES = {
    "full": Scale(),
    "small": Scale(
        blocks=2,
        beam=4,
        budget=60,
        trainer={
            "image_size": 14,
            "train_subset": 1024,
            "val_size": 1000,
            "epochs": 3,
            "cells_per_stack": 1,
            "filters": 8,
        },
    ),
    "tiny": Scale(blocks=2, beam=2, budget=16, workers=1, evaluator="synthetic", seeds=(0, 1)),
}


def search_config(
    scale: Scale, strategy: str, pruner: str, seed: int, *, device: str | None = None, budget_compute: int | None = None
) -> SearchConfig:
    """The search of one contender; with ``budget_compute``, a budget strategy stops at that compute."""
    trainer = dict(scale.trainer)
    if device is not None and scale.evaluator is None:
        trainer["device"] = device
    name, options = VARIANTS.get(pruner, (pruner, {}))
    config = SearchConfig(
        strategy=strategy,
        pruner=name,
        overrides={"pruner": options} if options else {},
        seed=seed,
        blocks=scale.blocks,
        evaluator=scale.evaluator,
        workers=scale.workers,
        trainer=trainer,
    )
    if strategy == "pnas":
        config.beam = scale.beam
    else:
        config.budget = scale.budget
    if budget_compute is not None:
        budget = scale.budget if scale.budget is not None else build_search(config).strategy.budget
        config.budget = MODEL_CAP * budget
        config.batch = 2 * scale.workers  # few children at a time: the compute is looked at before each batch
        config.overrides = {"strategy": {"budget_compute": budget_compute}}
    return config


def ordered(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Finished children (pruned and failed ones too) in trial order: the order the search proposed them."""
    return sorted((t for t in trials if t.status in FINISHED), key=lambda t: t.number)


def reach_compute(trials: Sequence[TrialRecord], target: float) -> int | None:
    """The training compute spent (children in trial order, pruned ones included) when the best validation
    accuracy so far first reached ``target``; None if it never did."""
    spent = 0
    for t in ordered(trials):
        spent += training_compute(t) or 0
        if t.status == "done" and t.accuracy is not None and t.accuracy >= target:
            return spent
    return None


def best_within(trials: Sequence[TrialRecord], compute: float) -> float | None:
    """The best validation accuracy among the children trained (in trial order) within ``compute``."""
    spent, best = 0, None
    for t in ordered(trials):
        spent += training_compute(t) or 0
        if spent > compute:
            break
        if t.status == "done" and t.accuracy is not None:
            best = t.accuracy if best is None else max(best, t.accuracy)
    return best


def wall_seconds(trials: Sequence[TrialRecord]) -> float | None:
    """From the first child's start to the last one's end (None where no time was recorded)."""
    starts = [t.started for t in trials if t.started is not None]
    ends = [t.finished for t in trials if t.finished is not None]
    return max(ends) - min(starts) if starts and ends else None


def pruned_at(trials: Sequence[TrialRecord]) -> dict[str, int]:
    """How many children were stopped at each report (step -> count)."""
    steps = sorted(int(t.extra["pruned"]["step"]) for t in trials if t.status == "pruned" and "pruned" in t.extra)
    return {str(step): steps.count(step) for step in dict.fromkeys(steps)}


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


class TestScores:
    """Test accuracy of a pick, retrained as in the search; one training per (evaluator settings, cell)."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self) -> None:
        self.known: dict[tuple[str, str], float | None] = {}

    def __call__(self, evaluator: Evaluator, cell: str) -> float | None:
        key = (json.dumps(evaluator.config(), sort_keys=True), cell)
        if key not in self.known:
            # only real training has a test set; a stand-in (the synthetic evaluator) has none
            self.known[key] = evaluator.test_accuracy(cell) if isinstance(evaluator, TrainingEvaluator) else None
        return self.known[key]


def run_contender(
    config: SearchConfig, study: str, storage: str | None, scores: TestScores, log: Console
) -> dict[str, Any]:
    """Run (or reuse) one study and measure it; ``trials`` are kept for the figures across contenders."""
    started = time.monotonic()
    with run_search(config, storage=storage, study=study) as handle:
        trials = handle.trials()
    best = max((t for t in trials if t.status == "done" and t.accuracy is not None),
               key=lambda t: (t.accuracy, -t.number), default=None)  # fmt: skip
    totals = totals_of(trials)
    evaluator = build_search(config).evaluator
    test = scores(evaluator, best.cell) if best is not None else None
    row = {
        "strategy": config.strategy,
        "pruner": config.pruner,
        "seed": config.seed,
        "study": study,
        "best_cell": best.cell if best is not None else None,
        "best_val": best.accuracy if best is not None else None,
        "test": test,
        "compute": totals["training_mult_adds"],
        "models": totals["models"],
        "pruned": totals["pruned"],
        "failed": totals["failed"],
        "children": totals["models"] + totals["pruned"] + totals["failed"],
        "examples": totals["examples"],
        "train_seconds": totals["train_seconds"],
        "wall_seconds": wall_seconds(trials),
        "pruned_at": pruned_at(trials),
        "mean_mult_adds": {
            status: _mean([t.mult_adds for t in trials if t.status == status and t.mult_adds is not None])
            for status in ("done", "pruned")
        },
        "trials": trials,
    }
    val = "-" if best is None else f"{best.accuracy:.4f}"
    log.print(
        f"{config.strategy}/{config.pruner} seed {config.seed}: best val {val}, test "
        f"{'-' if test is None else f'{test:.4f}'}, {row['children']} children ({row['pruned']} pruned), "
        f"compute {row['compute']:.3g} ({time.monotonic() - started:.0f} s)"
    )
    return row


def compare_with_baseline(rows: list[dict[str, Any]]) -> None:
    """Add to each row the figures relative to the unpruned search of its strategy and seed."""
    baselines = {(r["strategy"], r["seed"]): r for r in rows if r["pruner"] == BASELINE}
    for r in rows:
        base = baselines[(r["strategy"], r["seed"])]
        r["target_val"] = base["best_val"]
        r["reach_compute"] = None if base["best_val"] is None else reach_compute(r["trials"], base["best_val"])
        r["compute_ratio"] = r["compute"] / base["compute"] if base["compute"] else None
        r["best_val_within_baseline_compute"] = best_within(r["trials"], base["compute"])


def _stats(values: Sequence[float | None]) -> dict[str, float | None]:
    known = [float(v) for v in values if v is not None]
    if len(known) < len(values) or not known:
        return {"mean": None, "std": None}
    return {"mean": statistics.fmean(known), "std": statistics.stdev(known) if len(known) > 1 else 0.0}


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per contender (``strategy/pruner``): means and standard deviations over the seeds, and the goal."""
    out: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(f"{r['strategy']}/{r['pruner']}" for r in rows):
        mine = [r for r in rows if f"{r['strategy']}/{r['pruner']}" == key]
        reached = [r["reach_compute"] for r in mine if r["reach_compute"] is not None]
        out[key] = {
            "strategy": mine[0]["strategy"],
            "pruner": mine[0]["pruner"],
            "seeds": len(mine),
            **{
                name: _stats([r[name] for r in mine])
                for name in (
                    "best_val",
                    "test",
                    "compute",
                    "compute_ratio",
                    "wall_seconds",
                    "children",
                    "models",
                    "pruned",
                    "best_val_within_baseline_compute",
                )
            },
            "reach_compute": {
                "mean": statistics.fmean(reached) if len(reached) == len(mine) else None,
                "reached": len(reached),
                "per_seed": [r["reach_compute"] for r in mine],
            },
        }
    for summary in out.values():
        base = out.get(f"{summary['strategy']}/{BASELINE}")
        summary["goal"] = goal(summary, base) if base is not None and summary["pruner"] != BASELINE else None
    return out


def goal(contender: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Whether a pruned contender met the goal against the unpruned search of its strategy (see the docstring)."""
    base_compute, base_reach = baseline["compute"]["mean"], baseline["reach_compute"]["mean"]
    reach = contender["reach_compute"]["mean"]
    half = reach is not None and base_reach is not None and reach <= HALF * base_reach
    test, base_test = contender["test"]["mean"], baseline["test"]["mean"]
    ratio = contender["compute"]["mean"] / base_compute if base_compute and contender["compute"]["mean"] else None
    better = test is not None and base_test is not None and ratio is not None and ratio <= EQUAL_COMPUTE
    better = better and test > base_test

    def share(value: float | None, of: float | None) -> float | None:
        return value / of if value is not None and of else None

    return {
        "reach_share_of_baseline_reach": share(reach, base_reach),
        "reach_share_of_baseline_compute": share(reach, base_compute),
        "baseline_reach_share_of_its_compute": share(base_reach, base_compute),
        "half_compute": half,
        "better_pick_at_equal_compute": better,
        "met": half or better,
    }


def record_curve(evaluator: Evaluator, cell: Any) -> tuple[list[float], float]:
    """Train one child, recording every value it reports and never stopping it: (reported values, final)."""
    reported: list[float] = []

    def report(step: int, value: float) -> bool:
        assert step == len(reported) + 1
        reported.append(value)
        return False

    result = evaluator.evaluate(cell, report=report)
    return reported, result.accuracy


_worker_evaluator: Evaluator | None = None


def _start_worker(config: SearchConfig) -> None:
    global _worker_evaluator
    _worker_evaluator = build_search(config).evaluator


def _curve_in_worker(cell: str) -> tuple[list[float], float]:
    assert _worker_evaluator is not None
    return record_curve(_worker_evaluator, cell)


def first_round_curves(config: SearchConfig, workers: int, log: Console) -> dict[str, Any]:
    """Every first-round cell trained once with a recording ``report``: the curves and the seconds taken."""
    resolved = build_search(config)
    cells = [resolved.space.format(c) for c in resolved.space.initial_cells()]
    log.print(f"first round: training {len(cells)} one-block children with a report every epoch...")
    started = time.monotonic()
    if workers > 1:
        context = multiprocessing.get_context("spawn")  # a fresh process: no torch thread pool forked
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(config,)) as pool:
            curves = list(pool.map(_curve_in_worker, cells))
    else:
        curves = [record_curve(resolved.evaluator, cell) for cell in cells]
    return {
        "evaluator": resolved.evaluator.config(),
        "seed": config.seed,
        "seconds": time.monotonic() - started,
        "curves": [
            {"cell": cell, "reported": reported, "final": final} for cell, (reported, final) in zip(cells, curves)
        ],
    }


def rank_agreement(curves: dict[str, Any], rung: Callable[[int], bool]) -> dict[str, Any]:
    """Spearman's rho of each reported step's values with the final ones, and which steps are rungs."""
    rows = curves["curves"]
    finals = [r["final"] for r in rows]
    steps = min((len(r["reported"]) for r in rows), default=0)
    per_step = [
        {"step": s, "rung": rung(s), "spearman": spearman([r["reported"][s - 1] for r in rows], finals)}
        for s in range(1, steps + 1)
    ]
    return {
        "children": len(rows),
        "seed": curves["seed"],
        "first_vs_last": per_step[0]["spearman"] if per_step else None,
        "steps": per_step,
        "rungs": [s for s in per_step if s["rung"]],
    }


def reuse_curves(path: Path | None, evaluator: dict[str, Any], seed: int) -> dict[str, Any] | None:
    """The first-round curves of an earlier run written to ``path``, if made with the same settings."""
    if path is None or not path.exists():
        return None
    try:
        earlier = json.loads(path.read_text()).get("first_round", {}).get("curves")
    except (OSError, ValueError):
        return None
    if isinstance(earlier, dict) and earlier.get("evaluator") == evaluator and earlier.get("seed") == seed:
        return earlier
    return None


def agrees_with_search(curves: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, int] | None:
    """How many recorded finals equal the unpruned progressive search's first-round results (same seed):
    reporting must leave a child's training as it was."""
    base = next(
        (r for r in rows if (r["strategy"], r["pruner"], r["seed"]) == ("pnas", BASELINE, curves["seed"])), None
    )
    if base is None:
        return None
    searched = {t.cell: t.accuracy for t in base["trials"] if t.round == min(x.round for x in base["trials"])}
    same = sum(1 for c in curves["curves"] if searched.get(c["cell"]) == c["final"])
    return {"equal": same, "compared": sum(1 for c in curves["curves"] if c["cell"] in searched)}


def run(args: argparse.Namespace, log: Console) -> dict[str, Any]:
    scale = SCALES[args.scale]
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(scale.seeds)
    storage, out = args.storage, args.out
    if storage is not None:
        Path(storage).parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    curve_config = search_config(scale, "pnas", BASELINE, seeds[0], device=args.device)
    curves = reuse_curves(Path(out) if out else None, build_search(curve_config).evaluator.config(), seeds[0])
    if curves is None:
        curves = first_round_curves(curve_config, scale.workers, log)
    halving = SuccessiveHalving()
    agreement = rank_agreement(curves, halving.rung)
    log.print(f"first round: Spearman of epoch 1 with the last {agreement['first_vs_last']}")

    scores = TestScores()
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for strategy in STRATEGIES:
            base: dict[str, Any] | None = None
            for pruner in PRUNERS:
                if strategy != "pnas" and pruner in LADDER_ONLY:
                    continue
                budget_compute = None
                if strategy != "pnas" and pruner != BASELINE:
                    assert base is not None
                    budget_compute = base["compute"]
                config = search_config(scale, strategy, pruner, seed, device=args.device, budget_compute=budget_compute)
                row = run_contender(config, f"{strategy}-{pruner}-seed{seed}", storage, scores, log)
                row["pruner"] = pruner  # the contender (a pruner, or a pruner with options)
                base = row if pruner == BASELINE else base
                rows.append(row)
    compare_with_baseline(rows)
    summary = summarize(rows)
    met = sorted(key for key, s in summary.items() if s["goal"] and s["goal"]["met"])
    first_round = {**agreement, "curves": curves, "matches_unpruned_search": agrees_with_search(curves, rows)}
    first_round["seconds"] = curves["seconds"]
    return {
        "scale": args.scale,
        "date": time.strftime("%Y-%m-%d"),
        "settings": {
            "search": {
                "blocks": scale.blocks,
                "beam": scale.beam,
                "random_budget": scale.budget,
                "workers": scale.workers,
                "evaluator": scale.evaluator or "train",
            },
            "evaluator": curves["evaluator"],
            "seeds": seeds,
            "pruners": {name: build_search(search_config(scale, "pnas", name, 0)).pruner.config() for name in PRUNERS},
            "pruned_random_budget_compute": "the unpruned random search's compute, same seed",
        },
        "goal": {
            "statement": (
                f"reach the unpruned search's best validation accuracy with at most {HALF:g} of the training "
                "compute it took the unpruned search (on every seed, means over the seeds), or a better pick "
                f"(test accuracy) at equal compute (at most {EQUAL_COMPUTE:g}x)"
            ),
            "met_by": met,
            "met": bool(met),
        },
        "spearman": {
            "first_vs_last": agreement["first_vs_last"],
            "steps": agreement["steps"],
            "rungs": agreement["rungs"],
        },
        "first_round": first_round,
        "summary": summary,
        "runs": [{k: v for k, v in r.items() if k != "trials"} for r in rows],
        "run_seconds": time.monotonic() - started,
    }


def _num(value: float | None, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _goal_cell(goal: dict[str, Any] | None) -> str:
    if goal is None:
        return ""
    ways = [
        way
        for way, key in (("half compute", "half_compute"), ("better pick", "better_pick_at_equal_compute"))
        if goal[key]
    ]
    return ", ".join(ways) or "not met"


def table(result: dict[str, Any]) -> Table:
    seeds = len(result["settings"]["seeds"])
    out = Table(title=f"Pruning, {result['scale']} scale, {seeds} seeds: mean ± std")
    for column in ("contender", "best val", "its test", "compute", "x none", "reached none's best at", "wall s",
                   "children", "pruned", "goal"):  # fmt: skip
        out.add_column(column, justify="right")
    for key, s in result["summary"].items():
        reach = s["reach_compute"]
        reached = _num(reach["mean"], ".3g", f"never on {s['seeds'] - reach['reached']} of {s['seeds']}")
        out.add_row(
            key,
            f"{_num(s['best_val']['mean'], '.4f')} ± {_num(s['best_val']['std'], '.4f')}",
            f"{_num(s['test']['mean'], '.4f')} ± {_num(s['test']['std'], '.4f')}",
            _num(s["compute"]["mean"], ".3g"),
            _num(s["compute_ratio"]["mean"], ".2f"),
            reached,
            _num(s["wall_seconds"]["mean"], ".0f"),
            _num(s["children"]["mean"], ".0f"),
            _num(s["pruned"]["mean"], ".0f"),
            _goal_cell(s["goal"]),
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--seeds", help="comma-separated (default: 0,1,2; tiny: 0,1)")
    parser.add_argument("--device", help="where children train (cpu, cuda; default: the evaluator's auto)")
    parser.add_argument("--storage", help="the studies' file (default: benchmarks/results/multi_fidelity_SCALE.db)")
    parser.add_argument("--out", help="the JSON file (default: benchmarks/results/multi_fidelity_SCALE.json)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = parser.parse_args(argv)
    if args.seeds is not None:
        try:
            seeds = [int(s) for s in args.seeds.split(",")]
        except ValueError:
            parser.error(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. 0,1,2")
        if not seeds or min(seeds) < 0:
            parser.error("--seeds: give at least one seed, none negative")
    if args.scale != "tiny":  # a tiny run keeps its studies in memory and writes no file unless told
        args.storage = args.storage or str(RESULTS / f"multi_fidelity_{args.scale}.db")
        args.out = args.out or str(RESULTS / f"multi_fidelity_{args.scale}.json")
    log = Console(stderr=True)
    result = run(args, log)
    if args.out is not None:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        console = Console()
        console.width = max(console.width, 170)  # ten columns: wrap lines rather than cut figures
        console.print(table(result))
        met = result["goal"]["met_by"]
        console.print(f"goal: {result['goal']['statement']}: {'met by ' + ', '.join(met) if met else 'not met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
