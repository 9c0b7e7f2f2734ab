"""Rank a whole expansion: every child of every kept parent, scored by a predictor.

In the paper's last round that is 256 parents x 1176 children, about 301,000
cells per round (docs/paper.md, section 3). A predictor that has
``predict_children(space, parents)`` scores them from the parents directly
(see :mod:`pnas.predictors.expansion`); any other is called on the children
in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pnas.predictors.base import Ensemble, ScoresChildren, ScoresExpansion
from pnas.space.base import SearchSpace

BATCH = 16384
"""Children per ``predict`` call on the slow path (bounds memory)."""


def expand(space: SearchSpace, parents: Sequence[Any]) -> list[Any]:
    """Every child of every parent: parent order, then ``space.children`` order."""
    return [child for parent in parents for child in space.children(parent)]


def score_expansion(predictor: Any, space: SearchSpace, parents: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """All children of ``parents`` and the predictor's score of each, in the same order."""
    children = expand(space, parents)
    if isinstance(predictor, ScoresChildren) and space.children_append_one_block:
        scores = np.asarray(predictor.predict_children(space, parents), dtype=np.float64)
    else:
        parts = [np.asarray(predictor.predict(children[s : s + BATCH])) for s in range(0, len(children), BATCH)]
        scores = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
    if scores.shape != (len(children),):
        raise ValueError(f"the predictor returned {scores.shape} scores for {len(children)} children")
    return children, scores


def member_scores_expansion(predictor: Any, space: SearchSpace, parents: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """All children of ``parents`` and each ensemble member's score of them: [members, children]
    (one row for a predictor that is not an ensemble). The expansion is laid out once for all members."""
    members = list(predictor.members) if isinstance(predictor, Ensemble) and predictor.members else [predictor]
    if len(members) == 1:
        children, scores = score_expansion(members[0], space, parents)
        return children, scores[None, :]
    if space.children_append_one_block and all(isinstance(m, ScoresExpansion) for m in members):
        from pnas.predictors.expansion import build_expansion

        expansion = build_expansion(space, parents)
        rows = [np.asarray(m.predict_expansion(expansion), dtype=np.float64) for m in members]
        return expand(space, parents), np.stack(rows)
    rows = []
    for member in members:
        children, scores = score_expansion(member, space, parents)
        rows.append(scores)
    return children, np.stack(rows)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties: the earlier child first)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    return order[: max(0, k)]
