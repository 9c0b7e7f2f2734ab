"""Pareto fronts, crowding and hypervolume over a study's objectives, on pymoo's implementations.

Objectives come in two senses: accuracy is maximised, costs (parameters, mult-adds, latency)
are minimised. Every function takes the points as rows of an array with one column per
objective and ``maximize`` saying which columns are maximised; internally everything is
turned into minimisation, pymoo's convention.

Keeping K cells by fronts, then by crowding distance within the last front that fits
(NSGA-II's survival, Deb et al. 2002), reduces to the paper's "top K by predicted
accuracy" when accuracy is the only objective: every front is then one cell, or a tie.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

OBJECTIVES: dict[str, bool] = {"accuracy": True, "params": False, "mult_adds": False, "latency": False}
"""Objective name -> maximised (True) or minimised (False)."""


def _minimization(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.size == 0:
        return np.zeros((0, len(maximize)))
    if array.ndim != 2 or array.shape[1] != len(maximize):
        raise ValueError(f"points must be rows of {len(maximize)} objectives, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("objective values must be finite numbers")
    return np.where(np.asarray(maximize, dtype=bool), -array, array)


def pareto_fronts(
    points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool], stop_after: int | None = None
) -> list[np.ndarray]:
    """Indices of the points by non-dominated front, best front first (fronts stop once ``stop_after``
    points are ranked). Equal points share a front."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    values = _minimization(points, maximize)
    if len(values) == 0:
        return []
    fronts = NonDominatedSorting().do(values, n_stop_if_ranked=stop_after or len(values))
    return [np.sort(np.asarray(front, dtype=int)) for front in fronts]


def non_dominated(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """Indices of the points no other point dominates, in order."""
    fronts = pareto_fronts(points, maximize, stop_after=1)
    return fronts[0] if fronts else np.zeros(0, dtype=int)


def crowding_distance(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """NSGA-II's crowding distance of each point within its set: infinite at each objective's extremes,
    larger where the neighbours are farther apart."""
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance

    values = _minimization(points, maximize)
    if len(values) <= 2:
        return np.full(len(values), np.inf)
    return np.asarray(calc_crowding_distance(values), dtype=float)


def select(points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool], k: int) -> np.ndarray:
    """Indices of ``k`` points: whole fronts while they fit, then the most crowding-distant of the next
    front (ties by index, so the choice is deterministic)."""
    values = np.asarray(points, dtype=float)
    chosen: list[int] = []
    for front in pareto_fronts(values, maximize, stop_after=k):
        room = k - len(chosen)
        if room <= 0:
            break
        if len(front) <= room:
            chosen.extend(int(i) for i in front)
            continue
        distance = crowding_distance(values[front], maximize)
        order = sorted(range(len(front)), key=lambda j: (-distance[j], int(front[j])))
        chosen.extend(int(front[j]) for j in order[:room])
    return np.asarray(chosen, dtype=int)


def hypervolume(
    points: np.ndarray | Sequence[Sequence[float]], maximize: Sequence[bool], reference: Sequence[float]
) -> float:
    """The volume dominated by the points and bounded by ``reference`` (in the objectives' own units and
    senses: for a maximised objective, the worst value counted; for a minimised one, the largest).
    Points beyond the reference add nothing. With a fixed reference it never falls as points are added."""
    from pymoo.indicators.hv import HV

    values = _minimization(points, maximize)
    ref = _minimization([reference], maximize)[0]
    inside = values[(values < ref).all(axis=1)]
    if len(inside) == 0:
        return 0.0
    return float(HV(ref_point=ref)(inside))
