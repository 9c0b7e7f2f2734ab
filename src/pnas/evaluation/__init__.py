"""Evaluators: how a cell becomes an accuracy (real training, a table look-up, a stand-in).

Importing this package registers every built-in evaluator in :data:`EVALUATORS`.
"""

import importlib

from pnas.evaluation.base import EVALUATORS, ChildFailed, EvalResult, Evaluator, EvaluatorSpec

for _module in ("synthetic", "trainer", "table"):
    try:
        importlib.import_module(f"pnas.evaluation.{_module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"pnas.evaluation.{_module}":
            raise

__all__ = ["EVALUATORS", "ChildFailed", "EvalResult", "Evaluator", "EvaluatorSpec"]
