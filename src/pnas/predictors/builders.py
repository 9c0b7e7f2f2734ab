"""The factories of the built-in predictors ``lstm``, ``mlp`` and ``random`` (registered in
:mod:`pnas.predictors` by name, so that torch is imported when one is first built)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pnas.predictors.ensemble import Ensemble
from pnas.predictors.lstm import LstmPredictor
from pnas.predictors.mlp import MlpPredictor
from pnas.predictors.random_scores import RandomPredictor
from pnas.space.base import SearchSpace


def _maybe_ensemble(make: Callable[[int], Any], seed: int, ensemble: int) -> Any:
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise ValueError(f"ensemble must be a positive integer (1 = a single predictor), got {ensemble!r}")
    if ensemble == 1:
        return make(seed)
    return Ensemble(make, ensemble, seed=seed)


def build_lstm(space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """LSTM predictor; options: hidden, embedding, epochs, batch_size, lr, weight_decay."""
    return _maybe_ensemble(lambda s: LstmPredictor(space, seed=s, **options), seed, ensemble)


def build_mlp(space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """MLP predictor; options: those of ``lstm`` and layers (hidden layers)."""
    return _maybe_ensemble(lambda s: MlpPredictor(space, seed=s, **options), seed, ensemble)


def build_random(space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """Random scores (no options); the control for what a learned predictor adds."""
    if options:
        raise ValueError(f"the random predictor takes no options, got {', '.join(sorted(options))}")
    return _maybe_ensemble(lambda s: RandomPredictor(space, seed=s), seed, ensemble)
