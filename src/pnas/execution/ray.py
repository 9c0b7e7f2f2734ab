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

Pruning: a child that reports asks the driver's judge through a small actor, the
:class:`Mailbox` (one per executor, on the driver's node, taking no resources): the
child's ``report`` hands it the value and blocks until the driver posts the decision;
the driver waits on the mailbox beside the tasks, and asks every waiting question
again whenever anything arrives. Children are submitted in the order given, never
more than the cluster runs at once (a retried child first), so a child that waits
never holds the slot of the one it waits for.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    Question,
    TimeLimit,
    check_fault_options,
    decide,
    describe_error,
    evaluate_job,
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
    name: str,
    config: dict[str, Any],
    data: list[Any],
    text: str,
    gpu_share: float,
    mailbox: Any = None,
    ticket: str = "",
) -> Iterator[dict[str, Any]]:
    """One child on a Ray worker: yields its start, its progress, then its result (plain dictionaries).

    Its arguments are plain data too: the evaluator's registered name and configuration, the data's
    object reference (in a list), the cell's text and the GPU share; with a ``mailbox`` (the handle of a
    :class:`Mailbox`), a child that reports asks it under ``ticket`` whether to stop at each step.

    The evaluator runs in a thread so that its progress callback can hand events to this generator.
    """
    yield {"type": "start", "worker": f"{socket.gethostname()}:{os.getpid()}"}
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()
    outcome: dict[str, Any] = {"result": None, "error": None, "pruned": None}

    def progress(event: dict[str, Any]) -> None:
        events.put({"type": "progress", **event})

    def report(step: int, value: float) -> bool:
        import ray

        return ray.get(mailbox.ask.remote(ticket, step, value)) is True

    def work() -> None:
        try:
            evaluator = _worker_evaluator(name, config, data)
            if 0 < gpu_share < 1:
                _cap_gpu_memory(gpu_share)
            asking = report if mailbox is not None and evaluator.reports_steps else None
            result, outcome["error"], pruned = evaluate_job(evaluator, text, progress, asking)
            outcome["result"] = result.to_dict() if result is not None else None
            outcome["pruned"] = list(pruned) if pruned is not None else None
        except Exception as exc:  # the evaluator could not be built: the child's own failure
            outcome["error"] = describe_error(exc)
        finally:
            events.put(None)

    started = time.time()
    threading.Thread(target=work, name="pnas-child", daemon=True).start()
    while (event := events.get()) is not None:
        yield event
    yield {"type": "result", **outcome, "started": started, "finished": time.time()}


class Mailbox:
    """Where children's reports wait for the driver's decisions (a Ray actor; its methods are coroutines).

    A child asks ``ask(ticket, step, value)`` and gets the decision (True: stop) once the driver posts it
    with ``answer``; the driver collects new questions with ``take``, which waits until there is one.
    Tickets name one submission of a child, so a question of a task that is gone is never answered twice.
    """

    def __init__(self) -> None:
        import asyncio

        self._asyncio = asyncio
        self._questions: list[tuple[str, int, float]] = []
        self._arrived = asyncio.Event()
        self._waiting: dict[str, Any] = {}

    async def ask(self, ticket: str, step: int, value: float) -> bool | None:
        future = self._asyncio.get_running_loop().create_future()
        self._waiting[ticket] = future
        self._questions.append((ticket, step, value))
        self._arrived.set()
        try:
            answer: bool | None = await future
            return answer
        finally:
            if self._waiting.get(ticket) is future:
                del self._waiting[ticket]

    async def take(self) -> list[tuple[str, int, float]]:
        """The questions asked since the last ``take``, once there is at least one."""
        while not self._questions:
            self._arrived.clear()
            await self._arrived.wait()
        taken, self._questions = self._questions, []
        return taken

    async def answer(self, decisions: dict[str, bool | None]) -> None:
        """Post decisions by ticket (None: the question is dropped, its task is gone)."""
        for ticket, decision in decisions.items():
            future = self._waiting.pop(ticket, None)
            if future is not None and not future.done():
                future.set_result(decision)


# --- on the driver --------------------------------------------------------------


