"""--budget-compute: a budgeted strategy asks no batch once the training compute of its children reaches it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.pruners import MedianPruner
from pnas.space import PnasSpace
from pnas.strategies.evolution import RegularizedEvolution
from pnas.strategies.random_search import RandomSearch
from pnas.study import ConfigMismatch, optimize
from pnas.study.reading import training_compute


def _compute(study) -> list[int]:
    return [training_compute(t) or 0 for t in study.trials()]


def test_the_search_stops_at_the_first_batch_that_reaches_the_compute():
    free = _compute(optimize(RandomSearch(PnasSpace(3), seed=3, budget=40), SyntheticEvaluator()))
    budget = sum(free[:10])  # exactly what the first 10 children cost
    for batch, models in ((1, 10), (3, 12), (4, 12)):
        strategy = RandomSearch(PnasSpace(3), seed=3, budget=40, budget_compute=budget, batch=batch)
        spent = _compute(optimize(strategy, SyntheticEvaluator()))
        assert spent == free[:models]  # the same cells, up to the batch in which the compute was reached
    capped = RandomSearch(PnasSpace(3), seed=3, budget=8, budget_compute=budget)  # the models' budget still caps
    assert len(_compute(optimize(capped, SyntheticEvaluator()))) == 8 and capped.batch == 1  # one per worker


def test_a_pruned_search_trains_more_models_for_the_same_compute():
    def models(pruner):
        strategy = RegularizedEvolution(PnasSpace(3), seed=1, budget=500, budget_compute=2 * 10**9, batch=2)
        study = optimize(strategy, SyntheticEvaluator(), pruner=pruner)
        assert sum(_compute(study)) >= 2 * 10**9
        return len(study.trials())

    assert models(MedianPruner()) > models(None)


def test_the_compute_may_grow_on_resume_and_the_flag_is_a_budget_strategys(tmp_path):
    storage = str(tmp_path / "s.db")

    def run(compute):
        strategy = RandomSearch(PnasSpace(3), seed=3, budget=40, budget_compute=compute, batch=2)
        return optimize(strategy, SyntheticEvaluator(), storage=storage, study_name="s")

    with run(2 * 10**8) as study:
        first = len(study.trials())
    with run(5 * 10**8) as study:
        assert len(study.trials()) > first and sum(_compute(study)) >= 5 * 10**8
    with pytest.raises(ConfigMismatch, match="strategy.budget_compute"):
        run(2 * 10**8)
    result = CliRunner().invoke(main, ["search", "--budget-compute", "1000", "--print-config"])
    assert result.exit_code != 0 and "--budget-compute is an option of" in result.output and "pnas" in result.output
