"""A --ray-address where no Ray head answers is refused in one line within seconds, and a driver
stopped while it checks the address stops at once.

Ray itself, given a port where an HTTP server (a dashboard) or a silent listener waits, says nothing
for minutes and cannot be stopped while it waits. No Ray instance is started here.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed (the README's set-up installs it)")

from pnas.execution.base import ExecutorUnavailable  # noqa: E402
from pnas.execution.ray import _check_reachable, _init_ray  # noqa: E402
from pnas.search import SearchConfig, run_search, stored_config  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[int]:
    """An HTTP/1 server, as a Ray head's dashboard is."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class SilentListener:
    """A port that accepts connections and never says a word; ``connected`` is set at the first one."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = int(self.socket.getsockname()[1])
        self.connected = threading.Event()
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.socket.accept()[0])
            except OSError:
                return
            self.connected.set()

    def close(self) -> None:
        for connection in self.accepted:
            connection.close()
        self.socket.close()


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    listener = SilentListener()
    yield listener
    listener.close()


def _refusal(address: str, timeout: float | None = None) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(ExecutorUnavailable) as refused:
        _check_reachable(address, timeout)
    return str(refused.value), time.monotonic() - started


def test_an_http_server_is_not_a_ray_head(http_server):
    message, took = _refusal(f"127.0.0.1:{http_server}")
    assert took < 2 and message.startswith(f"no Ray cluster answered at 127.0.0.1:{http_server}: something else")
    assert "HTTP/1" in message and "6379" in message and "8265" in message and "\n" not in message


def test_a_listener_that_never_answers_is_not_a_ray_head(silent_listener):
    message, took = _refusal(f"127.0.0.1:{silent_listener.port}", timeout=0.5)
    assert 0.4 < took < 2 and "accepted the connection but said nothing in 0.5 s" in message


def test_a_port_where_nothing_listens_is_not_a_ray_head():
    message, took = _refusal(f"127.0.0.1:{_free_port()}")
    assert took < 2 and "nothing listens there" in message and "6379" in message


def test_addresses_ray_resolves_itself_are_left_to_it():
    for address in ("auto", "ray://127.0.0.1:1", "localhost"):
        _check_reachable(address, 0.1)


def test_a_refused_address_leaves_no_study_behind(http_server, tmp_path):
    config = SearchConfig(evaluator="synthetic", strategy="random", budget=3, executor="ray")
    config.overrides = {"executor": {"ray_address": f"127.0.0.1:{http_server}"}}
    with pytest.raises(ExecutorUnavailable, match="no Ray cluster answered"):
        run_search(config, storage=str(tmp_path / "s.db"), study="ray")
    assert stored_config(str(tmp_path / "s.db"), "ray") is None


def test_sigterm_while_the_address_is_checked_interrupts_at_once(silent_listener):
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def terminate_once_connected() -> None:
        if silent_listener.connected.wait(10):
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, interrupt)
    killer = threading.Thread(target=terminate_once_connected)
    started = time.monotonic()
    killer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _check_reachable(f"127.0.0.1:{silent_listener.port}", timeout=30)
    finally:
        killer.join()
        signal.signal(signal.SIGTERM, previous)
    assert time.monotonic() - started < 5


def test_connecting_leaves_the_callers_sigterm_handler_in_place():
    """ray.init sets its own, an exit that skips the command line's clean stop."""

    class Ray:
        def init(self, **settings: object) -> None:
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))

    def mine(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        _init_ray(Ray(), {}, "this machine")
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def _search(port: int, tmp_path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pnas", "search", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
               "--evaluator", "synthetic", "--strategy", "random", "--budget", "3", "--study", "ray",
               "--storage", str(tmp_path / "ray.db")]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _said(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-2000:]
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.slow  # a new interpreter that imports Ray: about 6 s on 2 busy cores
def test_the_command_line_refuses_a_dashboards_address_in_one_line(http_server, tmp_path):
    search = _search(http_server, tmp_path)
    _, stderr = search.communicate(timeout=60)
    lines = _said(stderr)
    assert 0 < search.returncode < 128 and len(lines) == 1 and "no Ray cluster answered" in lines[0], stderr


@pytest.mark.slow
def test_sigterm_while_the_address_is_checked_stops_the_driver_at_once(silent_listener, tmp_path):
    search = _search(silent_listener.port, tmp_path)
    try:
        assert silent_listener.connected.wait(60), "the driver never connected"
        search.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        _, stderr = search.communicate(timeout=30)
        assert time.monotonic() - stopped < 2
    finally:
        search.kill()
    assert search.returncode == 130 and _said(stderr)[-1].startswith("interrupted"), stderr
