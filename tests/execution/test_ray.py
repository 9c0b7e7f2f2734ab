"""The Ray executor on a local Ray instance of 2 CPUs: the same study as the local executors, and its faults.

One Ray instance serves the whole module (starting one costs seconds); executors built while it runs
use it and leave it running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (the README's set-up installs it)")

from pnas.evaluation.base import EvaluatorSpec  # noqa: E402
from pnas.evaluation.synthetic import SyntheticEvaluator  # noqa: E402
from pnas.execution.base import Job, timeout_error  # noqa: E402
from pnas.execution.ray import RayExecutor, child_task  # noqa: E402
from pnas.search import SearchConfig, run_search  # noqa: E402
from pnas.space import PnasSpace  # noqa: E402
from pnas.storage import StudyStore  # noqa: E402
from pnas.study import ChildrenFailing, Reporter, Study, optimize  # noqa: E402

CELLS = [str(c) for c in PnasSpace(1).initial_cells()[:6]]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _jobs(cells=CELLS):
    return [Job(cell, cell) for cell in cells]


def _pid(worker: str) -> int:
    return int(worker.rsplit(":", 1)[1])


def _small(executor: str, **extra) -> SearchConfig:
    small = dict(space="pnas", blocks=2, beam=3, evaluator="synthetic", predictor="mlp", ensemble=1)
    return SearchConfig(**{**small, "executor": executor, **extra})


def _snapshot(study: Study):
    return [(t.cell, t.round, t.status, t.accuracy, t.predicted, t.error) for t in study.trials()]


def test_a_ray_study_is_the_local_study(tmp_path):
    """Regularized evolution: each batch depends on the results told before it, in order."""
    search = dict(space="pnas", blocks=3, strategy="evolution", budget=30, batch=6, evaluator="synthetic")
    local = run_search(SearchConfig(executor="local", **search), storage=None, study="s")
    viaray = run_search(SearchConfig(executor="ray", **search), storage=str(tmp_path / "s.db"), study="s")
    assert _snapshot(viaray) == _snapshot(local) and len(local.trials()) == 30
    workers = {t.worker for t in viaray.trials()}
    assert all(w and ":" in w for w in workers)  # host:pid of the Ray worker that trained it
    assert all(_pid(w) != os.getpid() for w in workers)
    viaray.close()


def test_the_child_task_sends_only_plain_data():
    spec = SyntheticEvaluator(seed=1).spec()
    items = list(child_task(spec.name, spec.config, [], CELLS[0], 0.0))  # run here, as a plain generator
    assert [i["type"] for i in items] == ["start", "progress", "result"]
    assert isinstance(items[-1]["result"], dict) and items[-1]["error"] is None

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, str | int | float | bool)

    assert all(plain(i) for i in items)


def test_a_child_on_a_fraction_of_a_gpu_caps_its_memory_to_its_share(monkeypatch):
    import pnas.execution.ray as on_ray

    caps: list[float] = []
    monkeypatch.setattr(on_ray, "_cap_gpu_memory", caps.append)
    spec = SyntheticEvaluator().spec()
    for share in (0.25, 0.0, 1.0):
        list(child_task(spec.name, spec.config, [], CELLS[0], share))
    assert caps == [0.25]  # a whole GPU, or none, is not capped


class KillFirstWorker(Reporter):
    """Kills (-9) the Ray worker of the first child that starts, once."""

    def __init__(self) -> None:
        self.killed: list[str] = []
        self.events: list[tuple[str, dict]] = []

    def child_event(self, key, event):
        self.events.append((key, event))
        if event["type"] == "start" and not self.killed:
            self.killed.append(key)
            os.kill(_pid(event["worker"]), signal.SIGKILL)


def test_a_killed_worker_costs_only_its_child_which_is_retried_and_stored_once(tmp_path):
    from pnas.strategies.random_search import RandomSearch

    log = tmp_path / "log"
    evaluator = SyntheticEvaluator(seed=0, delay=0.5, log=str(log))
    reporter = KillFirstWorker()
    with RayExecutor(evaluator) as executor:
        study = optimize(RandomSearch(PnasSpace(2), seed=1, budget=6, batch=6), evaluator, storage=str(tmp_path / "s.db"),
                         executor=executor, reporter=reporter)  # fmt: skip
    [victim] = reporter.killed
    trials = study.trials()
    assert len(trials) == len({t.cell for t in trials}) == 6 and all(t.status == "done" for t in trials)
    retries = [(k, e) for k, e in reporter.events if e["type"] == "retry"]
    assert [k for k, _ in retries] == [victim] and "worker died" in retries[0][1]["reason"]
    assert Counter(log.read_text().splitlines())[victim] == 1  # its first attempt never finished
    study.close()


def test_without_retries_a_killed_worker_is_the_machinerys_failure():
    killed = []

    def kill(key, event):
        if event["type"] == "start" and not killed:
            killed.append(key)
            os.kill(_pid(event["worker"]), signal.SIGKILL)

    with RayExecutor(SyntheticEvaluator(delay=0.5), max_retries=0) as executor:
        outcomes = {o.key: o for o in executor.run(_jobs(CELLS[:3]), kill)}
    failed = outcomes[killed[0]]
    assert failed.machinery and "Ray worker died" in failed.error and "1 time" in failed.error
    assert all(o.result is not None for k, o in outcomes.items() if k != killed[0])


def test_a_child_that_hangs_is_stopped_at_its_timeout_and_the_others_go_on():
    hung = CELLS[1]
    started = time.monotonic()
    with RayExecutor(SyntheticEvaluator(hang_on=hung), child_timeout=1.0) as executor:
        outcomes = {o.key: o for o in executor.run(_jobs())}
    assert time.monotonic() - started < 30
    assert outcomes[hung].error == timeout_error(1.0) and not outcomes[hung].machinery
    assert all(outcomes[c].result is not None for c in CELLS if c != hung)
    deadline = time.monotonic() + 10
    while _alive(_pid(outcomes[hung].worker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(_pid(outcomes[hung].worker)), "the hung child's worker was not stopped"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_study_whose_every_child_fails_stops_early_with_the_error(tmp_path, faulty_synthetic):
    failing = _small("ray", evaluator=faulty_synthetic, trainer={"fail_on": ""})
    with pytest.raises(ChildrenFailing, match="first 5 children all failed .*fail_on"):
        run_search(failing, storage=str(tmp_path / "s.db"), study="s")
    store = StudyStore(tmp_path / "s.db")
    study = Study.load(store, "s")
    assert study.state == "interrupted" and study.totals()["failed"] == 5
    store.close()


def test_shared_data_reaches_workers_without_their_files(tmp_path):
    """A user's table is read by the driver only: the workers get its rows through the object store."""
    from pnas.evaluation.table import TableEvaluator
    from pnas.space import Nb201Space

    cells = [str(c) for c in list(Nb201Space().all_cells())[:4]]
    path = tmp_path / "t.csv"
    path.write_text("cellstr,val\n" + "".join(f"{c},{50 + i}\n" for i, c in enumerate(cells)))
    evaluator = TableEvaluator(table=str(path), metric="val", report_metric=None)
    rebuilt = EvaluatorSpec("table", evaluator.config()).build(evaluator.shared_data())
    assert rebuilt.table.rows == evaluator.table.rows
    path.unlink()  # gone: a worker that read the file would fail now
    with RayExecutor(evaluator) as executor:
        outcomes = {o.key: o for o in executor.run(_jobs(cells))}
    assert [outcomes[c].result.accuracy for c in cells] == [0.50, 0.51, 0.52, 0.53]


