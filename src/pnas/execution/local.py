"""Local executors: in this process, or a pool of worker processes on this machine."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import socket
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import ProcessPoolExecutor as _Pool
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pnas.evaluation.base import Evaluator, EvaluatorSpec
from pnas.execution.base import EventCallback, Executor, Job, Outcome


def describe_error(exc: BaseException) -> str:
    """One line a user can read: the exception type and message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class InProcessExecutor(Executor):
    """Evaluates jobs one after the other in this process: the simplest path."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, jobs: Sequence[Job], on_event: EventCallback | None = None) -> Iterator[Outcome]:
        for job in jobs:
            started = time.time()
            if on_event:
                on_event(job.key, {"type": "start", "worker": self.worker})

            def progress(event: dict[str, Any], key: str = job.key) -> None:
                if on_event:
                    on_event(key, {"type": "progress", **event})

            try:
                result, error = self.evaluator.evaluate(job.cell, progress=progress), None
            except Exception as exc:  # a failed child is recorded; the search goes on
                result, error = None, describe_error(exc)
            yield Outcome(job.key, result, error, self.worker, started, time.time())


# --- process pool -------------------------------------------------------------

_worker_evaluator: Evaluator | None = None
_worker_events: Any = None
_worker_name = ""


def _init_worker(spec: EvaluatorSpec, threads: int, events: Any, counter: Any, gpus: list[str]) -> None:
    global _worker_evaluator, _worker_events, _worker_name
    # Ctrl-C is the parent's to handle: it stops the pool, and interrupted children are trained again on resume
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if gpus:  # one worker per visible GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    import torch

    torch.set_num_threads(threads)
    _worker_events = events
    _worker_name = f"{socket.gethostname()}:{os.getpid()}"
    _worker_evaluator = spec.build()


def _evaluate_in_worker(key: str, cell: Any) -> tuple[Any, str | None, str, float, float]:
    assert _worker_evaluator is not None, "worker was not initialised"
    started = time.time()
    _worker_events.put((key, {"type": "start", "worker": _worker_name}))

    def progress(event: dict[str, Any]) -> None:
        _worker_events.put((key, {"type": "progress", **event}))

    try:
        result, error = _worker_evaluator.evaluate(cell, progress=progress), None
    except Exception as exc:
        result, error = None, describe_error(exc)
        if os.environ.get("PNAS_DEBUG"):
            traceback.print_exc()
    return result, error, _worker_name, started, time.time()


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


class ProcessPoolExecutor(Executor):
    """``workers`` processes, each building its own evaluator from a spec once.

    Processes are started with ``spawn`` (forking a process that already ran
    torch's thread pools can deadlock). Each worker gets ``threads`` torch
    threads (default: cores / workers). With ``gpus`` each worker is pinned to
    one of them, round robin.
    """

    def __init__(self, spec: EvaluatorSpec, workers: int, threads: int | None = None, gpus: list[str] | None = None) -> None:
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.spec = spec
        self.workers = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self.gpus = gpus or []
        self._context = mp.get_context("spawn")
        self._pool: _Pool | None = None
        self._events: Any = None

    def _ensure_pool(self) -> _Pool:
        if self._pool is None:
            self._events = self._context.Queue()
            counter = self._context.Value("i", 0)
            self._pool = _Pool(
                max_workers=self.workers,
                mp_context=self._context,
                initializer=_init_worker,
                initargs=(self.spec, self.threads, self._events, counter, self.gpus),
            )
        return self._pool

    def _drain(self, on_event: EventCallback | None) -> None:
        while True:
            try:
                key, event = self._events.get_nowait()
            except (queue.Empty, OSError, ValueError):
                return
            if on_event:
                on_event(key, event)

    def run(self, jobs: Sequence[Job], on_event: EventCallback | None = None) -> Iterator[Outcome]:
        pool = self._ensure_pool()
        futures: dict[Future, Job] = {pool.submit(_evaluate_in_worker, job.key, job.cell): job for job in jobs}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                self._drain(on_event)
                for future in sorted(done, key=lambda f: jobs.index(futures[f])):
                    job = futures[future]
                    try:
                        result, error, worker, started, finished = future.result()
                    except BrokenProcessPool:
                        now = time.time()
                        result, error, worker, started, finished = (
                            None, "worker process died (killed, or out of memory)", "?", now, now)
                        self._discard_pool()
                    yield Outcome(job.key, result, error, worker, started, finished)
        except BaseException:  # Ctrl-C or the caller giving up: stop the children in flight now
            self._terminate()
            raise
        finally:
            for future in pending:
                future.cancel()

    def _terminate(self) -> None:
        if self._pool is None:
            return
        processes = list(getattr(self._pool, "_processes", {}).values())  # no public API before Python 3.14
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)
        self._pool = None

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
