"""How fast is ranking a whole expansion? The paper's last round, naive way against the project's.

In the round for b = 5 the search scores every child of K = 256 kept 4-block
cells: 256 x 1176 = 301,056 cells (docs/paper.md, section 3), with a 5-member
ensemble (hidden and embedding size 100, docs/paper.md, section 4). This
benchmark builds 256 random 4-block parents, a 5-member LSTM ensemble and a
5-member MLP ensemble, fits them briefly on random targets (so that scores spread), and
times in the same run, with the same torch thread count:

- naive: each member's plain forward (``nn.LSTM``; the MLP's forward) over
  every child's full token sequence, in batches of 8192, on children already
  encoded (encoding is timed apart, so it does not count against the naive way);
- fast: ``predict_children(space, parents)``, the path
  :func:`pnas.predictors.ranking.score_expansion` takes: from the parents to
  the scores of all their children.

Enumerating the children as cell objects is needed by any ranking (the search
must know which cells it picked) and is reported apart as ``enumerate_s``;
``score_expansion_*_s`` times the whole call, enumeration included.

    python benchmarks/predictor_speed.py [--json] [--threads 2]

With ``--json`` one JSON object goes to stdout and progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from pnas.predictors import create_predictor, score_expansion
from pnas.predictors.ranking import expand
from pnas.predictors.tokens import encode_cells
from pnas.space import Cell, PnasSpace


def random_parents(space: PnasSpace, count: int, blocks: int, seed: int) -> list[Cell]:
    rng = random.Random(seed)
    parents: dict[Cell, None] = {}
    while len(parents) < count:
        parents[Cell(space.random_cell(rng).blocks[:blocks])] = None
    return list(parents)


def same_top_k(naive: np.ndarray, fast: np.ndarray, k: int, tie: float = 1e-6) -> bool:
    """Whether both score vectors pick the same top ``k``, up to ties within ``tie``."""
    a = set(np.argsort(-naive, kind="stable")[:k].tolist())
    b = set(np.argsort(-fast, kind="stable")[:k].tolist())
    edge_naive = np.sort(naive)[::-1][k - 1]
    edge_fast = np.sort(fast)[::-1][k - 1]
    return all(abs(naive[i] - edge_naive) <= tie and abs(fast[i] - edge_fast) <= tie for i in a ^ b)


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--parents", type=int, default=256, help="kept parents (default 256, the paper's K)")
    parser.add_argument("--blocks", type=int, default=4, help="blocks of each parent (default 4)")
    parser.add_argument("--members", type=int, default=5, help="ensemble size (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for both ways (default 2)")
    parser.add_argument("--top-k", type=int, default=256, help="how many children are compared for same_top_k")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    log = Console(stderr=True).log
    torch.set_num_threads(args.threads)
    space = PnasSpace(args.blocks + 1)

    parents = random_parents(space, args.parents, args.blocks, args.seed)
    children, enumerate_s = timed(lambda: expand(space, parents))
    tokens, encode_s = timed(lambda: encode_cells(space, children))
    log(
        f"{len(children)} children of {len(parents)} parents (enumerated in {enumerate_s:.2f}s, encoded in {encode_s:.2f}s)"
    )

    rng = random.Random(args.seed + 1)
    train = [Cell(space.random_cell(rng).blocks[: rng.randint(1, args.blocks + 1)]) for _ in range(300)]
    targets = [rng.random() for _ in train]
    report: dict = {
        "children": len(children),
        "parents": len(parents),
        "members": args.members,
        "threads": torch.get_num_threads(),
        "enumerate_s": round(enumerate_s, 3),
        "encode_s": round(encode_s, 3),
    }
    diffs, agree = [], []
    for name in ("lstm", "mlp"):
        ensemble = create_predictor(
            name, space, seed=args.seed, ensemble=args.members, hidden=100, embedding=100, epochs=3
        )
        _, fit_s = timed(lambda: ensemble.fit(train, targets))
        log(f"{name}: fitted {args.members} members on random targets in {fit_s:.1f}s; scoring the naive way")

        def naive_scores():
            return np.mean([member.predict_tokens(tokens) for member in ensemble.members], axis=0)

        naive, naive_s = timed(naive_scores)
        log(f"{name}: naive {naive_s:.2f}s; scoring the fast way")
        fast, fast_s = timed(lambda: ensemble.predict_children(space, parents))
        (_, via_ranking), end_to_end_s = timed(lambda: score_expansion(ensemble, space, parents))
        diff = float(np.max(np.abs(naive.astype(np.float64) - fast)))
        same = same_top_k(naive, fast, args.top_k) and np.array_equal(via_ranking, fast.astype(np.float64))
        log(
            f"{name}: fast {fast_s:.2f}s ({naive_s / fast_s:.1f}x), max |diff| {diff:.2e}, same top {args.top_k}: {same}"
        )
        report |= {
            f"naive_{name}_s": round(naive_s, 3),
            f"fast_{name}_s": round(fast_s, 3),
            f"{name}_speedup": round(naive_s / fast_s, 2),
            f"score_expansion_{name}_s": round(end_to_end_s, 3),
            f"{name}_max_abs_score_diff": diff,
            f"{name}_same_top_k": same,
            f"{name}_score_std": float(np.std(fast)),
        }
        diffs.append(diff)
        agree.append(same)
    report["max_abs_score_diff"] = max(diffs)
    report["same_top_k"] = all(agree)
    report["top_k"] = args.top_k

    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        table = Table(
            title=f"Scoring {len(children):,} children of {len(parents)} parents, {args.members}-member ensembles, {report['threads']} threads"
        )
        for column in (
            "predictor",
            "naive (s)",
            "fast (s)",
            "speed-up",
            "score_expansion (s)",
            "max |diff|",
            f"same top {args.top_k}",
        ):
            table.add_column(column, justify="right")
        for name in ("lstm", "mlp"):
            table.add_row(
                name,
                f"{report[f'naive_{name}_s']:.2f}",
                f"{report[f'fast_{name}_s']:.2f}",
                f"{report[f'{name}_speedup']:.1f}x",
                f"{report[f'score_expansion_{name}_s']:.2f}",
                f"{report[f'{name}_max_abs_score_diff']:.1e}",
                str(report[f"{name}_same_top_k"]),
            )
        Console(width=120).print(table)
        print(f"enumerating the children: {enumerate_s:.2f}s; encoding them for the naive way: {encode_s:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
