"""Test-only fault injection: kill this process at a named point.

Set ``PNAS_FAULT_AT=point:n`` to SIGKILL the process the n-th time (1-based)
execution reaches ``point``. Points: ``result_commit`` (inside the
transaction that records a result, before COMMIT), ``between_rounds`` (after
a batch is applied, before the next is asked), ``predictor_fit`` (after a
round's predictor is fitted, before it is stored). Costs one dict lookup when
unset.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def fault_point(point: str) -> None:
    spec = os.environ.get("PNAS_FAULT_AT")
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name != point:
        return
    _hits[point] += 1
    if _hits[point] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
