"""Pruned studies: the deterministic rule (a decision waits for every earlier trial's value at the step), pruned
trials as final records that are never results, and the same study in any order, with workers, after a kill."""

from __future__ import annotations

import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from study_objectives import reported_curve

import pnas
from pnas.cli.main import main
from pnas.config import ConfigError
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.execution.base import Executor
from pnas.execution.local import ProcessPoolExecutor
from pnas.pruners import Ladder, MedianPruner, SuccessiveHalving
from pnas.space import PnasSpace
from pnas.storage import StudyStore
from pnas.strategies.evolution import RegularizedEvolution
from pnas.strategies.progressive import ProgressiveSearch
from pnas.strategies.random_search import RandomSearch
from pnas.study import ReportBoard, optimize


def _trials(study) -> list[tuple]:
    return [(t.number, t.cell, str(t.status), t.accuracy, t.extra.get("pruned")) for t in study.trials()]


# --- the rule, on the board alone -----------------------------------------------------------------


def test_a_decision_waits_for_every_earlier_open_trial_at_its_step():
    board = ReportBoard(SuccessiveHalving())
    board.start([0, 1, 2])
    board.report(2, 1, 0.1)
    assert board.decide(2, 1, 0.1) is None  # trials 0 and 1 may still report step 1
    board.report(0, 1, 0.9)
    assert board.decide(2, 1, 0.1) is None
    board.report(1, 2, 0.5)  # trial 1 went past step 1 without reporting it: it never will
    assert board.decide(2, 1, 0.1) is True  # n = 2 competitors at the rung keep 1: 0.9 is better
    assert board.decide(0, 1, 0.9) is False  # nothing before trial 0
    board.start([3])
    board.end(1)
    board.report(3, 3, 0.2)
    assert board.decide(3, 3, 0.2) is None and board.decide(3, 3, 0.2, wait=False) is False
    board.end(0)
    board.end(2)
    assert board.decide(3, 3, 0.2) is False  # nobody reported step 3 before it
    assert board.curve(1) == [[2, 0.5]] and board.last(0) == (1, 0.9) and board.last(7) is None


def _simulate(
    pruner, curves: list[list[float]], workers: int, rng: random.Random | None, ladder: tuple[int, int] | None = None
) -> dict[int, int | None]:
    """The executors' protocol, played out: ``workers`` trials run at once, started in number order; each
    asks at every step but its last and waits while the board cannot answer; ``rng`` picks which running
    trial moves next (None: one at a time, in order). ``ladder``: (finish, last step) of one ladder round of
    all the trials. Returns the step each trial was stopped at (None: done)."""
    board = ReportBoard(pruner)
    board.start(range(len(curves)))
    if ladder is not None:
        board.compete(range(len(curves)), *ladder)
    todo, running, stopped = list(range(len(curves))), {}, {}
    while todo or running:
        while todo and len(running) < workers:
            running[todo.pop(0)] = 0  # steps done so far
        movable = []
        for n, done in running.items():
            step = done + 1
            if step < len(curves[n]):
                board.report(n, step, curves[n][step - 1])
                if board.decide(n, step, curves[n][step - 1]) is None:
                    continue  # waits
            movable.append(n)
        assert movable, "every running trial waits: the rule deadlocked"
        n = min(movable) if rng is None else rng.choice(movable)
        step = running[n] + 1
        if step >= len(curves[n]):
            stopped[n] = None
        elif board.decide(n, step, curves[n][step - 1]):
            stopped[n] = step
        else:
            running[n] = step
            continue
        del running[n]
        board.end(n)
    return stopped


@pytest.mark.parametrize("pruner", [MedianPruner(startup_trials=2), SuccessiveHalving(eta=2)], ids=["median", "sh"])
def test_any_interleaving_of_any_number_of_workers_decides_as_one_worker_does(pruner):
    rng = random.Random(5)
    for _ in range(40):
        curves = [[rng.random() for _ in range(rng.randint(1, 6))] for _ in range(rng.randint(1, 14))]
        sequential = _simulate(pruner, curves, 1, None)
        for workers in (2, 3, 8):
            assert _simulate(pruner, curves, workers, rng) == sequential


