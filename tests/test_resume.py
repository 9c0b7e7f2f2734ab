"""Kill -9 at fixed and random moments, resume, and get exactly the uninterrupted study."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from pnas.storage import StudyStore
from pnas.study import Study

DRIVER = """
import os, signal, sys
from pnas.checkpoints import add_checkpoint_listener
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.space import PnasSpace
from pnas.strategies.progressive import ProgressiveSearch
from pnas.study import optimize
storage, log, delay, workers, fault = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if fault:  # "point:n": SIGKILL this process the n-th time (1-based) it reaches the point
    point, _, count = fault.partition(":")
    hits = []

    def kill_at(name):
        if name == point:
            hits.append(name)
            if len(hits) >= int(count or 1):
                os.kill(os.getpid(), signal.SIGKILL)

    add_checkpoint_listener(kill_at)
strategy = ProgressiveSearch(PnasSpace(3), seed=4, beam=5, predictor="mlp", ensemble=2)
try:
    optimize(strategy, SyntheticEvaluator(seed=1, delay=delay, log=log), storage=storage, study_name="s", workers=workers)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _run(storage, log, delay=0.0, fault=None, workers=1, **kwargs):
    args = [str(storage), str(log), str(delay), str(workers), fault or ""]
    return subprocess.Popen([sys.executable, "-c", DRIVER, *args], **kwargs)


def _results(storage):
    store = StudyStore(storage)
    info = store.get_study("s")
    return info.state, [(t.cell, t.round, t.status, t.accuracy, t.predicted) for t in store.trials(info.id)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    assert _run(folder / "s.db", folder / "log").wait() == 0
    state, rows = _results(folder / "s.db")
    assert state == "complete" and len(rows) == 136 + 5 + 5
    return rows


@pytest.mark.parametrize(
    "faults",
    [
        ["result_commit:1", "result_commit:70", "between_rounds:1"],
        pytest.param(
            ["predictor_fit:1", "predictor_fit:1", "between_rounds:2", "result_commit:3"], marks=pytest.mark.slow
        ),
    ],
)
def test_kill_at_fixed_points_then_resume(tmp_path, reference, faults):
    storage, log = tmp_path / "s.db", tmp_path / "log"
    for fault in faults:
        assert _run(storage, log, fault=fault).wait() == -signal.SIGKILL
    assert _run(storage, log).wait() == 0
    assert _results(storage) == ("complete", reference)
    evaluations = Counter(log.read_text().splitlines())
    repeated = sum(n - 1 for n in evaluations.values())
    # only a child whose result was being committed at the kill may run again
    assert repeated <= sum(f.startswith("result_commit") for f in faults)
    assert set(evaluations) == {cell for cell, *_ in reference}


def test_kill_at_random_moments_then_resume(tmp_path, reference):
    storage, log = tmp_path / "s.db", tmp_path / "log"
    rng = random.Random(11)
    kills = 0
    for _ in range(4):
        process = _run(storage, log, delay=0.01)
        time.sleep(rng.uniform(1.0, 3.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    assert _run(storage, log, delay=0.01).wait() == 0
    assert _results(storage) == ("complete", reference)
    evaluations = Counter(log.read_text().splitlines())
    assert sum(n - 1 for n in evaluations.values()) <= kills


def test_second_driver_of_the_same_study_is_refused(tmp_path):
    storage, log = tmp_path / "s.db", tmp_path / "log"
    first = _run(storage, log, delay=0.2)
    try:
        deadline = time.time() + 60
        while not (log.exists() and log.read_text()) and time.time() < deadline:
            time.sleep(0.2)
        assert Study.load(StudyStore(storage), "s").state == "running"
        second = _run(storage, log, delay=0.2, stderr=subprocess.PIPE, text=True)
        _, err = second.communicate(timeout=120)
        assert second.returncode != 0 and "another running process" in err
    finally:
        first.kill()
        first.wait()


def test_ctrl_c_stops_a_pool_cleanly_and_the_study_resumes(tmp_path, reference):
    storage, log = tmp_path / "s.db", tmp_path / "log"
    process = _run(storage, log, delay=0.5, workers=2, start_new_session=True)
    deadline = time.time() + 60
    while not (log.exists() and len(log.read_text().splitlines()) >= 10) and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the whole process group
    assert process.wait(timeout=30) == 130
    state, rows = _results(storage)
    assert state == "running" and any(status == "done" for _, _, status, *_ in rows)
    assert _run(storage, log).wait() == 0
    assert _results(storage) == ("complete", reference)
