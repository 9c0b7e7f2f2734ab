"""The predictor contract: anything with ``fit(cells, accuracies)`` and ``predict(cells)``.

Predictors see cells only through ``space.encode`` (see
:class:`pnas.space.base.TokenSpec`), so one predictor works on every space.
Accuracies are fractions in [0, 1]; predictions are too.

Built-in predictors also expose ``state_dict()`` / ``load_state_dict()``
returning plain tensors, so a study can store each round's predictor without
pickling, and may implement ``predict_children(space, parents)`` to score
whole expansions fast (see :mod:`pnas.predictors.ranking`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pnas.registry import Registry


@runtime_checkable
class Predictor(Protocol):
    def fit(self, cells: Sequence[Any], accuracies: Sequence[float]) -> None: ...

    def predict(self, cells: Sequence[Any]) -> np.ndarray: ...


PREDICTORS: Registry[Predictor] = Registry("predictor", "pnas.predictors")
"""name -> factory(space, *, seed=0, ensemble=1, **options). A user's own predictor registers here."""
