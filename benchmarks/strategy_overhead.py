"""What each strategy costs beside a child's training: its own seconds per step (fitting, ranking,
bookkeeping), in the PNAS cell space and on NAS-Bench-201, at 50 and 150 models.

Every built-in strategy is built as ``pnas search`` builds it with its defaults on one worker (a
look-up evaluator runs in-process, so the strategies that learn from each batch propose one cell per
step), and searches against a look-up evaluator: the synthetic one in the PNAS space, the shipped
12-epoch table on NAS-Bench-201. Only the strategy's own calls are timed (``ask()``, and ``tell()`` of
each result); the evaluator's time is left out. A step is one ``ask()`` and the ``tell()`` of its
batch: what the driver waits for between children, which is what a user pays per step on top of
training. Each space is the search's default (the PNAS space: cells of 3 blocks). The progressive
search trains every one-block cell first and K per level after, so it runs at the K that comes
nearest the budget, with its own model count (in the PNAS space: 136 one-block cells, so it has no
run at 50 models).

    python benchmarks/strategy_overhead.py [--json] [--budgets 50,150] [--strategies LIST] [--spaces pnas,nb201]

With ``--json`` one JSON object goes to stdout: ``runs``, a list of ``{space, strategy, budget,
models, steps, strategy_s, per_step_s, per_model_s, slowest_step_s}``, and the machine (``cpus``,
``torch_threads``); the table goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

BUDGETS = (50, 150)
SPACES = {"pnas": "synthetic", "nb201": "table"}
"""Each space and the look-up evaluator it is searched with."""
STRATEGIES = ("pnas", "guided", "evolution", "reinforce", "random")


def progressive_beam(space: Any, budget: int) -> int | None:
    """The K whose progressive search trains nearest ``budget`` models (None: even K = 1 trains more)."""
    first, later = len(space.initial_cells()), space.max_level - 1
    beam = round((budget - first) / later) if later else 0
    return beam if beam >= 1 else None


def build(space: str, strategy: str, budget: int) -> tuple[Any, Any] | None:
    """(strategy, evaluator) as ``pnas search`` builds them; None where the strategy cannot run at ``budget``."""
    from pnas.search import SearchConfig, build_search

    options: dict[str, Any] = {"budget": budget}
    if strategy == "pnas":  # in the space as the search builds it (the PNAS space: 3 blocks by default)
        beam = progressive_beam(build_search(SearchConfig(space=space, evaluator=SPACES[space])).space, budget)
        if beam is None:
            return None
        options = {"beam": beam}
    resolved = build_search(SearchConfig(space=space, strategy=strategy, evaluator=SPACES[space], **options))
    resolved.evaluator.prepare()
    return resolved.strategy, resolved.evaluator


def measure(strategy: Any, evaluator: Any) -> dict[str, Any]:
    """Run the search to its end; the strategy's seconds per step, the evaluator's left out."""
    steps: list[float] = []
    models = 0
    while True:
        started = time.perf_counter()
        proposals = strategy.ask()
        spent = time.perf_counter() - started
        if not proposals:
            if steps:
                steps[-1] += spent  # the last ask says the search is over: part of its last step
            break
        results = [evaluator.evaluate(proposal.cell) for proposal in proposals]
        started = time.perf_counter()
        for proposal, result in zip(proposals, results, strict=True):
            strategy.tell(proposal, result)
        steps.append(spent + time.perf_counter() - started)
        models += len(proposals)
    total = sum(steps)
    return {
        "models": models,
        "steps": len(steps),
        "strategy_s": total,
        "per_step_s": total / len(steps),
        "per_model_s": total / models,
        "slowest_step_s": max(steps),
    }


def run(spaces: list[str], strategies: list[str], budgets: list[int], log: Any = sys.stderr) -> dict[str, Any]:
    import torch

    runs = []
    for space in spaces:
        for budget in budgets:
            for strategy in strategies:
                built = build(space, strategy, budget)
                if built is None:
                    print(f"{space} {strategy} {budget}: cannot run at this budget", file=log, flush=True)
                    continue
                entry = {"space": space, "strategy": strategy, "budget": budget, **measure(*built)}
                print(f"{space} {strategy} {budget}: {entry['strategy_s']:.2f} s", file=log, flush=True)
                runs.append(entry)
    return {"runs": runs, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def print_table(result: dict[str, Any], out: Any) -> None:
    print(f"{'space':<6} {'strategy':<10} {'models':>6} {'steps':>5} {'per step':>10} {'slowest':>10} "
          f"{'per model':>10} {'total':>8}", file=out)  # fmt: skip
    for r in result["runs"]:
        print(f"{r['space']:<6} {r['strategy']:<10} {r['models']:>6} {r['steps']:>5} {_ms(r['per_step_s']):>10} "
              f"{_ms(r['slowest_step_s']):>10} {_ms(r['per_model_s']):>10} {r['strategy_s']:>7.1f}s", file=out)  # fmt: skip


def _ms(seconds: float) -> str:
    if seconds < 0.01:
        return f"{seconds * 1000:.2f} ms"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _names(text: str, known: tuple[str, ...] | list[str], what: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        parser.error(f"unknown {what}: {', '.join(unknown) or '(none given)'}; choose from {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (the table to stderr)")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="models per search (default 50,150)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (default: all)")
    parser.add_argument("--spaces", default=",".join(SPACES), help="comma-separated (default: pnas,nb201)")
    args = parser.parse_args(argv)
    try:
        budgets = [int(b) for b in args.budgets.split(",")]
    except ValueError:
        parser.error(f"--budgets is a list of whole numbers, got {args.budgets!r}")
    if any(b < 1 for b in budgets):
        parser.error("--budgets must be at least 1")
    result = run(
        _names(args.spaces, list(SPACES), "space", parser),
        _names(args.strategies, STRATEGIES, "strategy", parser),
        budgets,
    )
    print_table(result, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
