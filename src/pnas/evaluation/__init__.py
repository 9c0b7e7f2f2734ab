"""Evaluators: how a cell becomes an accuracy (real training, a table look-up, a stand-in).

Importing this package registers every built-in evaluator in :data:`EVALUATORS`.
"""

from pnas.evaluation import objective, synthetic, table, trainer  # noqa: F401  (registration)
from pnas.evaluation.base import EVALUATORS, ChildFailed, EvalResult, Evaluator, EvaluatorSpec

__all__ = ["EVALUATORS", "ChildFailed", "EvalResult", "Evaluator", "EvaluatorSpec"]
