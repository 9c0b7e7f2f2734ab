"""An executor's slots (children it runs at once) are a batched strategy's default batch.

A cluster's slots come from its nodes' resources and what each child asks for; the search asks the
executor it runs on, an explicit --batch or --workers wins, and a stored study keeps its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pnas.config import RUNTIME, option
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.execution.base import EXECUTORS, ExecutorOptions
from pnas.execution.local import InProcessExecutor, ProcessPoolExecutor
from pnas.search import SearchConfig, run_search

CLUSTER_SLOTS = 7
built: list[Any] = []


class FakeCluster(InProcessExecutor):
    """Runs children here, and says it runs seven at once, as a cluster would."""

    def slots(self) -> int:
        return CLUSTER_SLOTS

    def close(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class FakeClusterOptions(ExecutorOptions):
    workers: int | None = option(None, "Children in flight at once.", low=1, decides=RUNTIME)


def fake_cluster(evaluator: Any, **options: Any) -> FakeCluster:
    built.append(FakeCluster(evaluator))
    return built[-1]


@pytest.fixture
def cluster(scratch_registries):
    built.clear()
    EXECUTORS.register("fake-cluster", fake_cluster, options=FakeClusterOptions, help="A test's cluster.")
    return "fake-cluster"


def _search(tmp_path, executor: str, study: str = "s", budget: int = 16, **extra: Any):
    config = SearchConfig(strategy="evolution", budget=budget, evaluator="synthetic", executor=executor, **extra)
    return run_search(config, storage=str(tmp_path / "s.db"), study=study)


def test_the_local_executors_slots_are_their_workers():
    assert InProcessExecutor(SyntheticEvaluator()).slots() == 1
    assert ProcessPoolExecutor(SyntheticEvaluator().spec(), 3).slots() == 3  # no process started yet


def test_a_default_batch_is_the_slots_of_the_executor_the_study_runs_on(tmp_path, cluster):
    with _search(tmp_path, cluster) as study:
        assert study.config["strategy"]["batch"] == CLUSTER_SLOTS
        assert len(study.trials()) == 16
    assert len(built) == 1 and built[0].closed  # the executor asked is the one that ran the study, closed once


def test_an_explicit_batch_or_workers_wins_over_the_slots(tmp_path, cluster):
    with _search(tmp_path, cluster, batch=3) as study:
        assert study.config["strategy"]["batch"] == 3
    with _search(tmp_path, cluster, study="w", overrides={"executor": {"workers": 2}}) as study:
        assert study.config["strategy"]["batch"] == 2


def test_a_stored_study_resumes_with_its_batch_when_the_cluster_changed(tmp_path, cluster, monkeypatch):
    with _search(tmp_path, cluster, budget=8) as study:
        assert study.config["strategy"]["batch"] == CLUSTER_SLOTS
    monkeypatch.setattr(FakeCluster, "slots", lambda self: asked.append(True) or 12)  # the cluster grew
    asked: list[bool] = []
    with _search(tmp_path, cluster, budget=16) as study:  # resumed with a larger budget: the batch it was made with
        assert study.config["strategy"]["batch"] == CLUSTER_SLOTS and len(study.trials()) == 16
    assert not asked


def test_a_cluster_holds_children_by_what_each_asks_for_on_each_node():
    from pnas.execution.ray import cluster_slots

    gpu_nodes = [{"CPU": 8, "GPU": 4}] * 16  # 64 GPUs
    assert cluster_slots(gpu_nodes, 1, 1) == 64
    assert cluster_slots(gpu_nodes, 1, 0.25) == 128  # four per GPU, but one core each
    assert cluster_slots(gpu_nodes, 0.5, 0.25) == 256
    assert cluster_slots([{"CPU": 4}, {"CPU": 4}], 3, 0) == 2  # a child runs on one node: 1 + 1, not 8 // 3
    assert cluster_slots([{"CPU": 0, "GPU": 0}, {"CPU": 2}], 1, 0) == 2  # a head that trains nothing
    assert cluster_slots([{"CPU": 2}], 1, 1) == 1  # no GPU to run on: still one (Ray says why it waits)
    assert cluster_slots([{"CPU": 6}], 0, 0) == 6