def test_a_ladder_round_finishes_its_places_exactly_whatever_the_workers_and_their_order():
    pruner = SuccessiveHalving(eta=2)  # last step 4: rungs 1, 2, 4
    rng = random.Random(8)
    for _ in range(25):
        finish, started = rng.randint(1, 3), rng.randint(2, 30)
        curves = [[rng.random() for _ in range(5)] for _ in range(started)]
        sequential = _simulate(pruner, curves, 1, None, ladder=(finish, 4))
        done = [n for n, step in sequential.items() if step is None]
        assert len(done) == pruner.places(Ladder(started, finish, 4), 3)[-1] >= min(finish, started)
        for workers in (2, 3, 8):
            assert _simulate(pruner, curves, workers, rng, ladder=(finish, 4)) == sequential


def test_a_ladder_rounds_decisions_follow_late_reports_and_retried_children():
    """Decisions worked out early (a user asking out of order) are worked out again when an earlier child
    reports later, or is trained again with another value: the answer is always the one of the reports."""
    pruner, rng = SuccessiveHalving(), random.Random(3)

    def fresh(values: dict[int, float]) -> list[bool]:
        board = ReportBoard(pruner)
        board.compete(range(18), 2, 1)
        for n, value in values.items():
            board.report(n, 1, value)
        return [board.decide(n, 1, values[n], wait=False) for n in sorted(values)]

    values = {n: rng.random() for n in range(18)}
    board = ReportBoard(pruner)
    board.start(range(18))
    board.compete(range(18), 2, 1)
    for n in rng.sample(range(18), 18):  # reports arrive out of order, decisions asked as they come
        board.report(n, 1, values[n])
        board.decide(rng.randrange(18), 1, 0.5, wait=False)
    assert [board.decide(n, 1, values[n], wait=False) for n in range(18)] == fresh(values)
    board.start([4])  # trained again: what it reported is forgotten until it reports again
    others = {n: value for n, value in values.items() if n != 4}
    assert [board.decide(n, 1, values[n], wait=False) for n in sorted(others)] == fresh(others)
    values[4] = 1.0  # this time it reports another value
    board.report(4, 1, 1.0)
    assert [board.decide(n, 1, values[n], wait=False) for n in range(18)] == fresh(values)


# --- pruned studies -------------------------------------------------------------------------------


def test_a_pruned_trial_keeps_where_it_stopped_and_its_compute_and_is_never_a_result(tmp_path):
    study = optimize(
        RandomSearch(PnasSpace(3), seed=3, budget=30), SyntheticEvaluator(), storage=None, pruner=MedianPruner()
    )
    pruned = study.trials("pruned")
    assert 0 < len(pruned) < 30 and study.totals()["pruned"] == len(pruned) == study.rounds()[0].pruned
    evaluator = SyntheticEvaluator()
    for trial in pruned:
        step, value = trial.extra["pruned"]["step"], trial.extra["pruned"]["value"]
        assert trial.accuracy is None and 1 <= step < 5 and trial.examples == step
        assert value == evaluator.curve(trial.cell, step) and trial.extra["curve"][-1] == [step, value]
    for trial in study.trials("done"):
        assert [s for s, _ in trial.extra["curve"]] == [1, 2, 3, 4] and trial.examples == 5
    best = {t.cell for t in study.best(1000)}
    assert best == {t.cell for t in study.trials("done")} and not best & {t.cell for t in pruned}
    assert study.totals()["examples"] == sum(t.examples for t in study.trials())
    assert study.config["pruner"]["name"] == "median"


def test_a_pruned_child_is_never_a_parent_or_a_population_member():
    told: list = []

    class Watching(RegularizedEvolution):
        def observe(self, cell, result, batch_done):
            told.append((self.space.format(cell), result))
            super().observe(cell, result, batch_done)

    strategy = Watching(PnasSpace(2), seed=1, budget=40, population=8, sample=3)
    study = optimize(strategy, SyntheticEvaluator(), storage=None, pruner=SuccessiveHalving())
    pruned = {t.cell for t in study.trials("pruned")}
    assert pruned and all(result is None for cell, result in told if cell in pruned)
    members = {strategy.space.format(cell) for cell, _ in strategy.population}
    assert not members & pruned


