"""The predictor-quality benchmark's feature comparison: every combination of feature sets, and zero-cost
rows kept in a cache file so a second run computes none."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import predictor_quality as bench  # noqa: E402

from pnas.evaluation.table import read_table  # noqa: E402
from pnas.space import Nb201Space  # noqa: E402


def _small_table(path: Path) -> Path:
    """Eight cells of each level 1..4 of the shipped table, accuracies in percent."""
    space, per_level = Nb201Space(), {}
    for cell, accuracy in read_table(None).fractions("cifar10-val").items():
        level = space.level(cell)
        if level <= 4 and len(per_level.setdefault(level, [])) < 8:
            per_level[level].append((space.format(cell), 100 * accuracy))
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["cellstr", "val"])
        writer.writerows(row for rows in per_level.values() for row in rows)
    return path


def test_every_feature_combination_is_scored_and_zero_cost_rows_are_cached(
    tmp_path, monkeypatch, capsys, zero_cost_rows
):
    import pnas.predictors.features as features

    table, cache = _small_table(tmp_path / "t.csv"), tmp_path / "zc.npz"
    args = ["--json", "--table", str(table), "--metric", "val", "--seeds", "1", "--train-size", "8"]
    args += ["--predictors", "random", "--features", "paths,zero-cost", "--zero-cost-cache", str(cache)]
    assert bench.main(args) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert set(summary) == {"random", "feature_mlp[paths]", "feature_mlp[zero-cost]", "feature_mlp[paths+zero-cost]"}
    for scores in summary.values():
        assert -1 <= scores["spearman"] <= 1 and 0 <= scores["precision_at_k"] <= 1
    assert cache.exists() and len(set(zero_cost_rows)) == len(zero_cost_rows) == 32  # each cell of the table once

    features.CACHES.reset()  # a new process: only the file remembers
    zero_cost_rows.clear()
    assert bench.main(args) == 0
    assert zero_cost_rows == [] and json.loads(capsys.readouterr().out)["summary"] == summary
