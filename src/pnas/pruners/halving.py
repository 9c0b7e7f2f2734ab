"""Successive halving, asynchronous (ASHA, Li et al. 2020), in trial order.

Rungs lie at steps ``min_steps * eta**k`` (k = 0, 1, ...). At a rung, a trial competes with the trials
numbered below it that reached the rung (``peers``): of the ``n = len(peers) + 1`` values, only the top
``max(1, n // eta)`` continue. A trial continues when fewer than that many peers did strictly better;
between rungs nothing is stopped. The first trial always continues.

With ``ladder`` (the default of new studies) it also runs the progressive search's rounds as a fidelity
ladder: a round starts ``K * eta**s`` children for K to finish (s: the rungs at or below the last step a
child reports), and at each rung its children compete with the earlier children *of their round* for a
fixed number of places (:meth:`SuccessiveHalving.places`); see docs/pruning.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pnas.config import Options, build_options, option
from pnas.pruners.base import PRUNERS, Ladder, Pruner


@dataclass(frozen=True)
class HalvingOptions(Options):
    min_steps: int = option(1, "The first rung: the step at which children are first compared.", low=1)
    eta: int = option(3, "Rungs lie at min_steps * eta^k; at each, the top 1/eta continue.", low=2)
    ladder: bool = option(
        True,
        "With a strategy that runs rounds (the progressive search): start K * eta^s children of a round so that "
        "the K best by their reported values finish (s: the rungs a child reports); false: every child is judged "
        "alone.",
        legacy=False,
    )


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

    def rungs(self, last_step: int) -> list[int]:
        """The rungs at or below ``last_step``, rising."""
        found, rung = [], self.options.min_steps
        while rung <= last_step:
            found.append(rung)
            rung *= self.options.eta
        return found

    def should_prune(self, number: int, step: int, value: float, peers: Sequence[float]) -> bool:
        if not self.rung(step):
            return False
        keep = max(1, (len(peers) + 1) // self.options.eta)
        return sum(peer > value for peer in peers) >= keep

    def widening(self, finish: int, last_step: int) -> int:
        """``finish * eta**s`` with ``ladder`` (s: the rungs at or below ``last_step``), else ``finish``."""
        if not self.options.ladder:
            return finish
        return int(finish * self.options.eta ** len(self.rungs(last_step)))

    def places(self, ladder: Ladder, rungs: int) -> list[int]:
        """How many children of a ladder round continue past each of its first ``rungs`` rungs: past rung k,
        ``max(finish, started // eta**(k+1))``, never more than reached it (the places of rung k-1). A round
        started with ``widening(K)`` children keeps 1/eta at each rung and ends with K; a larger one (the
        progressive search's first round) keeps 1/eta too, a smaller one keeps K."""
        places, reached = [], ladder.started
        for k in range(rungs):
            reached = min(reached, max(ladder.finish, ladder.started // self.options.eta ** (k + 1)))
            places.append(reached)
        return places

    def should_prune_in_round(
        self, step: int, value: float, earlier: Sequence[tuple[float, bool]], ladder: Ladder
    ) -> bool:
        """At a rung, with ``j`` earlier arrivals of the round of which ``p`` continued, ``A`` planned arrivals
        (the round's size at the first rung, the places of the rung below at the others) and ``q`` places:
        stop when the places are taken (``p >= q``); continue when every arrival still to come is needed to
        fill them (``A - j <= q - p``); otherwise continue when fewer than ``max(1, (j + 1) * q // A)`` earlier
        arrivals did strictly better (successive halving's rule at the rung's own rate, ``1/eta`` in a
        widened round)."""
        if not self.rung(step):
            return False
        rungs = self.rungs(max(step, ladder.last_step))
        k = rungs.index(step)
        places = self.places(ladder, k + 1)
        arrivals = ladder.started if k == 0 else places[k - 1]
        quota = places[k]
        seen = len(earlier)
        promoted = sum(continued for _, continued in earlier)
        if promoted >= quota:
            return True
        if arrivals - seen <= quota - promoted:
            return False
        better = sum(other > value for other, _ in earlier)
        return better >= max(1, (seen + 1) * quota // arrivals)


PRUNERS.register(
    "successive-halving",
    SuccessiveHalving,
    options=HalvingOptions,
    help="Compare children at rungs min_steps * eta^k; only the top 1/eta of each rung continue (the "
    "progressive search: K * eta^s start per round, K finish).",
)