@pytest.mark.parametrize(
    "pruner",
    [pytest.param(MedianPruner(), id="median"), pytest.param(SuccessiveHalving(), id="successive-halving")],
)
def test_two_workers_give_the_trials_of_one(tmp_path, pruner, pool):
    def run(executor=None):
        strategy = RandomSearch(PnasSpace(3), seed=3, budget=40)
        return _trials(optimize(strategy, SyntheticEvaluator(), storage=None, executor=executor, pruner=pruner))

    alone = run()
    assert any(status == "pruned" for _, _, status, *_ in alone)
    assert run(pool) == alone


@pytest.fixture(scope="module")
def pool():
    """Two worker processes, started once for the module (a pool start imports torch in each)."""
    with ProcessPoolExecutor(SyntheticEvaluator(delay=0.02).spec(), workers=2, threads=1) as executor:
        yield executor


def _pruned_study(storage, delay: float = 0.0, workers: int = 1) -> None:
    strategy = RandomSearch(PnasSpace(3), seed=3, budget=40, batch=20)
    evaluator = SyntheticEvaluator(delay=delay)
    optimize(strategy, evaluator, storage=storage, study_name="s", workers=workers, pruner=SuccessiveHalving()).close()


DRIVER = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_pruning import _pruned_study
_pruned_study(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
"""


def _stored(storage) -> list[tuple]:
    store = StudyStore(storage)
    try:
        info = store.get_study("s")
        assert info is not None and info.state == "complete"
        return [(t.number, t.cell, str(t.status), t.accuracy, t.extra.get("pruned")) for t in store.trials(info.id)]
    finally:
        store.close()


def _finished(storage) -> int:
    store = StudyStore(storage)
    try:
        info = store.get_study("s")
        return 0 if info is None else sum(t.status.finished for t in store.trials(info.id))
    finally:
        store.close()


def _kill_then_resume(tmp_path, workers: int) -> None:
    reference, storage = tmp_path / "reference.db", tmp_path / "killed.db"
    _pruned_study(reference)
    process = subprocess.Popen([sys.executable, "-c", DRIVER, str(storage), "0.1", str(workers)])
    deadline = time.time() + 60
    while (storage.exists() and _finished(storage)) < 24 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert 20 < _finished(storage) < 40  # killed in the second batch: its trials are judged on the first's curves
    _pruned_study(storage, workers=workers)
    assert _stored(storage) == _stored(reference)


def test_kill_9_during_a_pruned_run_then_resume_gives_the_uninterrupted_study(tmp_path):
    _kill_then_resume(tmp_path, workers=1)


@pytest.mark.slow
def test_kill_9_during_a_pruned_run_on_two_workers_then_resume_gives_the_uninterrupted_study(tmp_path):
    _kill_then_resume(tmp_path, workers=2)


def _ladder_study(storage, delay: float = 0.0, workers: int = 1) -> None:
    strategy = ProgressiveSearch(
        PnasSpace(2), seed=2, beam=2, predictor="mlp", ensemble=1, predictor_options={"hidden": 16, "embedding": 16}
    )
    evaluator = SyntheticEvaluator(seed=1, delay=delay)
    optimize(strategy, evaluator, storage=storage, study_name="s", workers=workers, pruner=SuccessiveHalving()).close()


@pytest.mark.slow
def test_kill_9_in_a_ladder_round_on_two_workers_then_resume_gives_the_uninterrupted_study(tmp_path):
    """The progressive search on a fidelity ladder: 136 children, then 18 started for 2 to finish."""
    reference, storage = tmp_path / "reference.db", tmp_path / "killed.db"
    _ladder_study(reference)
    assert [(t[2] == "done") for t in _stored(reference)].count(True) == 15 + 2
    script = DRIVER.replace("_pruned_study", "_ladder_study")
    process = subprocess.Popen([sys.executable, "-c", script, str(storage), "0.05", "2"])
    deadline = time.time() + 120
    while (storage.exists() and _finished(storage)) < 136 + 4 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert 136 < _finished(storage) < 136 + 18  # killed in the ladder round: its children wait on earlier ones
    _ladder_study(storage, workers=2)
    assert _stored(storage) == _stored(reference)


def test_a_pruner_needs_an_evaluator_that_reports_and_an_executor_that_judges(tmp_path):
    table = ["search", "--space", "nb201", "--evaluator", "table", "--strategy", "random", "--budget", "5"]
    result = CliRunner().invoke(main, [*table, "--pruner", "median", "--storage", str(tmp_path / "t.db")])
    assert result.exit_code != 0 and "the table evaluator reports no value before a child ends" in result.output
    assert not (tmp_path / "t.db").exists()

    class Deaf(Executor):
        def run(self, jobs, on_event=None, judge=None):
            yield from ()

    with pytest.raises(ConfigError, match=r"this executor \(Deaf\) cannot stop children early"):
        optimize(RandomSearch(PnasSpace(2), budget=3), SyntheticEvaluator(), executor=Deaf(), pruner=MedianPruner())


# --- the Study API --------------------------------------------------------------------------------

NB201_MEDIAN = {"space": {"name": "nb201"}, "strategy": {"name": "random", "budget": 30}, "pruner": {"name": "median"}}


def _api_trials(study) -> list[tuple]:
    return [
        (t.number, t.cell, str(t.status), t.accuracy, t.extra.get("pruned"), t.extra.get("curve"))
        for t in study.trials()
    ]


def test_report_and_should_prune_through_optimize_in_process_and_on_workers(tmp_path):
    with pnas.create_study("s", None, NB201_MEDIAN) as study:
        study.optimize(reported_curve)
        alone = _api_trials(study)
    pruned = [row for row in alone if row[2] == "pruned"]
    assert pruned and all(row[3] is None and row[4]["step"] == row[5][-1][0] for row in pruned)
    with pnas.create_study("s", None, NB201_MEDIAN) as study:
        study.optimize(reported_curve, workers=2)
        assert _api_trials(study) == alone


def test_ask_tell_reports_decide_and_a_pruned_trial_is_told_as_such(tmp_path):
    with pnas.create_study("s", None, NB201_MEDIAN) as study:
        study.optimize(reported_curve)
        expected = _api_trials(study)
    with pnas.create_study("s", tmp_path / "s.db", NB201_MEDIAN) as study:
        while trials := study.ask():
            for trial in trials:
                try:
                    study.tell(trial, reported_curve(trial))
                except pnas.TrialPruned as stop:
                    study.tell(trial, stop)
        assert _api_trials(study) == expected
        assert not {t.cell for t in study.best(100)} & {t.cell for t in study.trials("pruned")}


def test_reports_are_checked_and_a_trial_pruned_before_reporting_fails():
    with pnas.create_study("s", None, NB201_MEDIAN) as study:
        first, second, *rest = study.ask()
        first.report(0.5, 1)
        with pytest.raises(ValueError, match="already reported step 1"):
            first.report(0.6, 1)
        with pytest.raises(ValueError, match="finite number"):
            first.report(float("nan"), 2)
        with pytest.raises(ValueError, match="whole number"):
            first.report(0.5, 2.5)
        copy = pickle.loads(pickle.dumps(first))  # a copy elsewhere reports, and is told, without the study's channel
        copy.report(0.55, 2)
        assert not copy.should_prune() and copy.reports == [(1, 0.5), (2, 0.55)]
        study.tell(copy, pnas.TrialPruned())
        study.tell(second, pnas.TrialPruned())
        pruned, failed = study.trials()[:2]
        assert (pruned.status, pruned.extra["pruned"], pruned.extra["curve"]) == (
            "pruned",
            {"step": 2, "value": 0.55},
            [[1, 0.5], [2, 0.55]],
        )
        assert failed.status == "failed" and "before any value was reported" in failed.error
        with pytest.raises(ValueError, match="not TrialPruned"):
            study.add_trial(rest[0].cell, pnas.TrialPruned())
