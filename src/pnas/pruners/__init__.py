"""Pruners: rules that stop a losing child before its last step (see :mod:`pnas.pruners.base`).

Registered: ``none`` (never), ``median`` and ``successive-halving``; plugins add more through the
``pnas.pruners`` entry-point group. How each keeps a study deterministic: docs/pruning.md.
"""

from pnas.pruners.base import PRUNERS, Ladder, Pruner
from pnas.pruners.halving import HalvingOptions, SuccessiveHalving
from pnas.pruners.median import MedianOptions, MedianPruner
from pnas.pruners.none import NoPruner

__all__ = [
    "PRUNERS",
    "HalvingOptions",
    "Ladder",
    "MedianOptions",
    "MedianPruner",
    "NoPruner",
    "Pruner",
    "SuccessiveHalving",
]
