"""Multi-objective and constrained search, measured.

Part 1, NAS-Bench-201 (accuracy from the table, parameters from the project's NB201 networks):
the hypervolume of the trained front (validation accuracy up, parameters down) at equal numbers
of trained models, for the progressive Pareto search, random search and Pareto evolution, plus
the progressive search on accuracy alone as a control (what ranking by fronts adds), over
``--seeds`` seeds each. The hypervolume is the study's own: accuracy from 0, parameters divided
by the space's largest network (all-``nor_conv_3x3``, 1,531,546), so 1.0 is the unit box; the
front of all 15,625 cells of the table is printed beside it as the best any search can reach.
At each budget M the progressive search runs with the widest beam K whose models (24 + 5K)
do not exceed M, so it never trains more than the others.

Part 2, Fashion-MNIST in the PNAS space with the default proxy of ``pnas search``: every
strategy under ``--max-mult-adds`` set to the median mult-adds of the 136 one-block cells'
networks, at equal numbers of trained models (as many as the constrained progressive search
trains with ``--blocks`` and ``--beam``: the one-block cells under the cap, then K per level):
the best validation accuracy found under the cap, and how many trained cells were over it
(none should be: the cap is known before training). Studies are kept
in ``--storage`` so a second run resumes and reuses them.

    python benchmarks/multi_objective.py [--json] [--seeds 20] [--skip-fashion-mnist]

With ``--json`` one JSON object goes to stdout (tables and progress to stderr).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pnas.evaluation.table import TableEvaluator
from pnas.pareto import hypervolume
from pnas.space import Nb201Space

BUDGETS = (50, 100, 200)
FIRST_ROUND = 24
"""NB201 cells with one edge that is not ``none``: the progressive search's first round."""

DEFAULT_STORAGE = Path(__file__).resolve().parent / "results" / "multi_objective.db"


