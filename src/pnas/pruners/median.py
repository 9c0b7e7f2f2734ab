"""The median rule (Optuna's MedianPruner, Google Vizier's median stopping rule).

A trial stops at a step when its value is below the median (or another percentile) of the values the
trials numbered below it reported at the same step; never before ``warmup_steps``, and never while fewer
than ``startup_trials`` of them reported that step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pnas.config import Options, build_options, option
from pnas.pruners.base import PRUNERS, Pruner


@dataclass(frozen=True)
class MedianOptions(Options):
    percentile: float = option(
        50.0, "Stop a child whose value at a step is below this percentile of earlier children's (50: the median).",
        low=0, high=100,
    )  # fmt: skip
    warmup_steps: int = option(0, "Never stop a child at a step below this one.", low=0)
    startup_trials: int = option(
        5, "Never stop a child at a step that fewer earlier children than this reported.", low=0
    )


class MedianPruner(Pruner):
    """``MedianPruner(percentile=25)`` or ``MedianPruner(MedianOptions(...))``."""

    name = "median"
    options: MedianOptions

    def __init__(self, options: MedianOptions | None = None, **values: Any) -> None:
        self.options = build_options(MedianOptions, options, values)

    def should_prune(self, number: int, step: int, value: float, peers: Sequence[float]) -> bool:
        o = self.options
        if step < o.warmup_steps or len(peers) < max(1, o.startup_trials):
            return False
        return bool(value < float(np.percentile(np.asarray(peers, dtype=np.float64), o.percentile)))


PRUNERS.register(
    "median",
    MedianPruner,
    options=MedianOptions,
    help="Stop a child below the median (or a percentile) of earlier children at the same step.",
)
