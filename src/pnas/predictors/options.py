"""The options of the built-in predictors and the settings of their fits, apart from the predictors
(torch) so that registering them, listing them and offering their flags import no torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pnas.config import option

ACQUISITIONS = ("mean", "ucb", "ei", "thompson")
"""How a strategy ranks cells by an ensemble's predictions (:mod:`pnas.predictors.acquisition`)."""


@dataclass(frozen=True)
class FitConfig:
    """Options common to the neural predictors (each key is a factory option).

    The defaults keep refitting a 5-member ensemble after every round cheap
    next to training the round's children on CPU cores, while still ranking
    well (fit times and ranking quality: docs/predictors.md).
    """

    hidden: int = 100  # LSTM state / MLP hidden width (paper: 100)
    embedding: int = 100  # size of each token embedding (paper: 100)
    epochs: int = 60  # passes over the training cells
    batch_size: int = 64
    lr: float = 0.005  # Adam learning rate
    weight_decay: float = 0.0  # Adam's L2 penalty
    threads: int = 1  # torch intra-op threads while fitting: small batches gain nothing
    # from more, and on a busy CPU extra threads make each step many times slower

    def __post_init__(self) -> None:
        for name in ("hidden", "embedding", "epochs", "batch_size", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"predictor option {name} must be a positive integer, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"predictor option lr must be a positive number, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"predictor option weight_decay must be >= 0, got {self.weight_decay!r}")


@dataclass(frozen=True)
class LstmConfig(FitConfig):
    epochs: int = 40  # fewer than the MLP: an LSTM step costs more, and 40 rank as well as 60 (docs/predictors.md)


@dataclass(frozen=True)
class MlpConfig(FitConfig):
    layers: int = 1  # hidden layers of width `hidden` after the block average; on NB201 a
    # second one ranks no better and makes ranking an expansion much dearer (docs/predictors.md)
    lr: float = 0.002

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(f"predictor option layers must be a positive integer, got {self.layers!r}")


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


@dataclass(frozen=True)
class FeatureOptions:
    ensemble: int = option(5, "Members, each fitted on a different 4/5 of the data.", low=1)
    features: str = option("paths", "The cell's feature vector, comma-separated: paths, tokens, zero-cost.")
    hidden: int = option(64, "Hidden units of each member.", low=1)
    epochs: int = option(300, "Full-batch Adam steps per fit.", low=1)
    lr: float = option(0.01, "Adam learning rate.", low=0)
    weight_decay: float = option(1e-4, "Adam's L2 penalty.", low=0)
