"""Children as Ray tasks: on this machine or on a cluster, with the local pool's fault rules.

Ray schedules each child by the resources it asks for (``cpus_per_child``,
``gpus_per_child``, a fraction sharing a GPU) on a local instance or on a
cluster started with ``ray start`` or KubeRay. The driver alone writes the
study: a task returns its result, and the driver records it.

What crosses between the driver and a worker is plain data: the evaluator's
name and configuration, the data it loaded (tensors, through Ray's object
store, put there once), the cell's text, and back the start and progress
events and the result as a dictionary. Each task is a generator that yields
those events, so progress shows as with local workers.

Faults: a child's own failure (an exception, a NaN loss) comes back as an
error; a child past ``child_timeout`` has its task force-cancelled, which kills
its worker process; a worker that died (killed, out of memory) or a node that
left makes the task raise a Ray error, and the child is submitted again, up to
``max_retries`` times, before it is the machinery's failure.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pnas.config import RUNTIME, option
from pnas.evaluation.base import EvalResult, Evaluator, EvaluatorSpec
from pnas.execution.base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_STOP_AFTER_FAILURES,
    EXECUTORS,
    EventCallback,
    Executor,
    ExecutorOptions,
    ExecutorUnavailable,
    Job,
    Judge,
    Outcome,
    TimeLimit,
    check_fault_options,
    describe_error,
    timeout_error,
)

INSTALL_HINT = 'the ray executor needs Ray, which is not installed: pip install "pnas[ray]"'

TOKEN_REFUSED = (
    "the Ray cluster at {address} refused this driver: its authentication token is missing or wrong "
    "(set RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH)"
)


def import_ray() -> Any:
    """The ``ray`` module, or :class:`ExecutorUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ExecutorUnavailable(INSTALL_HINT) from None
    return ray


# --- on the worker ------------------------------------------------------------

_WORKER_CACHE: dict[tuple[str, str, str | None], Evaluator] = {}
"""The evaluator of the last (spec, data) this worker process ran, kept for its next child."""


def _worker_evaluator(name: str, config: dict[str, Any], data: list[Any]) -> Evaluator:
    import json

    import ray

    spec = EvaluatorSpec(name, config)
    ref = data[0] if data else None  # boxed in a list, so that Ray hands over the reference, not the value
    key = (spec.name, json.dumps(spec.config, sort_keys=True, default=str), ref.hex() if ref is not None else None)
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()  # one data set in memory per worker
        _WORKER_CACHE[key] = spec.build(ray.get(ref) if ref is not None else None)
    return _WORKER_CACHE[key]


def _cap_gpu_memory(share: float) -> None:
    """Ray's GPU fractions are logical: a child sharing a GPU limits its own memory to its share."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(share, torch.cuda.current_device())


def child_task(
    name: str, config: dict[str, Any], data: list[Any], text: str, gpu_share: float
) -> Iterator[dict[str, Any]]:
    """One child on a Ray worker: yields its start, its progress, then its result (plain dictionaries).

    Its arguments are plain data too: the evaluator's registered name and configuration, the data's
    object reference (in a list), the cell's text and the GPU share.

    The evaluator runs in a thread so that its progress callback can hand events to this generator.
    """
    yield {"type": "start", "worker": f"{socket.gethostname()}:{os.getpid()}"}
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    outcome: dict[str, Any] = {"result": None, "error": None}

    def work() -> None:
        try:
            evaluator = _worker_evaluator(name, config, data)
            if 0 < gpu_share < 1:
                _cap_gpu_memory(gpu_share)
            result = evaluator.evaluate(text, progress=lambda event: events.put({"type": "progress", **event}))
            outcome["result"] = result.to_dict()
        except Exception as exc:  # the child's own failure: recorded, the search goes on
            outcome["error"] = describe_error(exc)
        finally:
            events.put(None)

    started = time.time()
    threading.Thread(target=work, name="pnas-child", daemon=True).start()
    while (event := events.get()) is not None:
        yield event
    yield {"type": "result", **outcome, "started": started, "finished": time.time()}


# --- on the driver --------------------------------------------------------------


@dataclass
class _Task:
    job: Job
    submitted: float
    began: float | None = None
    worker: str = ""


class RayExecutor(Executor):
    """Children as Ray tasks; see the module docstring for what travels and what is retried.

    Connects (or starts a local instance) when built, so that a wrong address or
    token stops the search before anything is trained; a Ray instance this
    executor started is shut down by :meth:`close`.
    """

    def __init__(
        self,
        evaluator: Evaluator,
        *,
        ray_address: str | None = None,
        gpus_per_child: float | None = None,
        cpus_per_child: float = 1.0,
        workers: int | None = None,
        data_on_every_node: bool = False,
        max_retries: int = DEFAULT_MAX_RETRIES,
        child_timeout: float | None = None,
        stop_after_failures: int = DEFAULT_STOP_AFTER_FAILURES,
    ) -> None:
        check_fault_options(max_retries, child_timeout, stop_after_failures)
        if gpus_per_child is not None and gpus_per_child < 0:
            raise ValueError(f"--gpus-per-child must be >= 0, got {gpus_per_child}")
        if gpus_per_child is not None and gpus_per_child > 1 and gpus_per_child != int(gpus_per_child):
            raise ValueError(f"--gpus-per-child above 1 must be a whole number, got {gpus_per_child}")
        if cpus_per_child < 0:
            raise ValueError(f"--cpus-per-child must be >= 0, got {cpus_per_child}")
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.ray = import_ray()
        self.evaluator = evaluator
        self.address = ray_address
        self.cpus_per_child = cpus_per_child
        self.workers = workers
        self.data_on_every_node = data_on_every_node
        self.max_retries = max_retries
        self.child_timeout = child_timeout
        self.limit = TimeLimit(child_timeout)
        self.stop_after_failures = stop_after_failures
        self._started_ray = False
        self._connect()
        has_gpus = self.ray.cluster_resources().get("GPU", 0) > 0
        self.gpus_per_child = gpus_per_child if gpus_per_child is not None else (1.0 if has_gpus else 0.0)
        self._data: list[Any] | None = None
        self._remote = self.ray.remote(child_task).options(
            num_cpus=self.cpus_per_child,
            num_gpus=self.gpus_per_child,
            max_retries=0,  # retries are ours: counted, shown, and the same rules as the local pool
            retry_exceptions=False,
        )

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():  # a caller (a notebook, a test) already connected: use its cluster
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        settings: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if self.address is None:
            settings.update(address="local", include_dashboard=False)
        else:
            _check_reachable(self.address)
            settings["address"] = self.address
        _init_ray(ray, settings, self.address or "this machine")
        self._started_ray = True

    def _data_box(self) -> list[Any]:
        """The data, put into the object store once (after the evaluator was prepared), in a list box."""
        if self._data is None:
            shared = None if self.data_on_every_node else self.evaluator.shared_data()
            self._data = [self.ray.put(shared)] if shared is not None else []
        return self._data

    def _submit(self, job: Job) -> Any:
        spec = self.evaluator.spec()
        return self._remote.remote(spec.name, spec.config, self._data_box(), job.key, self.gpus_per_child)

    def run(
        self, jobs: Sequence[Job], on_event: EventCallback | None = None, judge: Judge | None = None
    ) -> Iterator[Outcome]:
        # judges is False: the study never passes a judge here, and refuses a pruner that may stop children
        ray = self.ray
        emit = on_event or (lambda key, event: None)
        todo: deque[Job] = deque(jobs)
        attempts: dict[str, int] = {}
        flight: dict[Any, _Task] = {}
        limit = self.workers or len(jobs)
        try:
            while todo or flight:
                while todo and len(flight) < limit:
                    job = todo.popleft()
                    attempts[job.key] = attempts.get(job.key, 0) + 1
                    flight[self._submit(job)] = _Task(job, time.time())
                ready, _ = ray.wait(list(flight), num_returns=1, timeout=self._wait(flight))
                if ready:  # and whatever else is ready by now
                    ready, _ = ray.wait(list(flight), num_returns=len(flight), timeout=0)
                for generator in ready:
                    task = flight[generator]
                    try:
                        item = ray.get(next(generator))
                    except StopIteration:
                        item = None
                    except ray.exceptions.RayError as exc:  # the machinery failed under the child
                        del flight[generator]
                        reason = _machinery_reason(exc)
                        if attempts[task.job.key] <= self.max_retries:
                            emit(
                                task.job.key, {"type": "retry", "attempt": attempts[task.job.key] + 1, "reason": reason}
                            )
                            todo.appendleft(task.job)
                            continue
                        tries = attempts[task.job.key]
                        yield Outcome(
                            task.job.key,
                            None,
                            f"{reason}, {tries} time{'s' if tries > 1 else ''}",
                            task.worker,
                            task.began or task.submitted,
                            time.time(),
                            machinery=True,
                        )
                        continue
                    if item is None or item["type"] == "result":
                        del flight[generator]
                        yield _outcome(task, item)
                        continue
                    if item["type"] == "start":
                        task.began, task.worker = time.time(), item["worker"]
                    emit(task.job.key, item)
                for generator, task in self._overdue(flight):
                    del flight[generator]
                    ray.cancel(generator, force=True)  # kills its worker process, wherever it is stuck
                    assert self.child_timeout is not None
                    began = task.began or task.submitted
                    yield Outcome(
                        task.job.key, None, timeout_error(self.child_timeout), task.worker, began, time.time()
                    )
        finally:  # the study stopped early, Ctrl-C, or an error: stop what is still running
            for generator in flight:
                try:
                    ray.cancel(generator, force=True)
                except Exception:  # the cluster may be gone too; nothing more to stop then
                    pass

    def _wait(self, flight: dict[Any, _Task]) -> float:
        return self.limit.wait(t.began for t in flight.values())

    def _overdue(self, flight: dict[Any, _Task]) -> list[tuple[Any, _Task]]:
        now = time.time()
        return [(g, t) for g, t in flight.items() if self.limit.overdue(t.began, now)]

    def close(self) -> None:
        if self._started_ray and self.ray.is_initialized():
            self.ray.shutdown()
        self._started_ray = False


def _outcome(task: _Task, item: dict[str, Any] | None) -> Outcome:
    if item is None:  # the generator ended without its result: cannot happen unless Ray lost it
        return Outcome(task.job.key, None, "the child's task ended without a result", task.worker, task.submitted,
                       time.time(), machinery=True)  # fmt: skip
    result = EvalResult(**item["result"]) if item["result"] is not None else None
    return Outcome(task.job.key, result, item["error"], task.worker, item["started"], item["finished"])


def _machinery_reason(exc: BaseException) -> str:
    """What killed a child's task, in one line: its worker died, its node left, it ran out of memory."""
    name = type(exc).__name__
    what = {
        "WorkerCrashedError": "its Ray worker died (killed, or out of memory)",
        "NodeDiedError": "its node left the Ray cluster",
        "OutOfMemoryError": "its Ray worker was killed for using too much memory",
        "TaskCancelledError": "its Ray task was cancelled",
        "ObjectLostError": "its result was lost with its node",
    }.get(name)
    if what is None:
        cause = getattr(exc, "cause", None)  # a RayTaskError carries the exception raised on the worker
        if isinstance(cause, BaseException):
            what = f"the task raised {describe_error(cause)}"
        else:
            text = ANSI_ESCAPE.sub("", str(exc)).strip().splitlines()
            what = f"{name}: {text[0]}" if text else name
    return f"Ray: {ANSI_ESCAPE.sub('', what)}"


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
"""Ray colours its messages for terminals; a stored error is plain text."""


NOT_A_NODE = (
    "a driver must run on a node of the cluster: on its head, or on a machine that joined it with "
    "ray start --address HEAD:PORT --num-cpus 0"
)


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail in one line, at once, when nothing answers at HOST:PORT (Ray itself retries for minutes)."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not host or not port.isdigit():
        return  # Ray resolves these itself, and says so quickly when it cannot
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ExecutorUnavailable(
            f"nothing answers at {address} ({exc.strerror or exc}): start the cluster's head there "
            f"(ray start --head --port {port}) or give its address with --ray-address HOST:PORT"
        ) from None


def _init_ray(ray: Any, settings: dict[str, Any], where: str) -> None:
    """``ray.init`` with what it prints while connecting held back: Ray's C++ core repeats a refused
    token every second for about 20 s; the user gets one line saying what is wrong instead."""
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        error: BaseException | None = None
        try:
            ray.init(**settings)
        except Exception as exc:
            error = exc
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        said = captured.read().decode(errors="replace")
    if error is None:
        sys.stderr.write(said)
        return
    if "InvalidAuthToken" in said or "InvalidAuthToken" in str(error):
        raise ExecutorUnavailable(TOKEN_REFUSED.format(address=where)) from None
    hint = f"; {NOT_A_NODE}" if where != "this machine" else ""
    raise ExecutorUnavailable(f"cannot start or reach Ray at {where}: {describe_error(error)}{hint}") from None


@dataclass(frozen=True)
class RayOptions(ExecutorOptions):
    ray_address: str | None = option(
        None,
        "The Ray cluster: HOST:PORT of its head, or auto for the cluster this machine is part of "
        "(unset: start a local Ray instance sized to this machine).",
        decides=RUNTIME,
    )
    gpus_per_child: float | None = option(
        None,
        "GPUs each child reserves; a fraction shares one (0.25: four children per GPU, each capping its memory "
        "to its share). Default: 1 when the cluster has GPUs, else 0.",
        low=0,
        decides=RUNTIME,
    )
    cpus_per_child: float = option(1.0, "CPU cores each child reserves.", low=0, decides=RUNTIME)
    workers: int | None = option(
        None, "Children in flight at once (default: as many as the cluster's resources allow).", low=1, decides=RUNTIME
    )
    data_on_every_node: bool = option(
        False,
        "Each worker loads the data from --data-dir itself (it is on every node) instead of receiving it "
        "from the driver through Ray's object store.",
        decides=RUNTIME,
    )


EXECUTORS.register(
    "ray",
    RayExecutor,
    options=RayOptions,
    help='Ray tasks, on a local instance or a cluster (pip install "pnas[ray]").',
)
