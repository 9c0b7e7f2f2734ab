"""Search strategies behind one ask/tell interface (see :mod:`pnas.strategies.base`).

Importing this package registers every built-in strategy in :data:`STRATEGIES`.
"""

from pnas.strategies import evolution, guided, progressive, random_search, reinforce  # noqa: F401  (registration)
from pnas.strategies.base import STRATEGIES, Proposal, Strategy

__all__ = ["STRATEGIES", "Proposal", "Strategy"]
