"""The predictor contract: anything with ``fit(cells, accuracies)`` and ``predict(cells)``.

Predictors see cells only through ``space.encode`` (see
:class:`pnas.space.base.TokenSpec`), so one predictor works on every space.
Accuracies are fractions in [0, 1]; predictions are too.

What a predictor may do beyond that is a typed protocol, checked with
``isinstance`` where it is used (never by probing for a method's name):
:class:`Stateful` (``state_dict()`` / ``load_state_dict()`` of plain tensors,
so a study can store a round's predictor without pickling),
:class:`ScoresChildren` and :class:`ScoresExpansion` (score whole expansions
fast, see :mod:`pnas.predictors.ranking`), :class:`Ensemble` (its members'
predictions, for acquisition functions) and :class:`HasCostlyFeatures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from pnas.registry import Registry

if TYPE_CHECKING:
    from pnas.predictors.expansion import Expansion
    from pnas.space.base import SearchSpace


@runtime_checkable
class Predictor(Protocol):
    def fit(self, cells: Sequence[Any], accuracies: Sequence[float]) -> None: ...

    def predict(self, cells: Sequence[Any]) -> np.ndarray: ...


@runtime_checkable
class Stateful(Protocol):
    """A predictor whose fitted state is plain tensors, stored with a study and loaded back."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class ScoresChildren(Protocol):
    """A predictor that scores every child of some parents at once, faster than ``predict`` on each
    (for spaces whose children append one block: :attr:`SearchSpace.children_append_one_block`)."""

    def predict_children(self, space: SearchSpace, parents: Sequence[Any]) -> np.ndarray: ...


@runtime_checkable
class ScoresExpansion(Protocol):
    """A predictor that scores a laid-out expansion (:class:`pnas.predictors.expansion.Expansion`)."""

    def predict_expansion(self, expansion: Expansion) -> np.ndarray: ...


@runtime_checkable
class Ensemble(Protocol):
    """A predictor made of members whose spread an acquisition function reads."""

    members: Sequence[Any]


@runtime_checkable
class PredictsMembers(Protocol):
    """An ensemble that gives every member's predictions in one call: ``[members, len(cells)]``."""

    def predict_members(self, cells: Sequence[Any]) -> np.ndarray: ...


@runtime_checkable
class HasCostlyFeatures(Protocol):
    """A predictor whose features build a network per cell (zero-cost proxies): a search computes them
    only for the cells that matter."""

    costly_features: Sequence[str]


class NonFinitePredictions(ValueError):
    """A predictor scored some cells NaN or infinite: nothing can be ranked by such scores."""


def check_predictions(predictions: np.ndarray, predictor: str, round_: int) -> np.ndarray:
    """``predictions`` (any shape) as given when every one is a finite number; else a
    :class:`NonFinitePredictions` naming ``predictor`` and saying how many were not."""
    values = np.asarray(predictions, dtype=np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return predictions
    nan = int(np.isnan(values).sum())
    infinite = values.size - int(finite.sum()) - nan
    bad = " and ".join(f"{count} {what}" for count, what in ((nan, "NaN"), (infinite, "infinite")) if count)
    raise NonFinitePredictions(
        f"predictor {predictor!r} gave {bad} among its {values.size} predictions in round {round_}: "
        "a predictor's scores must be finite numbers; fix the predictor or choose another"
    )


PREDICTORS: Registry[Predictor] = Registry("predictor", "pnas.predictors")
"""name -> factory(space, *, seed=0, ensemble=1, **options). A user's own predictor registers here."""
