"""A control predictor that scores at random: what a search gets without learning.

Each cell gets a fixed pseudo-random score in [0, 1) from a hash of its
token sequence and the seed, so the same cell always scores the same (in
``predict`` and in ``predict_children``) and different seeds give
independent random rankings. ``fit`` learns nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pnas.predictors.expansion import Expansion, build_expansion
from pnas.predictors.neural import check_training_data
from pnas.predictors.tokens import TokenBatch, encode_cells
from pnas.space.base import SearchSpace

_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime
_OFFSET = np.uint64(0xCBF29CE484222325)  # FNV-1a 64-bit offset basis


def _mix(h: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    mixed: np.ndarray = (h ^ (tokens.astype(np.uint64) + np.uint64(1))) * _MULTIPLIER
    return mixed


def _finish(h: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 finaliser of the hash and seed, as floats in [0, 1)."""
    z = h ^ np.uint64(int(seed) % (2**64))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) / float(2**53)).astype(np.float32)


def _sequence_hash(batch: TokenBatch) -> np.ndarray:
    """Hash of each cell's tokens in reading order (per block: inputs, then ops)."""
    tokens = torch.cat([batch.inputs, batch.ops], dim=2).numpy()
    blocks = batch.blocks.numpy()
    h = np.full(len(blocks), _OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(tokens.shape[1]):
            real = blocks > k
            for t in range(tokens.shape[2]):
                h = np.where(real, _mix(h, tokens[:, k, t]), h)
    return h


class RandomPredictor:
    """Seeded random scores; the baseline that shows what a learned predictor adds."""

    def __init__(self, space: SearchSpace, *, seed: int = 0) -> None:
        self.space = space
        self.seed = int(seed)

    def fit(self, cells: Sequence[Any], accuracies: Sequence[float]) -> None:
        check_training_data(cells, accuracies)

    def predict(self, cells: Sequence[Any]) -> np.ndarray:
        return _finish(_sequence_hash(encode_cells(self.space, cells)), self.seed)

    def predict_children(self, space: SearchSpace, parents: Sequence[Any]) -> np.ndarray:
        return self.predict_expansion(build_expansion(space, parents))

    def predict_expansion(self, expansion: Expansion) -> np.ndarray:
        h = _sequence_hash(expansion.parents)[expansion.parent_of_child.numpy()]
        tokens = expansion.new_tokens.numpy()
        with np.errstate(over="ignore"):
            for t in range(tokens.shape[1]):
                h = _mix(h, tokens[:, t])
        return _finish(h, self.seed)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"seed": torch.tensor(self.seed, dtype=torch.int64)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if set(state) != {"seed"}:
            raise ValueError(f"a random predictor's state is {{'seed'}}, got keys {sorted(state)}")
        self.seed = int(state["seed"])
