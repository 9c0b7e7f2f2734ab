"""Which optional methods each built-in predictor has, as the typed protocols the search checks."""

from pnas.predictors import PREDICTORS
from pnas.predictors.base import (
    Ensemble,
    HasCostlyFeatures,
    PredictsMembers,
    ScoresChildren,
    ScoresExpansion,
    Stateful,
)
from pnas.space import PnasSpace

PROTOCOLS = (Stateful, ScoresChildren, ScoresExpansion, Ensemble, PredictsMembers, HasCostlyFeatures)


def declared(predictor) -> set[str]:
    return {p.__name__ for p in PROTOCOLS if isinstance(predictor, p)}


def test_every_built_in_predictor_s_protocols():
    space = PnasSpace(blocks=2)
    found = {name: declared(PREDICTORS.create(name, space)) for name in ("feature-mlp", "lstm", "mlp", "random")}
    assert found == {
        "feature-mlp": {"Stateful", "PredictsMembers", "HasCostlyFeatures"},
        "lstm": {"Stateful", "ScoresChildren", "ScoresExpansion"},
        "mlp": {"Stateful", "ScoresChildren", "ScoresExpansion"},
        "random": {"Stateful", "ScoresChildren", "ScoresExpansion"},
    }
    assert declared(PREDICTORS.create("mlp", space, ensemble=3)) >= {"Ensemble", "ScoresChildren"}