@dataclass
class _Task:
    job: Job
    submitted: float
    ticket: str = ""
    began: float | None = None
    worker: str = ""
    question: Question | None = None
    """(step, value, since when) of a report the child waits on a decision for (its time limit stops meanwhile)."""


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
        self._mailbox: Any = None
        self._take: Any = None
        """The mailbox's pending ``take`` (kept from one run to the next: a run's stale questions are ignored)."""
        self._tickets = 0
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

    def slots(self) -> int:
        """``--workers`` when given, else as many children as the cluster's nodes hold at once for the
        resources each one asks for (see :func:`cluster_slots`), as the cluster is now."""
        if self.workers is not None:
            return self.workers
        nodes = [node.get("Resources", {}) for node in self.ray.nodes() if node.get("Alive")]
        return cluster_slots(nodes, self.cpus_per_child, self.gpus_per_child)

    def _data_box(self) -> list[Any]:
        """The data, put into the object store once (after the evaluator was prepared), in a list box."""
        if self._data is None:
            shared = None if self.data_on_every_node else self.evaluator.shared_data()
            self._data = [self.ray.put(shared)] if shared is not None else []
        return self._data

    def _submit(self, job: Job, judged: bool) -> tuple[Any, _Task]:
        spec = self.evaluator.spec()
        task = _Task(job, time.time())
        if not judged:
            return self._remote.remote(spec.name, spec.config, self._data_box(), job.key, self.gpus_per_child), task
        self._tickets += 1
        task.ticket = str(self._tickets)
        mailbox = self._open_mailbox()
        args = (spec.name, spec.config, self._data_box(), job.key, self.gpus_per_child, mailbox, task.ticket)
        return self._remote.remote(*args), task

    def _open_mailbox(self) -> Any:
        """The mailbox, started at the first run that judges, on the driver's node (it lives as long as the
        executor; a node that leaves takes no question with it)."""
        if self._mailbox is None:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = NodeAffinitySchedulingStrategy(self.ray.get_runtime_context().get_node_id(), soft=True)
            actor = self.ray.remote(Mailbox).options(num_cpus=0, max_restarts=0, scheduling_strategy=here)
            self._mailbox = actor.remote()
        return self._mailbox

    def _capacity(self) -> int:
        """Children the cluster runs at once now, at most ``--workers``: a judged run submits no more, so
        that every submitted child runs, and the one that others wait for is never held back."""
        nodes = [node.get("Resources", {}) for node in self.ray.nodes() if node.get("Alive")]
        fits = cluster_slots(nodes, self.cpus_per_child, self.gpus_per_child)
        return min(fits, self.workers) if self.workers is not None else fits

    judges = True
    """A child that reports blocks on the mailbox until the driver's judge decides; jobs are submitted in the
    order given and never more than the cluster runs at once, a retried job first, so the earliest open
    child always runs and the rest never wait on a child that cannot."""

    def run(
        self, jobs: Sequence[Job], on_event: EventCallback | None = None, judge: Judge | None = None
    ) -> Iterator[Outcome]:
        ray = self.ray
        emit = on_event or (lambda key, event: None)
        todo: deque[Job] = deque(jobs)
        attempts: dict[str, int] = {}
        flight: dict[Any, _Task] = {}
        judged = judge is not None and self.evaluator.reports_steps
        limit = self._capacity() if judged else (self.workers or len(jobs))
        if judged:
            self._open_mailbox()
            if self._take is None:
                self._take = self._mailbox.take.remote()
        try:
            while todo or flight:
                while todo and len(flight) < limit:
                    job = todo.popleft()
                    attempts[job.key] = attempts.get(job.key, 0) + 1
                    generator, task = self._submit(job, judged)
                    flight[generator] = task
                listened = [self._take] if judged else []
                ready, _ = ray.wait(list(flight) + listened, num_returns=1, timeout=self._wait(flight))
                if ready and flight:  # and whatever else is ready by now
                    ready, _ = ray.wait(list(flight), num_returns=len(flight), timeout=0)
                if judged:
                    self._questions(flight)
                for generator in ready:
                    task = flight[generator]
                    try:
                        item = ray.get(next(generator))
                    except StopIteration:
                        item = None
                    except ray.exceptions.RayError as exc:  # the machinery failed under the child
                        del flight[generator]
                        self._drop([task])
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
                    self._drop([task])
                    ray.cancel(generator, force=True)  # kills its worker process, wherever it is stuck
                    assert self.child_timeout is not None
                    began = task.began or task.submitted
                    yield Outcome(
                        task.job.key, None, timeout_error(self.child_timeout), task.worker, began, time.time()
                    )
                if judge is not None and judged:
                    self._answer(flight, judge)
        finally:  # the study stopped early, Ctrl-C, or an error: stop what is still running
            for generator in flight:
                try:
                    ray.cancel(generator, force=True)
                except Exception:  # the cluster may be gone too; nothing more to stop then
                    pass
            try:
                self._drop(list(flight.values()))
            except Exception:
                pass

    def _questions(self, flight: dict[Any, _Task]) -> None:
        """Keep the questions the mailbox took as their tasks' (those of tasks no longer in flight are
        stale), and wait for the next ones."""
        done, _ = self.ray.wait([self._take], timeout=0)
        if not done:
            return
        asked = self.ray.get(self._take)
        self._take = self._mailbox.take.remote()
        tasks = {task.ticket: task for task in flight.values()}
        for ticket, step, value in asked:
            if ticket in tasks:
                tasks[ticket].question = (step, value, time.time())

    def _answer(self, flight: dict[Any, _Task], judge: Judge) -> None:
        """Ask the judge every waiting question again (it recorded each report when first asked, so answers do
        not depend on the order asked) and post each decision it can now give; the time a child waited does
        not count against its time limit."""
        decisions: dict[str, bool | None] = {}
        for task in flight.values():
            if task.question is None:
                continue
            decision, task.began = decide(judge, task.job.key, task.question, task.began)
            if decision is None:
                continue
            task.question = None
            decisions[task.ticket] = decision
        if decisions:
            self._mailbox.answer.remote(decisions)

    def _drop(self, tasks: list[_Task]) -> None:
        """Release the questions of tasks that are gone (cancelled, dead): nobody will answer them."""
        tickets = {task.ticket: None for task in tasks if task.ticket}
        if tickets and self._mailbox is not None:
            self._mailbox.answer.remote(tickets)

    def _wait(self, flight: dict[Any, _Task]) -> float:
        """Seconds to wait for news: at most 1, and never past the deadline of a child not waiting."""
        return self.limit.wait(t.began for t in flight.values() if t.question is None)

    def _overdue(self, flight: dict[Any, _Task]) -> list[tuple[Any, _Task]]:
        now = time.time()
        return [(g, t) for g, t in flight.items() if t.question is None and self.limit.overdue(t.began, now)]

    def close(self) -> None:
        if self._mailbox is not None and self.ray.is_initialized():
            try:
                self.ray.kill(self._mailbox)
            except Exception:  # the cluster may be gone: the mailbox went with it
                pass
        self._mailbox = self._take = None
        if self._started_ray and self.ray.is_initialized():
            self.ray.shutdown()
        self._started_ray = False


