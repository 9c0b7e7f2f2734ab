"""The local process pool: a dead worker costs only its own child, a child past its time limit is stopped,
and workers die with their driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from pnas.evaluation.base import EvaluatorSpec
from pnas.execution.base import Job, timeout_error
from pnas.execution.local import (
    PARENT_POLL_SECONDS,
    WORKER_DIED,
    InProcessExecutor,
    ProcessPoolExecutor,
    local_executor,
)
from pnas.space import PnasSpace

CELLS = [str(c) for c in PnasSpace(1).initial_cells()[:6]]


def _jobs():
    return [Job(cell, cell) for cell in CELLS]


def _pid(worker: str) -> int:
    return int(worker.rsplit(":", 1)[1])


def _run_killing_first_worker(pool: ProcessPoolExecutor, log):
    """Run every job; kill -9 the worker of the first child as soon as it starts. Returns (outcomes, events)."""
    events: list[tuple[str, dict]] = []
    killed: list[str] = []

    def on_event(key, event):
        events.append((key, event))
        if event["type"] == "start" and not killed:
            killed.append(key)
            os.kill(_pid(event["worker"]), signal.SIGKILL)

    outcomes = list(pool.run(_jobs(), on_event))
    return outcomes, events, killed[0]


def test_a_killed_worker_costs_only_its_child_which_is_retried_then_fails_as_machinery(tmp_path):
    log = tmp_path / "log"
    spec = EvaluatorSpec("synthetic", {"seed": 0, "delay": 0.3, "noise": 0.02, "log": str(log)})
    with ProcessPoolExecutor(spec, workers=2, threads=1) as pool:
        outcomes, events, victim = _run_killing_first_worker(pool, log)
        assert sorted(o.key for o in outcomes) == sorted(CELLS)  # each child reported once
        assert all(o.result is not None and o.error is None and not o.machinery for o in outcomes)
        retries = [(k, e) for k, e in events if e["type"] == "retry"]
        assert [k for k, _ in retries] == [victim] and WORKER_DIED in retries[0][1]["reason"]
        starts = Counter(k for k, e in events if e["type"] == "start")
        assert starts[victim] == 2 and all(starts[c] == 1 for c in CELLS if c != victim)  # nobody else restarted
        starting = [(i, e["starting"]) for i, (_, e) in enumerate(events) if e["type"] == "workers"]
        assert [n for _, n in starting] == [2, 1] and starting[0][0] == 0  # the pool first, then the replacement
        finished = Counter(log.read_text().splitlines())
        assert all(finished[c] == 1 for c in CELLS)  # the victim never finished its first attempt

        pool.max_retries = 0  # the same pool, now without retries: the victim's child is the machinery's failure
        outcomes, _, victim = _run_killing_first_worker(pool, log)
    failed = [o for o in outcomes if o.error is not None]
    assert [o.key for o in failed] == [victim]
    assert failed[0].machinery and WORKER_DIED in failed[0].error and "SIGKILL" in failed[0].error
    assert len(outcomes) == len(CELLS) and all(o.result is not None for o in outcomes if o.key != victim)


def test_a_child_that_fails_by_itself_is_not_retried():
    spec = EvaluatorSpec("synthetic", {"seed": 0, "fail_on": ""})  # every child raises SetupBroken
    with ProcessPoolExecutor(spec, workers=1, threads=1) as pool:
        events = []
        outcomes = list(pool.run(_jobs()[:2], lambda key, event: events.append(event["type"])))
    assert len(outcomes) == 2 and all(o.error and "SetupBroken" in o.error and not o.machinery for o in outcomes)
    assert "retry" not in events


DRIVER = """
import sys, time
from pnas.evaluation.base import EvaluatorSpec
from pnas.execution.base import Job
from pnas.execution.local import ProcessPoolExecutor
pool = ProcessPoolExecutor(EvaluatorSpec("synthetic", {"seed": 0, "delay": 0.1}), workers=2, threads=1)
def on_event(key, event):
    if event["type"] == "start":
        print(event["worker"].rsplit(":", 1)[1], flush=True)
for _ in pool.run([Job(str(i), "sep3x3(h1)+sep3x3(h1)") for i in range(10000)], on_event):
    pass
