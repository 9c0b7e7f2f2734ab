"""The Ray executor against clusters: a node that leaves, and a head that wants a token.

Each test runs its own cluster (Ray's ``cluster_utils.Cluster`` simulates two nodes on this
machine; the token test starts a head with ``ray start --head`` and drives it from other processes).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (the README's set-up installs it)")

from pnas.evaluation.synthetic import SyntheticEvaluator  # noqa: E402
from pnas.execution.base import Job  # noqa: E402
from pnas.execution.ray import RayExecutor  # noqa: E402
from pnas.space import PnasSpace  # noqa: E402

CELLS = [str(c) for c in PnasSpace(1).initial_cells()[:4]]
BIN = os.path.dirname(sys.executable)
FAST_HEALTH_CHECKS = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
}
"""A node that stops answering is declared dead in about 1.5 s instead of Ray's default of about 30 s."""


def test_the_children_of_a_node_that_leaves_are_retried_on_the_remaining_node():
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "_system_config": FAST_HEALTH_CHECKS})
    try:
        doomed = cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        events: list[tuple[str, dict]] = []
        removed: list[bool] = []

        def on_event(key, event):
            events.append((key, event))
            if not removed and len({k for k, e in events if e["type"] == "start"}) == 2:
                removed.append(True)  # a child runs on each node now: one node leaves
                cluster.remove_node(doomed, allow_graceful=False)

        with RayExecutor(SyntheticEvaluator(delay=2.0)) as executor:
            outcomes = list(executor.run([Job(c, c) for c in CELLS], on_event))
        assert removed
        assert sorted(o.key for o in outcomes) == sorted(CELLS)  # each child reported once
        assert all(o.result is not None and o.error is None for o in outcomes)
        retries = [e for _, e in events if e["type"] == "retry"]
        assert retries and all(e["reason"].startswith("Ray: ") for e in retries)
    finally:
        ray.shutdown()
        cluster.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_head_with_a_token_accepts_its_token_and_refuses_another_in_one_line(tmp_path):
    token, port = secrets.token_hex(32), _free_port()
    temp = tempfile.mkdtemp(prefix="pnas-ray-")  # short: Ray's socket paths under it must fit in 107 bytes
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [os.path.join(BIN, "ray"), "start", "--head", "--port", str(port), "--num-cpus", "2", "--disable-usage-stats",
         "--include-dashboard=false", "--temp-dir", temp, "--block"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        search = [os.path.join(BIN, "pnas"), "search", "--evaluator", "synthetic", "--strategy", "random",
                  "--budget", "4", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
                  "--storage", str(tmp_path / "s.db")]  # fmt: skip
        deadline = time.monotonic() + 60
        while True:  # the head takes some seconds to come up
            accepted = subprocess.run(
                [*search, "--study", "token"], env=env, capture_output=True, text=True, timeout=120
            )
            if accepted.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert accepted.returncode == 0, accepted.stderr[-2000:]
        wrong = {**env, "RAY_AUTH_TOKEN": "wrong" + token}
        refused = subprocess.run([*search, "--study", "wrong"], env=wrong, capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "authentication token is missing or wrong" in lines[0], refused.stderr
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_a_head_passes_the_address_check_and_its_nodes_slots_make_the_default_batch(tmp_path):
    """Two nodes of 2 and 3 cores, and a head that trains nothing: five children at once, or two when
    each asks for two cores (one per node: a child runs on one node)."""
    from ray.cluster_utils import Cluster

    from pnas.execution.ray import _check_reachable
    from pnas.search import SearchConfig, run_search

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        cluster.add_node(num_cpus=2)
        cluster.add_node(num_cpus=3)
        cluster.wait_for_nodes()
        _check_reachable(cluster.address)  # its GCS answers as the gRPC server it is
        for study, cpus, batch in (("one-core", 1.0, 5), ("two-cores", 2.0, 2)):
            config = SearchConfig(strategy="evolution", budget=6, evaluator="synthetic", executor="ray")
            config.overrides = {"executor": {"ray_address": cluster.address, "cpus_per_child": cpus}}
            with run_search(config, storage=str(tmp_path / "s.db"), study=study) as done:
                assert done.config["strategy"]["batch"] == batch
                assert len([t for t in done.trials() if t.accuracy is not None]) == 6
            assert not ray.is_initialized()  # the executor that connected has disconnected
    finally:
        ray.shutdown()
        cluster.shutdown()
