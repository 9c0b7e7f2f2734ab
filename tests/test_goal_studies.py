"""Studies with objectives and limits: durable like any study, fronts and hypervolume as promised."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.evaluation.base import Evaluator
from pnas.evaluation.data import DEBIAN_FASHION_MNIST
from pnas.evaluation.synthetic import ImitatedCosts, SyntheticEvaluator
from pnas.evaluation.trainer import TrainingEvaluator
from pnas.search import SearchConfig, run_search
from pnas.space import PnasSpace
from pnas.storage import StudyStore
from pnas.strategies.evolution import RegularizedEvolution
from pnas.strategies.progressive import ProgressiveSearch
from pnas.study import ConfigMismatch, Study, optimize

OBJECTIVE = SyntheticEvaluator(seed=3)


class Interrupted(BaseException):
    """Stands in for a kill in the middle of a study."""


class CostedCounting(Evaluator):
    """The synthetic objective (with its made-up network sizes and their cost model), counting evaluations
    per cell; raises :class:`Interrupted` after ``stop_after`` of them."""

    name = "costed-counting"

    def __init__(self, counts: dict[str, int], stop_after: int | None = None) -> None:
        self.counts, self.stop_after = counts, stop_after

    def evaluate(self, cell, progress=None):
        if self.stop_after is not None and sum(self.counts.values()) >= self.stop_after:
            raise Interrupted
        self.counts[str(cell)] = self.counts.get(str(cell), 0) + 1
        return OBJECTIVE.evaluate(cell)

    def cost_model(self):
        return ImitatedCosts()

    def config(self) -> dict:
        return {"objective": OBJECTIVE.config()}


def trials_of(study) -> list[tuple[str, str, float | None]]:
    return [(t.cell, t.status, t.accuracy) for t in study.trials()]


def constrained_progressive():
    cap = int(sorted(ImitatedCosts().costs(PnasSpace(2).initial_cells())[:, 1])[68])
    return ProgressiveSearch(PnasSpace(2), seed=2, beam=6, predictor="mlp", ensemble=1, max_mult_adds=cap)


def pareto_evolution():
    return RegularizedEvolution(
        PnasSpace(2), seed=2, budget=30, population=6, batch=3, objectives="accuracy,params,mult_adds"
    )


@pytest.mark.parametrize("make", [constrained_progressive, pareto_evolution], ids=["constrained", "pareto"])
def test_an_interrupted_study_with_a_goal_resumes_to_the_uninterrupted_study(tmp_path, make):
    counts: dict[str, int] = {}
    storage = str(tmp_path / "s.db")
    with pytest.raises(Interrupted):
        optimize(make(), CostedCounting(counts, stop_after=17), storage=storage, study_name="s")
    with optimize(make(), CostedCounting(counts), storage=storage, study_name="s") as study:
        assert max(counts.values()) == 1
        resumed = trials_of(study)
        rounds = [r.to_json() for r in study.rounds()]
    uninterrupted = optimize(make(), CostedCounting({}), storage=None, study_name="s")
    assert resumed == trials_of(uninterrupted)
    assert rounds == [r.to_json() for r in uninterrupted.rounds()]
    volumes = [r["hypervolume"] for r in rounds]
    assert all(v is not None for v in volumes) and volumes == sorted(volumes)


def test_a_study_keeps_its_goal_and_refuses_another(tmp_path):
    storage = str(tmp_path / "s.db")
    cap = {"strategy": {"max_params": 300_000}}
    config = SearchConfig(space="nb201", strategy="random", budget=20, seed=1, overrides=cap)
    with run_search(config, storage=storage, study="s") as study:
        assert study.goal.max_params == 300_000
        assert all(t.params <= 300_000 for t in study.trials())
    other = SearchConfig(space="nb201", strategy="random", budget=20, seed=1, overrides={"strategy": {"max_params": 9}})
    with pytest.raises(ConfigMismatch, match="max_params: 300000 -> 9"):
        run_search(other, storage=storage, study="s")
    with run_search(SearchConfig(space="nb201", strategy="random", budget=20, seed=1), storage=storage, study="s") as s:
        assert s.goal.max_params == 300_000, "an option left unset on resume keeps the stored value"


def test_a_study_made_before_goals_reads_as_accuracy_alone(tmp_path):
    storage = str(tmp_path / "s.db")
    with run_search(SearchConfig(space="nb201", strategy="random", budget=12), storage=storage, study="s") as study:
        assert "objectives" not in study.config["strategy"] and "max_params" not in study.config["strategy"]
        assert study.goal.objectives == ("accuracy",) and not study.goal.limits
        rounds = study.rounds()
        assert rounds[-1].hypervolume == pytest.approx(study.best(1)[0].accuracy)  # 1-D: the best accuracy
        front = study.pareto()  # accuracy and parameters by default
        assert front and all(t.params is not None for t in front)


def test_cells_over_a_measured_limit_are_recorded_but_never_results(tmp_path):
    store = StudyStore(str(tmp_path / "s.db"))
    config = {"space": {"name": "nb201"}, "strategy": {"name": "random", "max_latency_ms": 5.0}}
    info = store.create_study("s", config)
    store.add_proposals(info.id, [("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 1, None)] * 1)
    cells = [
        "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ]
    store.add_proposals(info.id, [(cell, 1, None) for cell in cells])
    for cell, ms, accuracy in zip(cells, (9.0, 2.0), (0.9, 0.5)):
        metrics = {"accuracy": accuracy, "params": 1, "mult_adds": 1, "extra": {"latency_ms": ms}}
        store.record_result(info.id, cell, status="done", metrics=metrics)
    study = Study.load(store, "s")
    assert [t.cell for t in study.best(5)] == [cells[1]]
    assert study.rounds()[0].over_limit == 1
    store.close()


def test_pareto_cli_lists_a_non_dominated_front_with_costs(tmp_path):
    storage = str(tmp_path / "s.db")
    config = SearchConfig(space="nb201", beam=5, seed=2, overrides={"strategy": {"objectives": "accuracy,params"}})
    run_search(config, storage=storage, study="mo").close()
    runner = CliRunner()
    out = runner.invoke(main, ["best", "--study", "mo", "--storage", storage, "--pareto", "--json"])
    assert out.exit_code == 0, out.output
    front = json.loads(out.stdout)
    assert len(front) >= 2
    for a in front:
        assert {"cell", "accuracy", "params", "mult_adds", "latency_ms"} <= set(a)
        for b in front:
            strictly = b["accuracy"] > a["accuracy"] or b["params"] < a["params"]
            assert not (b["accuracy"] >= a["accuracy"] and b["params"] <= a["params"] and strictly)
    status = json.loads(runner.invoke(main, ["status", "--study", "mo", "--storage", storage, "--json"]).stdout)
    assert status["objectives"] == ["accuracy", "params"]
    assert status["hypervolume_reference"] == {"accuracy": 0.0, "params": 1531546.0}
    volumes = [r["hypervolume"] for r in status["rounds"]]
    assert volumes == sorted(volumes) and 0 < volumes[-1] < 1
    by_mult_adds = runner.invoke(
        main, ["best", "--study", "mo", "--storage", storage, "--pareto", "--objectives", "accuracy,mult_adds"]
    )
    assert by_mult_adds.exit_code == 0 and "mult_adds" in by_mult_adds.output


def test_objectives_the_evaluator_cannot_serve_are_refused_before_a_file_is_made(tmp_path):
    storage = tmp_path / "s.db"
    latency = SearchConfig(space="nb201", overrides={"strategy": {"objectives": "accuracy,latency"}})
    with pytest.raises(ValueError, match="--measure-latency"):
        run_search(latency, storage=str(storage), study="s")
    bad = SearchConfig(space="nb201", overrides={"strategy": {"objectives": "accuracy,speed"}})
    with pytest.raises(ValueError, match="unknown objective 'speed'"):
        run_search(bad, storage=str(storage), study="s")
    assert not storage.exists()


needs_fashion_mnist = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir() and not os.environ.get("CI"),
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)

TINY = dict(
    dataset="fashion-mnist", image_size=8, train_subset=64, val_size=32, cells_per_stack=1, filters=4, epochs=1,
    batch_size=32, device="cpu",
)  # fmt: skip


@needs_fashion_mnist
def test_a_latency_measured_study_records_latency_and_resumes_only_on_its_device(tmp_path):
    storage = str(tmp_path / "s.db")
    config = SearchConfig(
        strategy="random", budget=2, seed=0, workers=1,
        trainer={**TINY, "measure_latency": True}, overrides={"strategy": {"objectives": "accuracy,latency"}},
    )  # fmt: skip
    with run_search(config, storage=storage, study="s") as study:
        trials = study.trials("done")
        assert len(trials) == 2
        assert all(t.extra["latency_ms"] > 0 and t.extra["latency_batch_ms"] > 0 for t in trials)
        assert study.config["evaluator"]["latency_hardware"].startswith("cpu: ")
        info = study.info
        store = study.store
        moved = json.loads(json.dumps(info.config))
        moved["evaluator"]["latency_hardware"] = "cuda: Some Other GPU"
        store.update_study_config(info.id, moved)
    with pytest.raises(ValueError, match="measures latency on cuda: Some Other GPU"):
        run_search(config, storage=storage, study="s")
    store = StudyStore(storage)
    store.update_study_config(info.id, info.config)
    store.close()
    other_device = SearchConfig(
        strategy="random", budget=2, seed=0, workers=1, trainer={**TINY, "measure_latency": True, "device": "auto"},
        overrides={"strategy": {"objectives": "accuracy,latency"}},
    )  # fmt: skip
    with pytest.raises(ConfigMismatch, match="evaluator.device: 'cpu' -> 'auto'"):
        run_search(other_device, storage=storage, study="s")


def test_the_device_is_a_runtime_choice_without_latency():
    from pnas.study import config_changes

    old = {"evaluator": {"name": "train", **TrainingEvaluator(**TINY).config()}}
    new = {"evaluator": {**old["evaluator"], "device": "auto"}}
    assert config_changes(old, new)[0] == []
    measured = {"evaluator": {**old["evaluator"], "measure_latency": True, "latency_hardware": "cpu: x"}}
    assert config_changes(measured, {"evaluator": {**measured["evaluator"], "device": "auto"}})[0]


def test_a_latency_reference_without_a_limit_is_fixed_once_the_first_round_ends(tmp_path):
    store = StudyStore(str(tmp_path / "s.db"))
    info = store.create_study("s", {"strategy": {"name": "pnas", "objectives": "accuracy,latency"}})
    cells = ["max3x3(h1)+max3x3(h1)", "avg3x3(h1)+avg3x3(h1)", "sep3x3(h1)+sep3x3(h1)"]
    store.add_proposals(info.id, [(cell, 1, None) for cell in cells])
    study = Study.load(store, "s")
    for cell, ms in zip(cells[:2], (1.0, 4.0)):
        metrics = {"accuracy": 0.5, "params": 1, "mult_adds": 1, "extra": {"latency_ms": ms}}
        store.record_result(info.id, cell, status="done", metrics=metrics)
    assert study.hypervolume_reference() is None and study.rounds()[0].hypervolume is None
    store.record_result(info.id, cells[2], status="failed", error="boom")
    assert study.hypervolume_reference() == {"accuracy": 0.0, "latency": 8.0}
    assert study.rounds()[0].hypervolume == pytest.approx(0.5 * (1 - 1.0 / 8.0))
    store.close()
