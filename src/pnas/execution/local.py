"""Local executors: in this process, or a pool of worker processes on this machine."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from multiprocessing.process import BaseProcess
from typing import Any, NoReturn

from pnas.config import RUNTIME, option
from pnas.evaluation.base import EVALUATORS, Evaluator, EvaluatorSpec
from pnas.execution.base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_STOP_AFTER_FAILURES,
    EXECUTORS,
    EventCallback,
    Executor,
    ExecutorOptions,
    Job,
    Judge,
    Outcome,
    Question,
    TimeLimit,
    check_fault_options,
    decide,
    describe_error,
    evaluate_job,
    timeout_error,
)

ALLOCATORS: dict[str, tuple[str, dict[str, str]]] = {
    # library name for ctypes.util.find_library, and the settings it runs with
    "jemalloc": ("jemalloc", {"MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1"}),
    "tcmalloc": ("tcmalloc_minimal", {}),
}
"""Allocators a worker process can run with (on Linux, by ``LD_PRELOAD``). Training allocates and frees
activation-sized buffers at every step; glibc's malloc gives large ones back to the kernel and faults them
in again, zeroed, at the next step, a cost jemalloc avoids (measured: docs/training.md). jemalloc is told
never to give freed memory back, so a worker's memory stays at its largest child's peak."""


def allocator_environment(choice: str) -> dict[str, str]:
    """The environment variables that make a new worker process use ``choice`` (``auto``: jemalloc, else
    tcmalloc, when installed; ``system``: glibc's malloc). Results do not depend on it."""
    return _resolve_allocator(choice)[1]


def _resolve_allocator(choice: str) -> tuple[str, dict[str, str]]:
    """(the allocator a worker will run with, the environment that makes it so)."""
    import ctypes.util

    if choice == "system":
        return "system", {}
    if not sys.platform.startswith("linux"):
        if choice == "auto":
            return "system", {}
        raise ValueError(f"allocator {choice!r} is preloaded on Linux only: use --allocator auto or system")
    candidates = list(ALLOCATORS) if choice == "auto" else [choice]
    for name in candidates:
        library, settings = ALLOCATORS[name]
        found = ctypes.util.find_library(library)
        if found:
            already = os.environ.get("LD_PRELOAD", "")
            preload = already if found in already.split() else " ".join(p for p in (already, found) if p)
            return name, {"LD_PRELOAD": preload, **settings}
    if choice != "auto":
        package = "libjemalloc2" if choice == "jemalloc" else "libtcmalloc-minimal4"
        raise ValueError(
            f"allocator {choice!r} is not installed: install it (Debian: apt-get install {package}), "
            "or use --allocator auto or system"
        )
    return "system", {}


class InProcessExecutor(Executor):
    """Evaluates jobs one after the other in this process: the simplest path (a child here cannot be
    stopped from outside, so a time limit needs a worker process: :func:`local_executor` sees to it)."""

    judges = True
    """Children run one after the other, so every earlier child has ended when one asks: the judge decides at once."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def run(
        self, jobs: Sequence[Job], on_event: EventCallback | None = None, judge: Judge | None = None
    ) -> Iterator[Outcome]:
        asks = judge is not None and self.evaluator.reports_steps
        for job in jobs:
            started = time.time()
            if on_event:
                on_event(job.key, {"type": "start", "worker": self.worker})

            def progress(event: dict[str, Any], key: str = job.key) -> None:
                if on_event:
                    on_event(key, {"type": "progress", **event})

            def report(step: int, value: float, key: str = job.key) -> bool:
                assert judge is not None
                return judge(key, step, value) is True

            result, error, pruned = evaluate_job(self.evaluator, job.cell, progress, report if asks else None)
            yield Outcome(job.key, result, error, self.worker, started, time.time(), pruned=pruned)


# --- process pool -------------------------------------------------------------

WORKER_DIED = "worker process died"
"""Start of the error of a child whose worker process died under it (killed, out of memory)."""

PARENT_POLL_SECONDS = 0.2
"""How often a worker checks that the process that started it is still alive."""
PARENT_DEATH_SIGNAL = signal.SIGUSR2
"""The signal the kernel sends (Linux) a worker started by a thread other than the main one when that thread
ends; the worker exits if its driver is gone. One started by the main thread, which lasts as long as its
process, gets SIGKILL: the kernel ends it at once, however busy it is."""
_PR_SET_PDEATHSIG = 1


def _parent_gone() -> NoReturn:
    """Exit at once and without a word: no interpreter shutdown, which takes seconds once torch is loaded."""
    os._exit(1)


def _exit_with_parent(parent: int, death_signal: int) -> None:
    """Exit this worker as soon as its parent is gone, whatever killed the parent (``kill -9`` included).

    On Linux the kernel sends ``death_signal`` when the thread that started the
    worker ends (``prctl(PR_SET_PDEATHSIG)``): SIGKILL where that thread is its
    driver's main thread, which ends only with the driver; otherwise
    :data:`PARENT_DEATH_SIGNAL`, whose handler exits only when the driver is
    gone (the worker has another parent then), not when a thread of a live
    driver ended. A daemon thread also polls the parent's pid, on other
    systems. A worker that finds its pipe closed exits the same way
    (:func:`_send`).
    """

    def on_signal(signum: int, frame: object) -> None:
        if os.getppid() != parent:
            _parent_gone()

    if sys.platform.startswith("linux"):
        import ctypes

        if death_signal != signal.SIGKILL:
            signal.signal(death_signal, on_signal)
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the thread below still watches
            pass
    if os.getppid() != parent:  # gone while this worker was starting, before the signal was asked for
        _parent_gone()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                _parent_gone()
            time.sleep(PARENT_POLL_SECONDS)

    threading.Thread(target=watch, name="pnas-parent-watch", daemon=True).start()


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    """Send to the driver; a closed pipe means the driver is gone (or dropped this worker): exit quietly."""
    try:
        conn.send(message)
    except OSError:
        _parent_gone()


def _ask(conn: Connection, key: str, step: int, value: float) -> bool:
    """A worker's ``report``: send the child's value and wait for the driver's decision (True: stop)."""
    _send(conn, ("report", key, step, value))
    try:
        answer = conn.recv()
    except (EOFError, OSError):  # the parent closed the pipe, or died
        _parent_gone()
    if not (isinstance(answer, tuple) and answer[0] == "decision"):
        _parent_gone()  # told to stop (None) while waiting: the run is over
    return bool(answer[1])


def _worker_main(
    conn: Connection, parent: int, death_signal: int, spec: EvaluatorSpec, threads: int, gpu: str | None
) -> None:
    """A pool worker: build the evaluator once, then evaluate each job sent on ``conn`` until told to stop.

    Messages: the driver sends ``(key, cell, asks)`` per job (``asks``: report each step and wait for
    ``("decision", stop)``), then None to stop; the worker sends ``("event", key, event)``, ``("report", key,
    step, value)`` and ``("result", key, result, error, worker, started, finished, pruned)``."""
    _exit_with_parent(parent, death_signal)
    # Ctrl-C is the parent's to handle: it stops the pool, and interrupted children are trained again on resume
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if gpu is not None:  # before torch is imported, so the worker sees only its GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    name = f"{socket.gethostname()}:{os.getpid()}"
    setup_error: str | None = None
    try:
        import torch

        torch.set_num_threads(threads)
        evaluator = spec.build()
        evaluator.prepare()  # the data is loaded once, here, not inside the first child's time
    except Exception as exc:  # the evaluator cannot be built here: every job it is sent fails with why
        evaluator, setup_error = None, f"worker could not build the evaluator: {describe_error(exc)}"
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe, or died
            _parent_gone()
        if message is None:
            return
        key, cell, asks = message
        started = time.time()
        _send(conn, ("event", key, {"type": "start", "worker": name}))

        def progress(event: dict[str, Any], key: str = key) -> None:
            _send(conn, ("event", key, {"type": "progress", **event}))

        def report(step: int, value: float, key: str = key) -> bool:
            return _ask(conn, key, step, value)

        result, error, pruned = None, setup_error, None
        if evaluator is not None:
            debug = bool(os.environ.get("PNAS_DEBUG"))
            asking = report if asks and evaluator.reports_steps else None
            result, error, pruned = evaluate_job(evaluator, cell, progress, asking, debug=debug)
        _send(conn, ("result", key, result, error, name, started, time.time(), pruned))


def visible_gpus() -> list[str]:
    """Indices of the GPUs this process may use (empty without CUDA)."""
    try:
        import torch

        count = torch.cuda.device_count()
    except Exception:
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed:
        return [g.strip() for g in listed.split(",") if g.strip()][:count] or []
    return [str(i) for i in range(count)]


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    job: Job | None = None
    started: float = 0.0
    began: float | None = None
    """When the worker reported that it started the child (its time limit counts from then)."""
    question: Question | None = None
    """(step, value, since when) of a report the child waits on a decision for (its time limit stops meanwhile)."""


def _death_reason(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit code {code}"
    return f"{WORKER_DIED} ({how}; killed, or out of memory)"


class ProcessPoolExecutor(Executor):
    """``workers`` processes, each building its own evaluator from a spec once.

    Each worker has its own pipe, so a worker that dies (killed, out of memory)
    costs only the child it was training: that child is the machinery's
    failure, not its own, and is given to a fresh worker again, up to
    ``max_retries`` times, before it is reported failed with
    ``machinery=True``. Children on the other workers go on untouched.
    A child still running ``child_timeout`` seconds (plus a short grace) after
    it started has its worker killed and is reported failed, its own failure.
    Workers exit by themselves within a second when the driver dies.

    Processes are started with ``spawn`` (forking a process that already ran
    torch's thread pools can deadlock). Each worker gets ``threads`` torch
    threads (default: cores / workers). With ``gpus`` each worker is pinned to
    one of them, round robin.
    """

    def __init__(
        self,
        spec: EvaluatorSpec,
        workers: int,
        threads: int | None = None,
        gpus: list[str] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        child_timeout: float | None = None,
        allocator: str = "auto",
    ) -> None:
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        if allocator not in ("auto", "system", *ALLOCATORS):
            raise ValueError(f"--allocator must be auto, system, {' or '.join(ALLOCATORS)}, got {allocator!r}")
        self.allocator, self.environment = _resolve_allocator(allocator)
        """The allocator the workers run with (``auto`` resolved), and the environment they start with."""
        check_fault_options(max_retries, child_timeout, DEFAULT_STOP_AFTER_FAILURES)
        self.spec = spec
        self.child_timeout = child_timeout
        self.limit = TimeLimit(child_timeout)
        self.workers = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self.gpus = gpus or []
        self.max_retries = max_retries
        self._context = mp.get_context("spawn")
        self._pool: list[_Worker] = []
        self._started = 0

    def slots(self) -> int:
        return self.workers

    @property
    def pids(self) -> list[int]:
        """The worker processes alive now (for tests and progress)."""
        return [w.process.pid for w in self._pool if w.process.pid is not None and w.process.is_alive()]

    def _start_worker(self) -> _Worker:
        gpu = self.gpus[self._started % len(self.gpus)] if self.gpus else None
        self._started += 1
        ours, theirs = self._context.Pipe(duplex=True)
        main_thread = threading.current_thread() is threading.main_thread()
        death_signal = int(signal.SIGKILL if main_thread else PARENT_DEATH_SIGNAL)  # see _exit_with_parent
        process = self._context.Process(
            target=_worker_main,
            args=(theirs, os.getpid(), death_signal, self.spec, self.threads, gpu),
            daemon=True,
            name=f"pnas-worker-{self._started}",
        )
        saved = {key: os.environ.get(key) for key in self.environment}
        os.environ.update(self.environment)  # read once, when the worker's interpreter starts
        try:
            process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        theirs.close()
        worker = _Worker(process, ours)
        self._pool.append(worker)
        return worker

    def _remove(self, worker: _Worker) -> None:
        self._pool.remove(worker)
        worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)

    judges = True
    """A child that reports waits in its worker for the judge's decision; waiting questions are asked again
    whenever a message, an outcome or a death arrives. Jobs start in the order given, and a retried job goes
    first, so the earliest open child always runs and the rest never wait on a child that cannot."""

    def run(
        self, jobs: Sequence[Job], on_event: EventCallback | None = None, judge: Judge | None = None
    ) -> Iterator[Outcome]:
        todo: deque[Job] = deque(jobs)
        attempts: dict[str, int] = {}
        running = 0
        emit = on_event or (lambda key, event: None)
        try:
            while todo or running:
                starting = 0
                while todo and len(self._pool) < self.workers:
                    self._start_worker()
                    starting += 1
                if starting:
                    emit(todo[0].key, {"type": "workers", "starting": starting})
                for worker in self._pool:
                    if worker.job is None and todo:
                        job = todo.popleft()
                        attempts[job.key] = attempts.get(job.key, 0) + 1
                        worker.job, worker.started, worker.began = job, time.time(), None
                        worker.question = None
                        worker.conn.send((job.key, job.cell, judge is not None))
                        running += 1
                busy = [w for w in self._pool if w.job is not None]
                ready = set(mp_wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=self._wait()))
                for worker in busy:
                    outcome, dead = self._receive(worker, worker.conn in ready, emit)
                    if outcome is not None:
                        worker.job = None
                        running -= 1
                        yield outcome
                    elif dead or worker.process.sentinel in ready:
                        assert worker.job is not None
                        job = worker.job
                        worker.job = None
                        running -= 1
                        worker.process.join(timeout=2)  # its pipe may close just before it is reaped
                        reason = (
                            _death_reason(worker.process)
                            if not worker.process.is_alive()
                            else f"{WORKER_DIED} (its pipe closed)"
                        )
                        self._remove(worker)
                        if attempts[job.key] <= self.max_retries:
                            emit(job.key, {"type": "retry", "attempt": attempts[job.key] + 1, "reason": reason})
                            todo.appendleft(job)
                        else:
                            tries = attempts[job.key]
                            now = time.time()
                            yield Outcome(
                                job.key,
                                None,
                                f"{reason}, {tries} time{'s' if tries > 1 else ''}",
                                f"{socket.gethostname()}:{worker.process.pid}",
                                worker.started,
                                now,
                                machinery=True,
                            )
                for worker in self._overdue():
                    assert worker.job is not None and self.child_timeout is not None
                    job = worker.job
                    name, started = f"{socket.gethostname()}:{worker.process.pid}", worker.started
                    worker.job = None
                    running -= 1
                    self._remove(worker)  # kills it: a child stuck anywhere, even in native code, stops
                    yield Outcome(job.key, None, timeout_error(self.child_timeout), name, started, time.time())
                if judge is not None:
                    self._answer(judge)
        except BaseException:  # Ctrl-C or the caller giving up: stop the children in flight now
            self._terminate()
            raise

    def _answer(self, judge: Judge) -> None:
        """Ask the judge every waiting question again and send each decision it can now give (the judge
        recorded each report when first asked, so answers do not depend on the order asked); the time a child
        waited does not count against its time limit."""
        for worker in self._pool:
            if worker.job is None or worker.question is None:
                continue
            decision, worker.began = decide(judge, worker.job.key, worker.question, worker.began)
            if decision is None:
                continue
            worker.question = None
            try:
                worker.conn.send(("decision", decision))
            except OSError:  # it died meanwhile: its death is read at the next turn
                pass

    def _wait(self) -> float:
        """Seconds to wait for a message: at most 1, and never past the deadline of a child not waiting."""
        return self.limit.wait(w.began for w in self._pool if w.job is not None and w.question is None)

    def _overdue(self) -> list[_Worker]:
        now = time.time()
        return [w for w in self._pool if w.job is not None and w.question is None and self.limit.overdue(w.began, now)]

    @staticmethod
    def _receive(worker: _Worker, readable: bool, emit: EventCallback) -> tuple[Outcome | None, bool]:
        """Read what the worker sent: (its outcome if it finished, whether its pipe is closed). A report is
        kept as the worker's question, for :meth:`_answer`."""
        if not readable and not worker.conn.poll():
            return None, False
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "event":
                    if message[2].get("type") == "start":
                        worker.began = time.time()
                    emit(message[1], message[2])
                elif message[0] == "report":
                    worker.question = (message[2], message[3], time.time())
                else:
                    _, key, result, error, name, started, finished, pruned = message
                    return Outcome(key, result, error, name, started, finished, pruned=pruned), False
        except (EOFError, OSError):
            return None, True
        return None, False

    def _terminate(self) -> None:
        for worker in list(self._pool):
            self._remove(worker)

    def close(self) -> None:
        for worker in self._pool:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in list(self._pool):
            worker.process.join(timeout=10)
            self._remove(worker)