def cluster_slots(nodes: Iterable[Mapping[str, float]], cpus_per_child: float, gpus_per_child: float) -> int:
    """Children that fit at once on nodes of these resources (Ray's ``CPU`` and ``GPU``), each child on
    one node: per node, the fewest of its CPUs // ``cpus_per_child`` and GPUs // ``gpus_per_child``
    (a resource a child does not ask for limits nothing; a child that asks for none: one per CPU); at least 1."""
    wants = {"CPU": cpus_per_child, "GPU": gpus_per_child}
    total = 0
    for node in nodes:
        fits = [int(node.get(name, 0) / need + 1e-6) for name, need in wants.items() if need > 0]
        total += min(fits) if fits else int(node.get("CPU", 0))
    return max(1, total)


def _outcome(task: _Task, item: dict[str, Any] | None) -> Outcome:
    if item is None:  # the generator ended without its result: cannot happen unless Ray lost it
        return Outcome(task.job.key, None, "the child's task ended without a result", task.worker, task.submitted,
                       time.time(), machinery=True)  # fmt: skip
    result = EvalResult(**item["result"]) if item["result"] is not None else None
    pruned = (int(item["pruned"][0]), float(item["pruned"][1])) if item.get("pruned") else None
    return Outcome(task.job.key, result, item["error"], task.worker, item["started"], item["finished"], pruned=pruned)


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


