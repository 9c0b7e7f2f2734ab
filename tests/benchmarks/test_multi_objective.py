"""The multi-objective benchmark runs end to end on NAS-Bench-201, and its figures mean what they say.

The hypervolumes themselves are not asserted beyond their meaning (what they are belongs to the
benchmark's report): each lies between 0 and the hypervolume of the whole table's front, and grows
with the budget for a strategy that keeps everything it trained.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import multi_objective as bench  # noqa: E402


def test_beams_never_train_more_than_the_budget():
    for budget in (30, 50, 100, 200):
        assert 24 + 5 * bench.beam_for(budget) <= budget < 24 + 5 * (bench.beam_for(budget) + 1)


def test_front_volume_is_the_study_hypervolume_on_hand_made_points():
    bound = 1000
    assert bench.front_volume([], bound) == 0.0
    assert bench.front_volume([(0.5, 500)], bound) == 0.25  # 0.5 accuracy x (1 - 0.5) of the unit box
    assert bench.front_volume([(0.5, 500), (0.4, 600)], bound) == 0.25  # a dominated point adds nothing


@pytest.mark.slow
def test_the_nb201_part_runs_and_reports_meaningful_hypervolumes():
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "multi_objective.py"), "--json", "--seeds", "2",
         "--skip-fashion-mnist"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    speed = result["cost_model"]
    assert speed["children"] > 250_000 and speed["counted_sample_agrees"] and speed["speedup"] > 1
    nb = result["nb201"]
    assert nb["reference"] == {"accuracy": 0.0, "params": 1531546}
    best = nb["best_possible_hypervolume"]
    assert 0.5 < best < 1.0
    for key in ("pnas", "random", "evolution", "pnas_accuracy_only"):
        volumes = [nb["strategies"][key][str(b)]["hypervolume"] for b in nb["budgets"]]
        assert all(0.0 < v <= best + 1e-12 for v in volumes)
        models = [nb["strategies"][key][str(b)]["models"] for b in nb["budgets"]]
        assert all(m <= b for m, b in zip(models, nb["budgets"]))
    assert "NAS-Bench-201" in out.stderr