def default_workers(evaluator: Evaluator | type[Evaluator] | str) -> int:
    """One worker per visible GPU, else one per CPU core, for an evaluator that needs worker processes
    (:attr:`Evaluator.needs_workers`: real training); look-ups answer at once, so they run in-process.
    ``evaluator`` is an evaluator, its class, or a registered evaluator's name."""
    declared: Any = EVALUATORS.component(evaluator).factory if isinstance(evaluator, str) else evaluator
    if not isinstance(declared, Evaluator) and not (isinstance(declared, type) and issubclass(declared, Evaluator)):
        return 1  # a plugin's factory function declares nothing: in-process
    if not declared.needs_workers:
        return 1
    return len(visible_gpus()) or max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class LocalOptions(ExecutorOptions):
    workers: int | None = option(
        None,
        "Children trained at once, each in its own process; 1 = in this process (in one worker process when "
        "there is a --child-timeout). Default: one per GPU, else one per CPU core (look-up evaluators: 1).",
        low=1,
        decides=RUNTIME,
    )
    allocator: str = option(
        "auto",
        "Memory allocator of worker processes: auto (jemalloc, else tcmalloc, when installed), jemalloc, "
        "tcmalloc, or system (glibc). Speed only: results are the same (docs/training.md).",
        choices=("auto", "system", *ALLOCATORS),
        decides=RUNTIME,
    )


def local_executor(
    evaluator: Evaluator,
    *,
    workers: int | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    child_timeout: float | None = None,
    stop_after_failures: int = DEFAULT_STOP_AFTER_FAILURES,
    allocator: str = "auto",
) -> Executor:
    """One worker runs in-process; more (or one with a time limit, so that it can be stopped) run in a
    local process pool, pinned to GPUs when there are GPUs."""
    check_fault_options(max_retries, child_timeout, stop_after_failures)
    workers = workers or default_workers(evaluator)
    executor: Executor
    if workers <= 1 and child_timeout is None:
        executor = InProcessExecutor(evaluator)
    else:
        executor = ProcessPoolExecutor(
            evaluator.spec(),
            workers,
            gpus=visible_gpus(),
            max_retries=max_retries,
            child_timeout=child_timeout,
            allocator=allocator,
        )
    executor.stop_after_failures = stop_after_failures
    return executor


EXECUTORS.register(
    "local", local_executor, options=LocalOptions, help="This machine: in-process, or a pool of worker processes."
)
