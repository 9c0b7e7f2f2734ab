"""The child-throughput benchmark runs end to end on CPU, and its GPU measurements run on CPU as far as they can.

The figures themselves are not asserted here (timings belong to the benchmark, not to tests);
what is asserted is that every number it prints was measured and has its meaning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pnas.evaluation.data import DEBIAN_FASHION_MNIST

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import child_throughput as bench  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not DEBIAN_FASHION_MNIST.is_dir() and not os.environ.get("CI"),
        reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
    ),
]


def test_quick_run_prints_one_json_object_with_the_named_keys():
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "child_throughput.py"), "--json", "--quick"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    report = json.loads(run.stdout)  # exactly one document on stdout: progress went to stderr
    for kind in ("cifar_proxy", "fashion_mnist"):
        o = report[kind]
        assert o["plain_img_s"] > 0 and o["project_img_s"] > 0
        assert o["speedup"] == pytest.approx(o["project_img_s"] / o["plain_img_s"])
        assert o["plain_child_s"] > 0 and o["project_child_s"] > 0
        assert isinstance(o["children"], int) and isinstance(o["project_workers"], int)
    f = report["fashion_mnist"]
    assert 0 <= f["plain_accuracy"] <= 1 and 0 <= f["project_accuracy"] <= 1
    assert len(f["plain_accuracies"]) == len(f["project_accuracies"]) == f["children"]
    assert report["switches"]["cifar_proxy"]["project default"]["vs_default"] == 1
    assert "plain loop" in run.stderr


def test_the_paper_proxy_and_the_concurrency_sweep_run_on_cpu(tmp_path):
    data_dir = str(bench.synthetic_cifar(tmp_path, 5000 + 64))
    config = bench.paper_proxy_config(data_dir, "cpu", batch=16, epochs=1, images=64, threads=1,
                                      cells_per_stack=1, filters=4)  # fmt: skip
    config = bench.replace(config, val_size=5000)
    proxy = bench.paper_proxy(config, plain_images=32)
    assert proxy["child_s"] > 0 and proxy["speedup_vs_plain"] > 0 and 0 <= proxy["accuracy"] <= 1
    assert proxy["images"] == 64 and proxy["batch_size"] == 16
    sweep = bench.concurrency(config, gpus=[], shares=(1, 2))
    assert set(sweep["img_s_by_children_per_gpu"]) == {"1", "2"} and sweep["best_children_per_gpu"] in (1, 2)
    assert sweep["children_per_hour_per_gpu"] > 0
