"""The pruner that never stops a child: what every study did before pruners existed."""

from __future__ import annotations

from collections.abc import Sequence

from pnas.pruners.base import PRUNERS, Pruner


class NoPruner(Pruner):
    """Every child trains to the end."""

    name = "none"
    prunes = False

    def should_prune(self, number: int, step: int, value: float, peers: Sequence[float]) -> bool:
        return False


PRUNERS.register("none", NoPruner, help="Never stop a child early (every child trains to the end).")
