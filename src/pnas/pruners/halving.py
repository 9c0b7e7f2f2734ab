"""Successive halving, asynchronous (ASHA, Li et al. 2020), in trial order.

Rungs lie at steps ``min_steps * eta**k`` (k = 0, 1, ...). At a rung, a trial competes with the trials
numbered below it that reached the rung (``peers``): of the ``n = len(peers) + 1`` values, only the top
``max(1, n // eta)`` continue. A trial continues when fewer than that many peers did strictly better;
between rungs nothing is stopped. The first trial always continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pnas.config import Options, build_options, option
from pnas.pruners.base import PRUNERS, Pruner


@dataclass(frozen=True)
class HalvingOptions(Options):
    min_steps: int = option(1, "The first rung: the step at which children are first compared.", low=1)
    eta: int = option(3, "Rungs lie at min_steps * eta^k; at each, the top 1/eta continue.", low=2)


class SuccessiveHalving(Pruner):
    """``SuccessiveHalving(min_steps=1, eta=3)``."""

    name = "successive-halving"
    options: HalvingOptions

    def __init__(self, options: HalvingOptions | None = None, **values: Any) -> None:
        self.options = build_options(HalvingOptions, options, values)

    def rung(self, step: int) -> bool:
        """Whether ``step`` is a rung: ``min_steps * eta**k`` for some k >= 0."""
        rung = self.options.min_steps
        while rung < step:
            rung *= self.options.eta
        return rung == step

    def should_prune(self, number: int, step: int, value: float, peers: Sequence[float]) -> bool:
        if not self.rung(step):
            return False
        keep = max(1, (len(peers) + 1) // self.options.eta)
        return sum(peer > value for peer in peers) >= keep


PRUNERS.register(
    "successive-halving",
    SuccessiveHalving,
    options=HalvingOptions,
    help="Compare children at rungs min_steps * eta^k; only the top 1/eta of each rung continue.",
)
