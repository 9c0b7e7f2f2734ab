"""One setting shared by trainers, predictors and controllers: torch's intra-op thread count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the body with ``count`` torch threads (None: unchanged), then restore the previous count.

    Small models gain nothing from more threads, and on a busy CPU extra threads
    make each step many times slower; results also depend on the count (float
    sums are split differently), so fixing it keeps results reproducible. The
    setting is process-wide: enter this from one thread at a time.
    """
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