def beam_for(budget: int) -> int:
    """The widest beam whose progressive search on NB201 (24 + 5K models) fits in ``budget``."""
    return max(1, (budget - FIRST_ROUND) // 5)


def nb201_job(job: tuple[str, int, int]) -> dict[str, Any]:
    """One strategy, one seed, one budget: (validation accuracy, params) of every trained cell, in order."""
    key, seed, budget = job
    import torch

    from pnas.strategies import STRATEGIES

    torch.set_num_threads(1)
    evaluator = TableEvaluator()
    space = Nb201Space()
    pareto = {"objectives": "accuracy,params"}
    if key == "pnas":
        options: dict[str, Any] = {"beam": beam_for(budget), "predictor": "mlp", "ensemble": 1, **pareto}
    elif key == "pnas_accuracy_only":
        options = {"beam": beam_for(budget), "predictor": "mlp", "ensemble": 1}
    else:
        options = {"budget": budget, **pareto}
    name = "pnas" if key.startswith("pnas") else key
    strategy = STRATEGIES.create(name, space, seed=seed, **options)
    strategy.use_cost_model(evaluator.cost_model())
    points: list[tuple[float, int]] = []
    while proposals := strategy.ask():
        for proposal in proposals:
            result = evaluator.evaluate(proposal.cell)
            points.append((result.accuracy, int(result.params or 0)))
            strategy.tell(proposal, result)
    return {"key": key, "seed": seed, "budget": budget, "points": points}


def front_volume(points: list[tuple[float, int]], bound: int) -> float:
    """The hypervolume of (accuracy, params / bound) from the reference (0, 1), as a study reports it."""
    if not points:
        return 0.0
    normalised = [(a, p / bound) for a, p in points]
    return hypervolume(normalised, [True, False], [0.0, 1.0])


def run_nb201(seeds: int, workers: int, log: Any) -> dict[str, Any]:
    evaluator = TableEvaluator()
    costs = evaluator.cost_model()
    bound = costs.bound(6)[0]
    everything = [(row["cifar10-val"] / 100.0, costs(cell)[0]) for cell, row in evaluator.table.rows.items()]
    best_possible = front_volume(everything, bound)
    keys = ("pnas", "random", "evolution", "pnas_accuracy_only")
    jobs = [(key, seed, budget) for budget in BUDGETS for key in keys for seed in range(seeds)]
    started = time.perf_counter()
    outcomes: list[dict[str, Any]] = []
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for i, outcome in enumerate(pool.imap_unordered(nb201_job, jobs), start=1):
            outcomes.append(outcome)
            if i % 40 == 0 or i == len(jobs):
                print(f"  NB201: {i}/{len(jobs)} runs, {time.perf_counter() - started:.0f} s", file=log, flush=True)
    table: dict[str, Any] = {}
    for key in keys:
        table[key] = {}
        for budget in BUDGETS:
            runs = [o for o in outcomes if o["key"] == key and o["budget"] == budget]
            volumes = [front_volume(o["points"][:budget], bound) for o in runs]
            table[key][str(budget)] = {
                "models": round(statistics.mean(min(len(o["points"]), budget) for o in runs), 1),
                "hypervolume": statistics.mean(volumes),
                "hypervolume_std": statistics.stdev(volumes) if len(volumes) > 1 else 0.0,
                "fraction_of_best": statistics.mean(volumes) / best_possible,
            }
    return {
        "objectives": ["accuracy", "params"],
        "reference": {"accuracy": 0.0, "params": bound},
        "best_possible_hypervolume": best_possible,
        "seeds": seeds,
        "budgets": list(BUDGETS),
        "beams": {str(b): beam_for(b) for b in BUDGETS},
        "strategies": table,
        "wall_seconds": time.perf_counter() - started,
    }


def run_fashion_mnist(storage: str, blocks: int, beam: int, seeds: int, workers: int, log: Any) -> dict[str, Any]:
    from pnas.search import SearchConfig, build_search, run_search
    from pnas.space import create_space
    from pnas.strategies.base import progressive_model_count

    probe = build_search(SearchConfig(blocks=blocks, beam=beam))
    probe.evaluator.prepare()
    one_block = probe.evaluator.cost_model().costs(create_space("pnas").initial_cells())[:, 1]
    cap = int(np.median(one_block))
    runs: dict[str, list[dict[str, Any]]] = {"pnas": [], "random": [], "evolution": []}
    for seed in range(seeds):
        models = 0
        for strategy in runs:
            budget = {} if strategy == "pnas" else {"budget": models}  # as many models as the progressive search
            config = SearchConfig(
                strategy=strategy, blocks=blocks, beam=beam, seed=seed, workers=workers,
                overrides={"strategy": {"max_mult_adds": cap, **budget}},
            )  # fmt: skip
            started = time.perf_counter()
            name = f"{strategy}-cap{cap}-b{blocks}-k{beam}-seed{seed}"
            print(f"  Fashion-MNIST: {name} ...", file=log, flush=True)
            with run_search(config, storage=storage, study=name) as study:
                done = study.trials("done")
                best = study.best(1)
                if strategy == "pnas":
                    models = len(done)
                runs[strategy].append({
                    "study": name,
                    "models": len(done),
                    "best_accuracy": best[0].accuracy if best else None,
                    "best_cell": best[0].cell if best else None,
                    "best_mult_adds": best[0].mult_adds if best else None,
                    "over_cap": sum((t.mult_adds or 0) > cap for t in done),
                    "seconds": time.perf_counter() - started,
                })  # fmt: skip
    summary = {}
    for strategy, rows in runs.items():
        accuracies = [r["best_accuracy"] for r in rows if r["best_accuracy"] is not None]
        summary[strategy] = {
            "models": statistics.mean(r["models"] for r in rows),
            "best_accuracy": statistics.mean(accuracies),
            "best_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "over_cap": sum(r["over_cap"] for r in rows),
            "runs": rows,
        }
    return {
        "max_mult_adds": cap,
        "one_block_mult_adds": {"min": int(one_block.min()), "median": cap, "max": int(one_block.max())},
        "blocks": blocks,
        "beam": beam,
        "seeds": seeds,
        "unconstrained_progressive_models": progressive_model_count(create_space("pnas", blocks=blocks), beam),
        "strategies": summary,
    }


def cost_model_speed(parents: int = 256, counted: int = 20) -> dict[str, Any]:
    """Seconds to cost a last-round expansion (``parents`` random 4-block cells' children, as the paper's
    K = 256) with the analytic model, against building and counting a sample of the same children."""
    import random

    from pnas.nets import build_cifar_network, count_mult_adds, count_params
    from pnas.nets.costs import CellCostModel
    from pnas.space import create_space

    space = create_space("pnas", blocks=5)
    rng = random.Random(0)
    kept = [space.from_decisions([rng.randrange(n) for n in space.decision_sizes()]) for _ in range(parents)]
    kept = [type(cell)(cell.blocks[:4]) for cell in kept]
    children = [child for cell in kept for child in space.children(cell)]
    model = CellCostModel(in_channels=1, image_size=28, num_classes=10, cells_per_stack=1, filters=8)
    started = time.perf_counter()
    costs = model.costs(children)
    analytic = time.perf_counter() - started
    sample = rng.sample(children, counted)
    started = time.perf_counter()
    for cell, expected in zip(sample, (model(c) for c in sample)):
        net = build_cifar_network(cell, in_channels=1, num_classes=10, cells_per_stack=1, filters=8, image_size=28)
        if (count_params(net), count_mult_adds(net, (1, 28, 28))) != expected:
            raise AssertionError(f"the cost model disagrees with the counted network of {cell}")
    per_counted = (time.perf_counter() - started) / counted
    return {
        "children": len(children),
        "analytic_seconds": analytic,
        "analytic_per_cell_us": analytic / len(children) * 1e6,
        "counted_per_cell_ms": per_counted * 1e3,
        "speedup": per_counted * len(children) / analytic,
        "counted_sample_agrees": True,
        "max_mult_adds": int(costs[:, 1].max()),
    }


def print_tables(result: dict[str, Any], stream: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, width=160)
    speed = result.get("cost_model")
    if speed:
        console.print(
            f"cost model: {speed['children']:,} children of 256 four-block cells costed in "
            f"{speed['analytic_seconds']:.2f} s ({speed['analytic_per_cell_us']:.1f} us a cell); building and "
            f"counting a sample took {speed['counted_per_cell_ms']:.1f} ms a cell: {speed['speedup']:,.0f}x, "
            "same counts"
        )
    nb = result.get("nb201")
    if nb:
        table = Table(
            title=f"NAS-Bench-201, accuracy vs parameters: hypervolume of the trained front "
            f"(mean ± std over {nb['seeds']} seeds; best possible {nb['best_possible_hypervolume']:.4f})"
        )
        table.add_column("strategy")
        for budget in nb["budgets"]:
            table.add_column(f"@{budget} models", justify="right")
        for key, per_budget in nb["strategies"].items():
            cells = [key]
            for budget in nb["budgets"]:
                e = per_budget[str(budget)]
                models = f" [{e['models']:g}]" if key.startswith("pnas") else ""
                cells.append(f"{e['hypervolume']:.4f} ± {e['hypervolume_std']:.4f}{models}")
            table.add_row(*cells)
        console.print(table)
        console.print("\\[models] of the progressive search: 24 + 5K with the widest K that fits the budget")
    fm = result.get("fashion_mnist")
    if fm:
        table = Table(
            title=f"Fashion-MNIST, PNAS space (B = {fm['blocks']}, K = {fm['beam']}): best validation accuracy under "
            f"--max-mult-adds {fm['max_mult_adds']:,} (median of the one-block cells), mean ± std over "
            f"{fm['seeds']} seeds"
        )
        for column in ("strategy", "models", "best val. acc.", "per seed", "over cap"):
            table.add_column(column, justify="left" if column == "strategy" else "right")
        for key, row in fm["strategies"].items():
            per_seed = ", ".join(f"{r['best_accuracy']:.4f}" for r in row["runs"])
            table.add_row(
                key, f"{row['models']:g}", f"{row['best_accuracy']:.4f} ± {row['best_accuracy_std']:.4f}", per_seed,
                str(row["over_cap"]),
            )  # fmt: skip
        console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (tables to stderr)")
    parser.add_argument(
        "--seeds", type=int, default=20, help="NAS-Bench-201 seeds per strategy and budget (default 20)"
    )
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--skip-nb201", action="store_true", help="skip part 1")
    parser.add_argument("--skip-fashion-mnist", action="store_true", help="skip part 2 (the one that trains)")
    parser.add_argument("--blocks", type=int, default=2, help="part 2: blocks per cell (default 2)")
    parser.add_argument("--beam", type=int, default=8, help="part 2: the progressive search's K (default 8)")
    parser.add_argument("--fm-seeds", type=int, default=3, help="part 2: seeds per strategy (default 3)")
    parser.add_argument("--storage", default=str(DEFAULT_STORAGE), help=f"part 2's studies (default {DEFAULT_STORAGE})")
    args = parser.parse_args(argv)
    if args.seeds < 2 or args.workers < 1 or args.blocks < 1 or args.beam < 1 or args.fm_seeds < 1:
        parser.error("--seeds must be >= 2; --workers, --blocks, --beam and --fm-seeds >= 1")
    log = sys.stderr
    started = time.perf_counter()
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "command": "python benchmarks/multi_objective.py"}
    result["cost_model"] = cost_model_speed()
    if not args.skip_nb201:
        result["nb201"] = run_nb201(args.seeds, args.workers, log)
    if not args.skip_fashion_mnist:
        Path(args.storage).parent.mkdir(parents=True, exist_ok=True)
        result["fashion_mnist"] = run_fashion_mnist(
            args.storage, args.blocks, args.beam, args.fm_seeds, args.workers, log
        )
    result["wall_seconds"] = time.perf_counter() - started
    print_tables(result, log if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
