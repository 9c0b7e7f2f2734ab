"""Ridge regression over a cell's one-hot tokens: a predictor in a few lines of numpy.

Each block position gets one one-hot group per token (its inputs and its
operators), so a cell becomes a fixed-length 0/1 vector whatever its size; the
fit is the closed-form ridge solution, deterministic, in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pnas.config import option
from pnas.predictors import PREDICTORS
from pnas.space import SearchSpace


@dataclass(frozen=True)
class RidgeOptions:
    alpha: float = option(1.0, "L2 penalty of the ridge fit (larger: smoother predictions).", low=0)


class RidgePredictor:
    """``fit(cells, accuracies)`` and ``predict(cells)``: all a search needs from a predictor."""

    def __init__(self, space: SearchSpace, *, alpha: float = 1.0) -> None:
        self.space = space
        self.alpha = alpha
        spec = space.token_spec
        self.group_sizes = [spec.input_vocab] * spec.inputs_per_block + [spec.op_vocab] * spec.ops_per_block
        self.width = space.max_level * sum(self.group_sizes)
        self.weights: np.ndarray | None = None
        self.bias = 0.0

    def features(self, cells: Sequence[Any]) -> np.ndarray:
        out = np.zeros((len(cells), self.width))
        block_width = sum(self.group_sizes)
        for row, cell in enumerate(cells):
            for position, (inputs, ops) in enumerate(self.space.encode(cell)):
                offset = position * block_width
                for token, size in zip((*inputs, *ops), self.group_sizes):
                    out[row, offset + token] = 1.0
                    offset += size
        return out

    def fit(self, cells: Sequence[Any], accuracies: Sequence[float]) -> None:
        x, y = self.features(cells), np.asarray(accuracies, dtype=np.float64)
        self.bias = float(y.mean())
        gram = x.T @ x + self.alpha * np.eye(self.width)
        self.weights = np.linalg.solve(gram, x.T @ (y - self.bias))

    def predict(self, cells: Sequence[Any]) -> np.ndarray:
        if self.weights is None:
            raise ValueError("the ridge predictor has not been fitted: call fit() first")
        return self.features(cells) @ self.weights + self.bias


def build_ridge(space: SearchSpace, *, seed: int = 0, ensemble: int = 1, alpha: float = 1.0) -> RidgePredictor:
    """The factory pnas calls: (space, *, seed, ensemble, **options); ridge is deterministic and needs no seed."""
    if ensemble != 1:
        raise ValueError("the ridge predictor is deterministic: an ensemble of it would repeat one member")
    return RidgePredictor(space, alpha=alpha)


PREDICTORS.register("ridge", build_ridge, options=RidgeOptions, help="Ridge regression over one-hot tokens (a plugin).")
