"""Surrogate predictors: score cells without training them (SPEC section 4).

Built-in names in :data:`PREDICTORS`:

- ``lstm``: an LSTM over the cell's tokens;
- ``mlp``: per-block embeddings averaged over blocks, then an MLP;
- ``random``: a seeded random score, the control that shows what learning adds.

Each factory is ``(space, *, seed=0, ensemble=1, **options)``; ``ensemble=N``
(N > 1) averages N members fitted on different 4/5 of the data. A user's
own predictor is any object with ``fit(cells, accuracies)`` and
``predict(cells)``, registered with ``PREDICTORS.register(name, factory)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pnas.predictors.base import PREDICTORS, Predictor
from pnas.predictors.ensemble import Ensemble
from pnas.predictors.lstm import LstmPredictor
from pnas.predictors.mlp import MlpPredictor
from pnas.predictors.random_scores import RandomPredictor
from pnas.predictors.ranking import score_expansion
from pnas.space.base import SearchSpace


def _maybe_ensemble(make: Callable[[int], Any], seed: int, ensemble: int) -> Any:
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise ValueError(f"ensemble must be a positive integer (1 = a single predictor), got {ensemble!r}")
    if ensemble == 1:
        return make(seed)
    return Ensemble(make, ensemble, seed=seed)


@PREDICTORS.register("lstm")
def build_lstm(space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """LSTM predictor; options: hidden, embedding, epochs, batch_size, lr, weight_decay."""
    return _maybe_ensemble(lambda s: LstmPredictor(space, seed=s, **options), seed, ensemble)


@PREDICTORS.register("mlp")
def build_mlp(space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """MLP predictor; options: those of ``lstm`` and layers (hidden layers)."""
    return _maybe_ensemble(lambda s: MlpPredictor(space, seed=s, **options), seed, ensemble)


@PREDICTORS.register("random")
def build_random(space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """Random scores (no options); the control for what a learned predictor adds."""
    if options:
        raise ValueError(f"the random predictor takes no options, got {', '.join(sorted(options))}")
    return _maybe_ensemble(lambda s: RandomPredictor(space, seed=s), seed, ensemble)


def create_predictor(name: str, space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """Build a registered predictor by name (ValueError listing the names if unknown)."""
    return PREDICTORS.create(name, space, seed=seed, ensemble=ensemble, **options)


__all__ = [
    "PREDICTORS",
    "Predictor",
    "Ensemble",
    "LstmPredictor",
    "MlpPredictor",
    "RandomPredictor",
    "create_predictor",
    "score_expansion",
]
