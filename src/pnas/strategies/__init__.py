"""Search strategies behind one ask/tell interface (see :mod:`pnas.strategies.base`)."""

import importlib

from pnas.strategies.base import STRATEGIES, Proposal, Strategy

for _module in ("progressive", "random_search", "evolution", "reinforce"):
    try:
        importlib.import_module(f"pnas.strategies.{_module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"pnas.strategies.{_module}":
            raise

__all__ = ["STRATEGIES", "Proposal", "Strategy"]
