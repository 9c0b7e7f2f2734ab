"""Surrogate predictors: score cells without training them (docs/paper.md, section 4).

Built-in names in :data:`PREDICTORS`:

- ``lstm``: an LSTM over the cell's tokens;
- ``mlp``: per-block embeddings averaged over blocks, then an MLP;
- ``random``: a seeded random score, the control that shows what learning adds;
- ``feature-mlp``: small MLPs on the cell's path encoding, for small budgets.

Each factory is ``(space, *, seed=0, ensemble=1, **options)``; ``ensemble=N``
(N > 1) averages N members fitted on different 4/5 of the data. A user's
own predictor is any object with ``fit(cells, accuracies)`` and
``predict(cells)``, registered with ``PREDICTORS.register(name, factory)``.

The built-ins are registered by name, with their options (:mod:`pnas.predictors.options`), so
that importing this package imports no torch; the predictor classes are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pnas.lazy import lazy_exports
from pnas.predictors.base import PREDICTORS, Predictor
from pnas.predictors.options import EnsembleOptions, FeatureOptions, LstmOptions, MlpOptions
from pnas.predictors.ranking import score_expansion
from pnas.space.base import SearchSpace

if TYPE_CHECKING:
    from pnas.predictors.ensemble import Ensemble
    from pnas.predictors.features import FeatureEnsemble
    from pnas.predictors.lstm import LstmPredictor
    from pnas.predictors.mlp import MlpPredictor
    from pnas.predictors.random_scores import RandomPredictor

PREDICTORS.register(
    "lstm",
    "pnas.predictors.builders:build_lstm",
    options=LstmOptions,
    help="An LSTM over the cell's tokens (the paper's).",
)
PREDICTORS.register(
    "mlp",
    "pnas.predictors.builders:build_mlp",
    options=MlpOptions,
    help="Per-block embeddings averaged over blocks, then an MLP.",
)
PREDICTORS.register(
    "random",
    "pnas.predictors.builders:build_random",
    options=EnsembleOptions,
    help="Seeded random scores: the control for what learning adds.",
)
PREDICTORS.register(
    "feature-mlp",
    "pnas.predictors.features:build_features",
    options=FeatureOptions,
    help="Small MLPs on the cell's path encoding (or one-hot tokens), trained together: fast at small budgets.",
)


def create_predictor(name: str, space: SearchSpace, *, seed: int = 0, ensemble: int = 1, **options: Any) -> Any:
    """Build a registered predictor by name (ValueError listing the names if unknown)."""
    return PREDICTORS.create(name, space, seed=seed, ensemble=ensemble, **options)


_LAZY = {
    "Ensemble": "pnas.predictors.ensemble",
    "FeatureEnsemble": "pnas.predictors.features",
    "LstmPredictor": "pnas.predictors.lstm",
    "MlpPredictor": "pnas.predictors.mlp",
    "RandomPredictor": "pnas.predictors.random_scores",
}
"""Names exported here whose modules need torch: imported on first use."""

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

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
