"""Evaluators: how a cell becomes an accuracy (real training, a table look-up, a stand-in).

Importing this package registers every built-in evaluator in :data:`EVALUATORS`; the trainer (torch)
is imported when the ``train`` evaluator is first built.
"""

from pnas.evaluation import objective, synthetic, table  # noqa: F401  (registration)
from pnas.evaluation.base import EVALUATORS, ChildFailed, EvalResult, Evaluator, EvaluatorSpec
from pnas.evaluation.options import TrainingConfig

EVALUATORS.register(
    "train",
    "pnas.evaluation.trainer:TrainingEvaluator",
    options=TrainingConfig,
    help="Real child training: a small network built from the cell.",
)

__all__ = ["EVALUATORS", "ChildFailed", "EvalResult", "Evaluator", "EvaluatorSpec"]
