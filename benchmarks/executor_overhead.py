"""What scheduling one child costs through Ray, against the local process pool, measured in one run.

Both executors run the same children on this machine with two workers: the
synthetic evaluator, so that a child's own work is known exactly (``--delay``
seconds of sleep, 0 by default: pure scheduling). A child's overhead is the
wall time beyond that work, per child:

    overhead = (wall - children x delay / workers) / children x workers

that is, how long each worker slot spends on a child beyond the child itself
(sending the job, starting it, returning the result). Start-up (spawning the
pool's workers, starting a local Ray instance) is measured apart, as it is
paid once per search.

    python benchmarks/executor_overhead.py [--children 200] [--delay 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.execution.base import Job
from pnas.execution.local import ProcessPoolExecutor
from pnas.space import PnasSpace

WORKERS = 2


def _jobs(children: int) -> list[Job]:
    import random

    space, rng = PnasSpace(3), random.Random(0)
    cells = list(dict.fromkeys(str(space.random_cell(rng)) for _ in range(children * 3)))[:children]
    return [Job(c, c) for c in cells]


def _measure(executor, jobs: list[Job], delay: float) -> dict:
    warm = list(executor.run(jobs[:WORKERS]))  # workers started and warm: start-up is measured apart
    assert all(o.result is not None for o in warm)
    started = time.perf_counter()
    outcomes = list(executor.run(jobs))
    wall = time.perf_counter() - started
    assert len(outcomes) == len(jobs) and all(o.result is not None for o in outcomes)
    work = len(jobs) * delay / WORKERS
    return {"wall_s": wall, "per_child_overhead_s": (wall - work) / len(jobs) * WORKERS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds of work per child")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    jobs = _jobs(args.children + WORKERS)
    warmup, jobs = jobs[:WORKERS], jobs[WORKERS:]
    evaluator = SyntheticEvaluator(delay=args.delay)

    started = time.perf_counter()
    with ProcessPoolExecutor(evaluator.spec(), WORKERS, threads=1) as pool:
        list(pool.run(warmup))
        pool_startup = time.perf_counter() - started
        local = {"startup_s": pool_startup, **_measure(pool, jobs, args.delay)}

    from pnas.execution.ray import RayExecutor, import_ray

    ray = import_ray()
    started = time.perf_counter()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=WORKERS, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    with RayExecutor(evaluator) as executor:
        list(executor.run(warmup))
        ray_startup = time.perf_counter() - started
        via_ray = {"startup_s": ray_startup, **_measure(executor, jobs, args.delay)}
    ray.shutdown()

    doc = {
        "children": len(jobs),
        "workers": WORKERS,
        "delay_s": args.delay,
        "local_pool": local,
        "ray": via_ray,
        "overhead_ratio_ray_vs_pool": via_ray["per_child_overhead_s"] / local["per_child_overhead_s"],
        "cpus": os.cpu_count(),
        "ray_version": ray.__version__,
    }
    if args.json:
        print(json.dumps(doc))
        return
    for name in ("local_pool", "ray"):
        d = doc[name]
        print(f"{name:>10}: start-up {d['startup_s']:.2f} s, {doc['children']} children in {d['wall_s']:.2f} s, "
              f"overhead per child {d['per_child_overhead_s'] * 1000:.1f} ms", file=sys.stderr)  # fmt: skip
    print(f"Ray's overhead per child is {doc['overhead_ratio_ray_vs_pool']:.1f}x the local pool's", file=sys.stderr)


if __name__ == "__main__":
    main()
