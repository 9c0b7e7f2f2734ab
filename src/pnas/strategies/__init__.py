"""Search strategies behind one ask/tell interface (see :mod:`pnas.strategies.base`).

Importing this package registers every built-in strategy in :data:`STRATEGIES`, by name and with its
options (:mod:`pnas.strategies.options`): a strategy's module (torch for some) is imported when it is
first built.
"""

from pnas.strategies.base import STRATEGIES, Proposal, Strategy
from pnas.strategies.options import (
    BudgetOptions,
    EvolutionOptions,
    GuidedOptions,
    ProgressiveOptions,
    ReinforceOptions,
)

STRATEGIES.register(
    "pnas",
    "pnas.strategies.progressive:ProgressiveSearch",
    options=ProgressiveOptions,
    uses=("predictor",),
    help="The progressive search (Liu et al., 2018): all 1-block cells, then the predicted top K per level.",
)
STRATEGIES.register(
    "guided",
    "pnas.strategies.guided:GuidedSearch",
    options=GuidedOptions,
    uses=("predictor",),
    help="Predictor-guided local search: random start, then acquisition-ranked mutations of the best cells.",
)
STRATEGIES.register(
    "random",
    "pnas.strategies.random_search:RandomSearch",
    options=BudgetOptions,
    help="Uniform random cells without repeats (the baseline).",
)
STRATEGIES.register(
    "evolution",
    "pnas.strategies.evolution:RegularizedEvolution",
    options=EvolutionOptions,
    help="Regularized (aging) evolution with tournament selection (Real et al., 2019).",
)
STRATEGIES.register(
    "reinforce",
    "pnas.strategies.reinforce:Reinforce",
    options=ReinforceOptions,
    help="REINFORCE with an LSTM controller and a moving-average baseline (Zoph and Le's method).",
)

__all__ = ["STRATEGIES", "Proposal", "Strategy"]