DRIVER_ARGS = ["--evaluator", "synthetic-faulty", "--space", "pnas", "--blocks", "2", "--beam", "3", "--ensemble", "1",
               "--executor", "ray", "--study", "s"]  # fmt: skip


@pytest.mark.slow
def test_the_driver_killed_with_minus_9_resumes_with_nothing_lost_or_doubled(tmp_path):
    storage, log = str(tmp_path / "s.db"), str(tmp_path / "log")
    driver = Path(__file__).parents[1] / "synthetic_faults.py"  # pnas with the evaluator's audit log as an option
    args = [sys.executable, str(driver), "search", *DRIVER_ARGS, "--storage", storage,
            "--set", f"evaluator.log={log}", "--set", "evaluator.delay=0.05"]  # fmt: skip
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and driver.poll() is None:
        if os.path.exists(log) and len(open(log).read().splitlines()) >= 20:
            break
        time.sleep(0.2)
    assert driver.poll() is None, "the search ended before it could be killed"
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    store = StudyStore(storage)
    before = {t.cell for t in store.trials(store.get_study("s").id, "done")}
    store.close()
    assert before
    assert subprocess.run(args, capture_output=True).returncode == 0
    store = StudyStore(storage)
    trials = store.trials(store.get_study("s").id)
    store.close()
    assert len(trials) == len({t.cell for t in trials}) == 136 + 3 and all(t.status == "done" for t in trials)
    evaluated = Counter(open(log).read().splitlines())
    assert all(evaluated[c] == 1 for c in before)  # nothing recorded was trained again


def _pruned(study: Study) -> list[tuple]:
    try:
        return [(t.number, t.cell, str(t.status), t.accuracy, t.extra.get("pruned")) for t in study.trials()]
    finally:
        study.close()


PRUNED_SEARCH = dict(evaluator="synthetic", strategy="random", budget=30, seed=3)


def test_a_pruned_study_on_ray_is_the_pruned_study_in_one_process(tmp_path):
    """The median pruner within one batch of 30: a child waits for the earlier children's values at its step."""
    search = dict(PRUNED_SEARCH, pruner="median")
    expected = _pruned(run_search(SearchConfig(executor="local", workers=1, **search), storage=None, study="s"))
    assert any(status == "pruned" for _, _, status, *_ in expected)
    viaray = run_search(SearchConfig(executor="ray", workers=2, **search), storage=str(tmp_path / "s.db"), study="s")
    assert all(_pid(t.worker) != os.getpid() for t in viaray.trials())
    assert _pruned(viaray) == expected


@pytest.mark.slow
@pytest.mark.parametrize("pruner", ["median", "successive-halving"])
def test_a_pruned_study_is_the_same_on_one_or_two_local_workers_and_on_ray(pruner):
    search = dict(PRUNED_SEARCH, pruner=pruner)
    studies = {
        (executor, workers): _pruned(
            run_search(SearchConfig(executor=executor, workers=workers, **search), storage=None, study="s")
        )
        for executor, workers in [("local", 1), ("local", 2), ("ray", 1), ("ray", 2), ("ray", 4)]
    }
    expected = studies["local", 1]
    assert any(status == "pruned" for _, _, status, *_ in expected)
    assert all(trials == expected for trials in studies.values())


def test_a_judged_run_submits_no_more_children_than_the_cluster_runs_at_once():
    """Two CPUs: a third child submitted could start before the second and hold its slot while it waits."""
    with RayExecutor(SyntheticEvaluator(), workers=4) as executor:
        assert executor.slots() == 4 and executor._capacity() == 2
    with RayExecutor(SyntheticEvaluator(), workers=1) as executor:
        assert executor._capacity() == 1
