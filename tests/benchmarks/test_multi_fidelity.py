"""The pruning benchmark's figures mean what they say, and its tiny scale runs end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import multi_fidelity as bench  # noqa: E402

from pnas.pruners import SuccessiveHalving  # noqa: E402
from pnas.storage.base import TrialRecord, TrialState  # noqa: E402


def trial(number: int, status: str, accuracy: float | None, mult_adds: int, examples: int) -> TrialRecord:
    return TrialRecord(number=number, cell=f"c{number}", round=1, status=TrialState(status), accuracy=accuracy,
                       mult_adds=mult_adds, examples=examples)  # fmt: skip


# proposed in this order; a pruned child costs what it trained, a running one nothing yet
TRIALS = [
    trial(2, "done", 0.80, 10, 3),  # 30: reaches 0.80 after 20 + 5 + 30
    trial(0, "done", 0.70, 10, 2),  # 20
    trial(1, "pruned", None, 5, 1),  # 5
    trial(3, "failed", None, 1, 4),  # 4
    trial(4, "done", 0.90, 2, 5),  # 10
    trial(5, "running", None, 100, 100),
]


def test_compute_to_reach_counts_children_in_trial_order_pruned_and_failed_ones_included():
    assert bench.reach_compute(TRIALS, 0.70) == 20
    assert bench.reach_compute(TRIALS, 0.75) == 55
    assert bench.reach_compute(TRIALS, 0.90) == 69
    assert bench.reach_compute(TRIALS, 0.95) is None


def test_best_within_a_compute_is_the_best_of_the_children_trained_up_to_it():
    assert bench.best_within(TRIALS, 19) is None
    assert bench.best_within(TRIALS, 54) == 0.70
    assert bench.best_within(TRIALS, 68) == 0.80
    assert bench.best_within(TRIALS, 1000) == 0.90


def summary(test: float, compute: float, reach: float | None) -> dict:
    return {"test": {"mean": test}, "compute": {"mean": compute}, "reach_compute": {"mean": reach}}


def test_the_goal_is_half_the_compute_the_unpruned_search_took_or_a_better_pick_at_equal_compute():
    base = summary(0.80, 100.0, 60.0)
    half = bench.goal(summary(0.79, 70.0, 30.0), base)
    assert half["half_compute"] and not half["better_pick_at_equal_compute"] and half["met"]
    assert (half["reach_share_of_baseline_reach"], half["reach_share_of_baseline_compute"]) == (0.5, 0.3)
    assert half["baseline_reach_share_of_its_compute"] == 0.6
    # half the unpruned search's total is not enough when it found its best early itself
    early = bench.goal(summary(0.79, 70.0, 40.0), base)
    assert early["reach_share_of_baseline_compute"] == 0.4 and not early["met"]
    better = bench.goal(summary(0.81, 104.0, None), base)
    assert better["better_pick_at_equal_compute"] and not better["half_compute"] and better["met"]
    assert not bench.goal(summary(0.81, 110.0, 31.0), base)["met"]  # too costly, and not half


def test_rank_agreement_gives_each_reported_step_against_the_final_and_marks_the_rungs():
    curves = {
        "seed": 0,
        "curves": [
            {"cell": "a", "reported": [0.1, 0.5], "final": 0.6},
            {"cell": "b", "reported": [0.2, 0.4], "final": 0.5},
            {"cell": "c", "reported": [0.3, 0.3], "final": 0.4},
        ],
    }
    agreement = bench.rank_agreement(curves, SuccessiveHalving(min_steps=2).rung)
    assert agreement["first_vs_last"] == pytest.approx(-1.0)
    assert [(s["step"], s["rung"]) for s in agreement["steps"]] == [(1, False), (2, True)]
    assert agreement["rungs"] == [{"step": 2, "rung": True, "spearman": pytest.approx(1.0)}]


def test_a_pruned_random_search_gets_the_unpruned_compute_and_room_for_more_models():
    scale = bench.SCALES["small"]
    config = bench.search_config(scale, "random", "median", 1, budget_compute=12345)
    assert config.overrides == {"strategy": {"budget_compute": 12345}}
    assert config.budget == bench.MODEL_CAP * 60 and config.batch == 4 and config.seed == 1
    assert config.trainer["train_subset"] == 1024 and config.blocks == 2 and config.pruner == "median"
    progressive = bench.search_config(scale, "pnas", "none", 0)
    assert (progressive.beam, progressive.budget, progressive.overrides) == (4, None, {})


@pytest.mark.slow
def test_the_tiny_scale_runs_and_prints_one_json_document(tmp_path, capsys):
    out = tmp_path / "mf.json"
    assert bench.main(["--scale", "tiny", "--seeds", "0", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    summary = printed["summary"]
    expected = {
        f"{s}/{p}" for s in bench.STRATEGIES for p in bench.PRUNERS if s == "pnas" or p not in bench.LADDER_ONLY
    }
    assert set(summary) == expected
    for key, row in summary.items():
        pruned = row["pruned"]["mean"]
        assert (
            sum(sum(r["pruned_at"].values()) for r in printed["runs"] if key == f"{r['strategy']}/{r['pruner']}")
            == pruned
        )
        assert (pruned == 0) == key.endswith("/none")
        assert row["goal"] is None if key.endswith("/none") else isinstance(row["goal"]["met"], bool)
    assert summary["pnas/median"]["compute"]["mean"] < summary["pnas/none"]["compute"]["mean"]
    assert summary["random/median"]["children"]["mean"] > summary["random/none"]["children"]["mean"]
    first = printed["first_round"]
    assert first["children"] == 136 and first["matches_unpruned_search"] == {"equal": 136, "compared": 136}
    assert -1 <= printed["spearman"]["first_vs_last"] <= 1 and printed["spearman"]["rungs"][0]["step"] == 1
