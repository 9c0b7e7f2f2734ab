"""Every budgeted strategy resumes an interrupted study without training a cell twice."""

from __future__ import annotations

import pytest
from strategy_support import CountingEvaluator, Interrupted, trials_of

from pnas.space import Nb201Space, PnasSpace
from pnas.strategies.evolution import RegularizedEvolution
from pnas.strategies.random_search import RandomSearch
from pnas.strategies.reinforce import Reinforce
from pnas.study import optimize

BUDGET = 30
MAKERS = {
    "random": lambda: RandomSearch(Nb201Space(), seed=3, budget=BUDGET, batch=5),
    "evolution": lambda: RegularizedEvolution(
        PnasSpace(blocks=2), seed=3, budget=BUDGET, population=6, sample=2, batch=2
    ),
    "reinforce": lambda: Reinforce(Nb201Space(), seed=3, budget=BUDGET, batch=3),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_study_resumes_after_interruption_without_repeating_a_model(tmp_path, name):
    make = MAKERS[name]
    counts: dict[str, int] = {}
    storage = str(tmp_path / "study.db")
    with pytest.raises(Interrupted):
        optimize(make(), CountingEvaluator(counts, stop_after=13), storage=storage, study_name="s")
    study = optimize(make(), CountingEvaluator(counts), storage=storage, study_name="s")
    assert max(counts.values()) == 1  # no cell was trained twice
    assert len(counts) == BUDGET
    uninterrupted = optimize(make(), CountingEvaluator({}), storage=None, study_name="s")
    assert trials_of(study) == trials_of(uninterrupted)
