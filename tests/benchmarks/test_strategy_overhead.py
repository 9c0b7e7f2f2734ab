"""The strategy-overhead benchmark, in a tiny version: one JSON document, the strategy's own time only.

The figures themselves are not asserted (timings belong to the benchmark); what is asserted is that
each one was measured and means what the benchmark says.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import strategy_overhead as bench  # noqa: E402

from pnas.evaluation.synthetic import SyntheticEvaluator  # noqa: E402
from pnas.space import Nb201Space, PnasSpace  # noqa: E402
from pnas.strategies import STRATEGIES  # noqa: E402


def test_a_tiny_run_prints_one_json_document_of_every_space_and_strategy(capsys):
    assert bench.main(["--json", "--budgets", "8", "--strategies", "random,evolution", "--spaces", "pnas,nb201"]) == 0
    out = capsys.readouterr()
    doc = json.loads(out.out)  # exactly one document on stdout: the table went to stderr
    assert "per step" in out.err and doc["cpus"] >= 1
    runs = {(r["space"], r["strategy"]): r for r in doc["runs"]}
    assert set(runs) == {(s, n) for s in ("pnas", "nb201") for n in ("random", "evolution")}
    for r in runs.values():
        assert r["models"] == 8 and r["budget"] == 8
        assert r["per_step_s"] * r["steps"] == pytest.approx(r["strategy_s"]) and r["slowest_step_s"] <= r["strategy_s"]
    assert runs["pnas", "random"]["steps"] == 1  # the whole budget is one batch
    assert runs["pnas", "evolution"]["steps"] == 8  # one cell per step on one worker


def test_the_evaluators_time_is_left_out():
    strategy = STRATEGIES.create("random", PnasSpace(), budget=4, batch=1)
    measured = bench.measure(strategy, SyntheticEvaluator(delay=0.1))
    assert measured["models"] == 4 and measured["steps"] == 4 and measured["strategy_s"] < 0.2


def test_the_progressive_search_runs_at_the_beam_nearest_the_budget():
    assert bench.progressive_beam(Nb201Space(), 50) == 5  # 24 + 5 x 5 = 49 models
    assert bench.progressive_beam(PnasSpace(), 150) == 4  # 136 + 4 x 4 = 152
    assert bench.progressive_beam(PnasSpace(), 50) is None  # its 136 one-block cells alone are more