GCS_PORT = 6379
"""The port of a Ray head's GCS, what ``--ray-address`` names (``ray start --head`` prints it)."""

DASHBOARD_PORT = 8265
"""The port of a Ray head's dashboard: an HTTP server, often given by mistake for the GCS's."""

PROBE_SECONDS = 5.0
"""How long the driver waits for the head's GCS to answer before saying that no Ray cluster is there."""

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
"""What an HTTP/2 client sends first: the connection preface, then its (empty) settings frame."""


def _check_reachable(address: str, timeout: float | None = None) -> None:
    """Fail in one line, within ``timeout`` (default :data:`PROBE_SECONDS`), unless a gRPC server, as a
    Ray head's GCS is, answers at HOST:PORT: Ray itself retries for minutes without a word, and cannot
    be stopped while it does.

    The probe speaks the first words of HTTP/2, on which gRPC runs: a gRPC server answers at once with
    its settings frame; an HTTP/1 server (a dashboard), a port nobody listens on, and a listener that
    never answers are each told apart. A cluster with TLS (``RAY_USE_TLS``) is only checked for a
    listener; ``auto`` and ``ray://`` addresses are left to Ray.
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]")  # an IPv6 address: [::1]:6379
    if address == "auto" or "://" in address or not host or not port.isdigit():
        return  # Ray resolves these itself, and says so quickly when it cannot
    wait = PROBE_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + wait
    answer, connected = b"", False
    try:
        with socket.create_connection((host, int(port)), timeout=wait) as connection:
            connected = True
            if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
                return
            connection.sendall(HTTP2_PREFACE)
            while len(answer) < 9:  # a frame's header
                connection.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = connection.recv(9 - len(answer))
                if not chunk:
                    break
                answer += chunk
    except TimeoutError:
        why = "it accepted the connection but said nothing" if connected else "nothing answered the connection"
        raise ExecutorUnavailable(_no_cluster(address, f"{why} in {wait:g} s")) from None
    except OSError as exc:
        why = "the connection broke" if connected else "nothing listens there"
        raise ExecutorUnavailable(_no_cluster(address, f"{why} ({exc.strerror or exc})")) from None
    if len(answer) < 9 or answer[3] != 4:  # the server's first frame is its settings (type 4)
        said = "it closed the connection" if not answer else "it speaks another protocol (HTTP/1: a dashboard?)"
        raise ExecutorUnavailable(_no_cluster(address, f"something else listens there: {said}"))


def _no_cluster(address: str, why: str) -> str:
    return (
        f"no Ray cluster answered at {address}: {why}; --ray-address is HOST:PORT of the head's GCS, port "
        f"{GCS_PORT} unless the head was started with another (ray start --head prints it; {DASHBOARD_PORT} "
        "is the dashboard's), or auto on a node of the cluster"
    )


def _init_ray(ray: Any, settings: dict[str, Any], where: str) -> None:
    """``ray.init`` with what it prints while connecting held back: Ray's C++ core repeats a refused
    token every second for about 20 s; the user gets one line saying what is wrong instead.

    ``ray.init`` replaces the process's SIGTERM handler with its own (an exit that skips what the
    caller's handler does, e.g. the command line's "interrupted" and its clean stop): it is put back.
    """
    on_term = _sigterm_handler()
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
            _restore_sigterm_handler(on_term)
        captured.seek(0)
        said = captured.read().decode(errors="replace")
    if error is None:
        sys.stderr.write(said)
        return
    if "InvalidAuthToken" in said or "InvalidAuthToken" in str(error):
        raise ExecutorUnavailable(TOKEN_REFUSED.format(address=where)) from None
    hint = f"; {NOT_A_NODE}" if where != "this machine" else ""
    raise ExecutorUnavailable(f"cannot start or reach Ray at {where}: {describe_error(error)}{hint}") from None


def _sigterm_handler() -> Any:
    """The SIGTERM handler now (None outside the main thread, where none can be set)."""
    return signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None


def _restore_sigterm_handler(handler: Any) -> None:
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


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
