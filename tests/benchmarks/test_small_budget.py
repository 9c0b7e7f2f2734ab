"""The small-budget benchmark's extra contenders: guided on other feature sets, with a shared zero-cost cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import small_budget as bench  # noqa: E402

from pnas.predictors.features import ZeroCostFeatures  # noqa: E402
from pnas.space import Nb201Space  # noqa: E402


def test_features_add_a_guided_contender_and_unknown_contenders_are_refused(capsys):
    keys = [key for key, _, _ in bench.contenders("paths,zero-cost")]
    assert keys[:2] == ["guided", "guided[paths+zero-cost]"] and "evolution" in keys
    with pytest.raises(SystemExit):
        bench.main(["--only", "nope"])
    assert "unknown contender(s) nope" in capsys.readouterr().err


def test_a_guided_run_reads_zero_cost_rows_from_the_cache_file(tmp_path, zero_cost_rows):
    space = Nb201Space()
    cache = tmp_path / "zc.npz"
    options = {"predictor_options": {"features": "paths,zero-cost", "epochs": 20}, "pool": 40, "screen": 10}
    first = bench.run_job(("g", "guided", dict(options), 0, 8, None))
    known = ZeroCostFeatures(space)
    known.rows(list(dict.fromkeys(zero_cost_rows)))
    np.savez(cache, cells=np.array([space.format(c) for c in known.known]), rows=np.stack(list(known.known.values())))
    zero_cost_rows.clear()
    again = bench.run_job(("g", "guided", dict(options), 0, 8, str(cache)))
    assert zero_cost_rows == [] and again["val"] == first["val"] and len(again["val"]) == 8
