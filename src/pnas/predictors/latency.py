"""Predict a cell's measured inference latency before it is trained.

Latency is not a function of mult-adds alone: at batch 1 on a CPU a network of many small
operators spends much of its time between them, and depthwise convolutions run far below the
speed of dense ones. So the features are the analytic costs (log parameters, log mult-adds)
beside the count of each operator token in the cell, and the model a ridge regression of log
latency on them: few enough weights to fit from the first round's measurements, deterministic
(a resumed study predicts exactly what it predicted before), and monotone in the costs where
the data say so. Its rank correlation with what was then measured is reported per round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pnas.space.base import SearchSpace

MIN_MEASURED = 5
"""Measured cells needed before latency is predicted; until then it is unknown (NaN)."""

RIDGE = 1e-3
"""L2 penalty on the weights (not the intercept), relative to the number of measured cells."""


def latency_features(space: SearchSpace, cells: Sequence[Any], costs: np.ndarray) -> np.ndarray:
    """One row per cell: log1p(params), log1p(mult-adds), then the count of each operator token."""
    vocab = space.token_spec.op_vocab
    counts = np.zeros((len(cells), vocab))
    for row, cell in enumerate(cells):
        for _, ops in space.encode(cell):
            for op in ops:
                counts[row, op] += 1
    costs = np.asarray(costs, dtype=float).reshape(len(cells), 2)
    return np.concatenate([np.log1p(costs), counts], axis=1)


class LatencyPredictor:
    """Ridge regression of log latency (ms) on :func:`latency_features`."""

    def __init__(self) -> None:
        self.weights: np.ndarray | None = None
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, features: np.ndarray, latency_ms: Sequence[float]) -> LatencyPredictor:
        x = np.asarray(features, dtype=float)
        y = np.log(np.maximum(np.asarray(latency_ms, dtype=float), 1e-6))
        if len(x) < MIN_MEASURED:
            raise ValueError(f"a latency predictor needs {MIN_MEASURED} measured cells, got {len(x)}")
        self.mean = x.mean(axis=0)
        self.scale = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        z = np.concatenate([np.ones((len(x), 1)), (x - self.mean) / self.scale], axis=1)
        penalty = RIDGE * len(x) * np.eye(z.shape[1])
        penalty[0, 0] = 0.0
        self.weights = np.linalg.solve(z.T @ z + penalty, z.T @ y)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted latency in ms per row."""
        if self.weights is None or self.mean is None or self.scale is None:
            raise RuntimeError("fit the latency predictor before predicting")
        x = np.asarray(features, dtype=float)
        z = np.concatenate([np.ones((len(x), 1)), (x - self.mean) / self.scale], axis=1)
        return np.asarray(np.exp(z @ self.weights), dtype=float)
