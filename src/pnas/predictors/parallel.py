"""Spread independent chunks of work over threads, each running torch single-threaded.

Scoring an expansion is many small elementwise ops. With torch's own
intra-op threads every op waits at a barrier for all of them, which on a
busy machine makes each op many times slower; independent chunks on
separate threads never wait for each other. Torch releases the GIL inside
its ops, so the threads run in parallel. Each chunk is computed the same way
whatever the thread count, so results do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch


def run_chunks(total: int, chunk: int, work: Callable[[int, int], None], workers: int) -> None:
    """Call ``work(start, stop)`` for consecutive chunks of ``range(total)`` on ``workers`` threads.

    Each call runs in inference mode; ``work`` must write only its own slice
    of the output. Call it inside ``torch_threads(1)``: torch's own threads
    would spin between ops and take the cores from the workers.
    """
    bounds = [(start, min(start + chunk, total)) for start in range(0, total, chunk)]

    def run(bound: tuple[int, int]) -> None:
        with torch.inference_mode():
            work(*bound)

    if workers <= 1 or len(bounds) <= 1:
        for bound in bounds:
            run(bound)
        return
    with ThreadPoolExecutor(min(workers, len(bounds))) as pool:
        list(pool.map(run, bounds))