"""


def _state(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[1]), fields[0]


def _alive(pid: int) -> bool:
    state = _state(pid)
    return state is not None and state[1] != "Z"  # a zombie waiting for its reaper is gone for our purpose


def _children(pid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and (_state(int(p)) or (0, ""))[0] == pid]


@pytest.mark.parametrize("how", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_workers_exit_quietly_within_two_seconds_when_their_driver_dies(how, tmp_path):
    log = tmp_path / "stderr"
    with open(log, "w") as stderr:
        driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        started = Counter(int(driver.stdout.readline()) for _ in range(8))
        while len(started) < 2:  # both workers busy with short children, sending results all the time
            started[int(driver.stdout.readline())] += 1
        children = _children(driver.pid)  # the workers, and whatever else it started (multiprocessing's tracker)
        assert set(started) <= set(children)
        driver.send_signal(how)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 2
        while any(_alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in children if _alive(p)], "children outlived their driver by 2 s"
    finally:
        driver.kill()
        driver.wait()
    time.sleep(0.5)
    assert "Traceback" not in log.read_text()


@pytest.mark.slow
def test_workers_started_by_a_thread_that_ended_go_on_serving_their_driver():
    import threading

    pool = ProcessPoolExecutor(EvaluatorSpec("synthetic", {"seed": 0}), workers=2, threads=1)
    events: list[dict] = []
    try:
        first = threading.Thread(target=lambda: list(pool.run(_jobs()[:2])))
        first.start()
        first.join()  # the thread that started the workers is gone; the driver is not
        pids = pool.pids
        time.sleep(2 * PARENT_POLL_SECONDS)
        outcomes = list(pool.run(_jobs()[2:], lambda key, event: events.append(event)))
        assert all(o.error is None for o in outcomes) and pool.pids == pids
        assert not [e for e in events if e["type"] == "retry"]
    finally:
        pool.close()


def test_a_child_that_hangs_is_stopped_at_its_timeout_and_the_others_go_on():
    hung = CELLS[1]
    spec = EvaluatorSpec("synthetic", {"seed": 0, "hang_on": hung})
    started = time.monotonic()
    with ProcessPoolExecutor(spec, workers=2, threads=1, child_timeout=1.0) as pool:
        events = []
        outcomes = {o.key: o for o in pool.run(_jobs(), lambda key, event: events.append((key, event)))}
        assert time.monotonic() - started < 30  # the hung child did not hold the pool for its hour
        assert sorted(outcomes) == sorted(CELLS)
        assert outcomes[hung].error == timeout_error(1.0) and not outcomes[hung].machinery
        assert all(outcomes[c].result is not None for c in CELLS if c != hung)
        hung_worker = _pid(outcomes[hung].worker)
        assert not _alive(hung_worker)  # stopped for real, not only flagged
        assert not [e for _, e in events if e["type"] == "retry"]  # a timeout is the child's failure: no retry
        assert len(pool.pids) <= 2


def test_one_worker_with_a_time_limit_runs_in_a_worker_process_so_that_it_can_be_stopped():
    from pnas.evaluation.synthetic import SyntheticEvaluator

    evaluator = SyntheticEvaluator(hang_on="")
    assert isinstance(local_executor(evaluator, workers=1), InProcessExecutor)
    with local_executor(evaluator, workers=1, child_timeout=0.5) as executor:
        assert isinstance(executor, ProcessPoolExecutor)
        [outcome] = list(executor.run(_jobs()[:1]))
    assert outcome.error == timeout_error(0.5)


def test_a_time_limit_counts_from_when_the_child_began_plus_the_grace():
    from pnas.execution.base import TIMEOUT_GRACE_SECONDS, TimeLimit

    limit, now = TimeLimit(10.0), time.time()
    assert not limit.overdue(None, now)  # not started yet: no clock runs
    assert not limit.overdue(now - 10.0, now) and limit.overdue(now - 10.0 - TIMEOUT_GRACE_SECONDS, now)
    assert 0.0 < limit.wait([now - 11.5], most=5.0) <= 0.5 + 1e-3 and limit.wait([None], most=5.0) == 5.0
    assert TimeLimit(None).wait([now - 1e6]) == 1.0 and not TimeLimit(None).overdue(now - 1e6, now)


def test_workers_run_with_the_allocator_asked_for_and_the_driver_keeps_its_environment(monkeypatch):
    import ctypes.util

    from pnas.execution.local import allocator_environment

    if not ctypes.util.find_library("jemalloc"):
        pytest.skip("jemalloc is not installed (Debian: apt-get install libjemalloc2)")
    before = dict(os.environ)
    spec = EvaluatorSpec("synthetic", {"delay": 0.0})
    for allocator, mapped in (("jemalloc", True), ("system", False)):
        with ProcessPoolExecutor(spec, 1, allocator=allocator) as pool:
            (outcome,) = pool.run(_jobs()[:1])
            with open(f"/proc/{_pid(outcome.worker)}/maps") as maps:
                assert ("libjemalloc" in maps.read()) is mapped, allocator
        assert dict(os.environ) == before
    assert allocator_environment("system") == {}
    assert "libjemalloc" in allocator_environment("auto")["LD_PRELOAD"]


def test_an_allocator_that_is_not_installed_is_refused_with_what_to_install(monkeypatch):
    import ctypes.util

    from pnas.execution.local import allocator_environment

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert allocator_environment("auto") == {}  # auto falls back to the system's
    with pytest.raises(ValueError, match=r"'jemalloc' is not installed.*apt-get install libjemalloc2"):
        allocator_environment("jemalloc")
    with pytest.raises(ValueError, match="--allocator must be"):
        ProcessPoolExecutor(EvaluatorSpec("synthetic", {}), 1, allocator="mimalloc")
