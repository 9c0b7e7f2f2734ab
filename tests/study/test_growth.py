"""A progressive study grows with its space: more blocks train the new rounds, whatever stored the study."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.evaluation.data import DEBIAN_FASHION_MNIST
from pnas.study import upgrade_layout

FIXTURES = Path(__file__).parent.parent / "fixtures" / "stored_studies"
SYNTHETIC = ["--evaluator", "synthetic", "--beam", "4", "--predictor", "mlp", "--ensemble", "1", "--study", "g"]
REAL = [
    *("--image-size", "8", "--train-subset", "64", "--val-size", "64", "--filters", "4", "--cells-per-stack", "1"),
    *("--epochs", "1", "--workers", "1", "--beam", "1", "--predictor", "mlp", "--ensemble", "1", "--study", "g"),
]


def search(storage: Path, *flags: str) -> dict:
    result = CliRunner().invoke(main, ["search", *flags, "--storage", str(storage), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rounds(storage: Path) -> list[tuple[int, int]]:
    result = CliRunner().invoke(main, ["status", "--study", "g", "--storage", str(storage), "--json"])
    assert result.exit_code == 0, result.output
    return [(r["b"], r["done"]) for r in json.loads(result.stdout)["rounds"]]


@pytest.mark.parametrize("start", [2, 3])
def test_more_blocks_train_the_new_round(tmp_path, start):
    storage = tmp_path / "g.db"
    search(storage, *SYNTHETIC, "--blocks", str(start))
    search(storage, *SYNTHETIC, "--blocks", str(start + 1))
    assert rounds(storage) == [(1, 136)] + [(b, 4) for b in range(2, start + 2)]
    stored = CliRunner().invoke(main, ["search", *SYNTHETIC, "--blocks", str(start), "--storage", str(storage)])
    assert stored.exit_code != 0 and "space.max_level" in stored.output  # shrinking is still refused


def test_a_study_that_also_recorded_the_strategys_size_grows(tmp_path):
    # stored by a release that kept strategy.max_level beside space.max_level (both 3)
    storage = tmp_path / "g.db"
    shutil.copy(FIXTURES / "pnas.db", storage)
    flags = json.loads((FIXTURES / "pnas.json").read_text())["flags"]
    flags = [f if f != "3" or flags[i - 1] != "--blocks" else "4" for i, f in enumerate(flags)]
    result = CliRunner().invoke(main, ["search", *flags, "--study", "s", "--storage", str(storage), "--json"])
    assert result.exit_code == 0, result.output
    done = json.loads(CliRunner().invoke(main, ["status", "--study", "s", "--storage", str(storage), "--json"]).stdout)
    assert [(r["b"], r["done"]) for r in done["rounds"]] == [(1, 136), (2, 4), (3, 4), (4, 4)]


def test_an_earlier_stop_level_becomes_the_spaces_size():
    old = {"space": {"name": "pnas", "max_level": 5}, "strategy": {"name": "pnas", "beam": 4, "max_level": 3}}
    assert upgrade_layout(old) == {"space": {"name": "pnas", "max_level": 3}, "strategy": {"name": "pnas", "beam": 4}}


@pytest.mark.slow
@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir() and not os.environ.get("CI"),  # CI installs it: never skip there
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)
def test_more_blocks_train_the_new_round_with_real_children(tmp_path):
    storage = tmp_path / "g.db"
    search(storage, *REAL, "--blocks", "2")
    search(storage, *REAL, "--blocks", "3")
    search(storage, *REAL, "--blocks", "4")
    assert rounds(storage) == [(1, 136), (2, 1), (3, 1), (4, 1)]
