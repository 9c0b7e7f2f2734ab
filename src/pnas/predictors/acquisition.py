"""Choosing cells to train from an ensemble's predictions: its mean, or its mean and spread.

The paper ranks children by the ensemble's mean predicted accuracy. With few trained cells the
mean is often wrong where the members disagree, and a search that never trains such cells never
learns it was wrong there. An acquisition function trades the two: ``ucb`` adds ``kappa`` spreads
to the mean, ``ei`` is the expected improvement over the best accuracy trained so far under a
normal belief of that mean and spread (Jones et al., 1998), ``thompson`` ranks by the predictions
of one member drawn at random for each cell to choose (a posterior sample, as an ensemble gives
one; White et al.'s BANANAS, 2021, found such sampling competitive).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

from pnas.predictors.base import Ensemble, PredictsMembers
from pnas.predictors.options import ACQUISITIONS as ACQUISITIONS  # re-exported: the names of the functions here

SPREAD_FLOOR = 1e-6
"""A spread below this is taken as this: members that agree exactly still leave some doubt."""


def check_acquisition(name: str, kappa: float) -> tuple[str, float]:
    """The acquisition's name and ``kappa``, or a ValueError naming what is wrong."""
    if name not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition {name!r}: choose one of {', '.join(ACQUISITIONS)}")
    if not kappa >= 0:
        raise ValueError(f"kappa must be >= 0, got {kappa!r}")
    return name, float(kappa)


def member_predictions(predictor: Any, cells: Sequence[Any]) -> np.ndarray:
    """[members, len(cells)]: each ensemble member's predictions (one row for a single model)."""
    if isinstance(predictor, PredictsMembers):
        return np.asarray(predictor.predict_members(cells), dtype=np.float64)
    if isinstance(predictor, Ensemble) and predictor.members:
        return np.stack([np.asarray(m.predict(cells), dtype=np.float64) for m in predictor.members])
    return np.asarray(predictor.predict(cells), dtype=np.float64)[None, :]


def scores(name: str, members: np.ndarray, *, best: float, kappa: float = 1.0) -> np.ndarray:
    """One score per candidate, higher is better, for ``mean``, ``ucb`` and ``ei``."""
    mean = np.asarray(members.mean(axis=0), dtype=np.float64)
    if name == "mean":
        return mean
    spread = np.maximum(members.std(axis=0), SPREAD_FLOOR)
    if name == "ucb":
        return np.asarray(mean + kappa * spread, dtype=np.float64)
    if name == "ei":
        z = (mean - best) / spread
        return np.asarray((mean - best) * norm.cdf(z) + spread * norm.pdf(z), dtype=np.float64)
    raise ValueError(f"unknown acquisition {name!r}: choose one of {', '.join(ACQUISITIONS)}")


def choose(
    name: str,
    members: np.ndarray,
    k: int,
    *,
    best: float,
    kappa: float = 1.0,
    rng: np.random.Generator | None = None,
) -> list[int]:
    """Indices of the ``k`` candidates to train, best first (ties: the earlier candidate).

    ``thompson`` draws one member per pick (from ``rng``) and takes the candidate it rates
    highest among those not yet picked.
    """
    count = members.shape[1]
    k = min(k, count)
    if name != "thompson":
        order = np.argsort(-scores(name, members, best=best, kappa=kappa), kind="stable")
        return [int(i) for i in order[:k]]
    if rng is None:
        raise ValueError("thompson sampling needs a random generator")
    taken = np.zeros(count, dtype=bool)
    picks: list[int] = []
    for _ in range(k):
        row = np.where(taken, -np.inf, members[int(rng.integers(members.shape[0]))])
        pick = int(np.argmax(row))
        taken[pick] = True
        picks.append(pick)
    return picks
