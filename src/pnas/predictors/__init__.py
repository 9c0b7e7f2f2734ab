"""Surrogate predictors: score cells without training them (docs/paper.md, section 4).

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
from dataclasses import dataclass
from typing import Any

from pnas.config import option
from pnas.predictors.base import PREDICTORS, Predictor
from pnas.predictors.ensemble import Ensemble
from pnas.predictors.features import FeatureEnsemble
from pnas.predictors.lstm import LstmConfig, LstmPredictor
from pnas.predictors.mlp import MlpConfig, MlpPredictor
from pnas.predictors.neural import FitConfig
from pnas.predictors.random_scores import RandomPredictor
from pnas.predictors.ranking import score_expansion
from pnas.space.base import SearchSpace


def _maybe_ensemble(make: Callable[[int], Any], seed: int, ensemble: int) -> Any:
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise ValueError(f"ensemble must be a positive integer (1 = a single predictor), got {ensemble!r}")
    if ensemble == 1:
        return make(seed)
    return Ensemble(make, ensemble, seed=seed)


@dataclass(frozen=True)
class EnsembleOptions:
    ensemble: int = option(5, "Members, each fitted on a different 4/5 of the data (1: a single predictor).", low=1)


@dataclass(frozen=True)
class NeuralOptions(EnsembleOptions):
    hidden: int = option(FitConfig.hidden, "LSTM state / MLP hidden width (the paper: 100).", low=1)
    embedding: int = option(FitConfig.embedding, "Size of each token embedding (the paper: 100).", low=1)
    epochs: int = option(FitConfig.epochs, "Passes over the training cells per fit.", low=1)
    batch_size: int = option(FitConfig.batch_size, "Cells per training step.", low=1)
    lr: float = option(FitConfig.lr, "Adam learning rate.", low=0)
    weight_decay: float = option(FitConfig.weight_decay, "Adam's L2 penalty.", low=0)
    threads: int = option(FitConfig.threads, "torch threads while fitting.", low=1)


@dataclass(frozen=True)
class LstmOptions(NeuralOptions):
    epochs: int = option(LstmConfig.epochs, "Passes over the training cells per fit.", low=1)


@dataclass(frozen=True)
class MlpOptions(NeuralOptions):
    lr: float = option(MlpConfig.lr, "Adam learning rate.", low=0)
    layers: int = option(MlpConfig.layers, "Hidden layers after the block average.", low=1)


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


PREDICTORS.register("lstm", build_lstm, options=LstmOptions, help="An LSTM over the cell's tokens (the paper's).")
PREDICTORS.register(
    "mlp", build_mlp, options=MlpOptions, help="Per-block embeddings averaged over blocks, then an MLP."
)
PREDICTORS.register(
    "random", build_random, options=EnsembleOptions, help="Seeded random scores: the control for what learning adds."
)


def create_predictor(name: str, space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """Build a registered predictor by name (ValueError listing the names if unknown)."""
    return PREDICTORS.create(name, space, seed=seed, ensemble=ensemble, **options)


__all__ = [
    "PREDICTORS",
    "Predictor",
    "Ensemble",
    "FeatureEnsemble",
    "LstmPredictor",
    "MlpPredictor",
    "RandomPredictor",
    "create_predictor",
    "score_expansion",
]
