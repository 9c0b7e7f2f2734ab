"""The child trainer on a small real Fashion-MNIST subset: it learns, it is deterministic, it fails cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from pnas.evaluation import EVALUATORS, EvaluatorSpec
from pnas.evaluation.base import ChildFailed
from pnas.evaluation.data import DATA_DIR_ENV, DEBIAN_FASHION_MNIST
from pnas.evaluation.trainer import (
    DEFAULT_PROXY,
    TrainingConfig,
    TrainingEvaluator,
    child_seed,
    cosine_lr,
    recalibrate_batch_norm,
)  # fmt: skip
from pnas.space import Cell

needs_fashion_mnist = pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir() and not os.environ.get("CI"),  # CI installs it: never skip there
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)

SMALL = dict(
    dataset="fashion-mnist", image_size=14, train_subset=1000, val_size=500, cells_per_stack=1, filters=8,
    epochs=3, batch_size=32, lr=0.05, device="cpu", threads=1, seed=0,
)  # fmt: skip
CELL = Cell.parse("sep3x3(h1)+max3x3(h1)")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)


@needs_fashion_mnist
def test_learns_on_small_subset():
    events = []
    result = TrainingEvaluator(**SMALL).evaluate(CELL, progress=events.append)
    assert result.accuracy >= 0.5
    assert result.examples == 3 * (1000 // 32) * 32
    assert result.params > 0 and result.mult_adds > 0 and result.seconds > 0
    epoch_ends = [e for e in events if e["step"] == e["steps"]]
    assert [e["epoch"] for e in epoch_ends] == [1, 2, 3] and all(e["epochs"] == 3 for e in events)
    assert epoch_ends[-1]["loss"] < epoch_ends[0]["loss"]
    assert len(events) > 3  # progress inside epochs too


@needs_fashion_mnist
def test_test_accuracy_retrains_the_same_child_and_scores_the_test_set():
    evaluator = TrainingEvaluator(**SMALL)
    child, again = evaluator.train(CELL), evaluator.train(CELL)
    assert all(torch.equal(a, b) for a, b in zip(child.model.state_dict().values(), again.model.state_dict().values()))
    assert child.examples == 3 * (1000 // 32) * 32
    assert 0.5 <= evaluator.test_accuracy(CELL) <= 1


@needs_fashion_mnist
def test_deterministic_across_processes():
    settings = dict(SMALL, epochs=1, train_subset=320)
    here = TrainingEvaluator(**settings).evaluate(CELL)
    again = TrainingEvaluator(**settings).evaluate(CELL)
    assert again.accuracy == here.accuracy and again.extra == here.extra
    script = (
        "import json, sys; from pnas.evaluation.trainer import TrainingEvaluator; from pnas.space import Cell; "
        "settings, cell = json.loads(sys.argv[1]), Cell.parse(sys.argv[2]); "
        "r = TrainingEvaluator(**settings).evaluate(cell); print(json.dumps([r.accuracy, r.extra]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(settings), str(CELL)], capture_output=True, text=True, check=True
    )
    accuracy, extra = json.loads(out.stdout)
    assert accuracy == here.accuracy and extra == here.extra


def test_cells_and_seeds_change_the_draw():
    assert child_seed(0, str(CELL)) != child_seed(1, str(CELL))
    assert child_seed(0, str(CELL)) != child_seed(0, "sep3x3(h1)+sep3x3(h1)")
    # pinned: a change here would silently change every stored study's results
    assert child_seed(0, str(CELL)) == 9097546556721102980


@needs_fashion_mnist
def test_leaves_the_callers_random_state_and_threads_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    TrainingEvaluator(**dict(SMALL, epochs=1, train_subset=64, threads=threads + 1)).evaluate(CELL)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_batch_norm_recalibration_uses_exact_statistics():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4, momentum=0.5))
    x = torch.randn(96, 1, 6, 6) * 3 + 2
    model[1].running_mean.fill_(100.0)
    recalibrate_batch_norm(model, x, batch_size=32)
    with torch.no_grad():
        expected = model[0](x).mean(dim=(0, 2, 3))
    assert torch.allclose(model[1].running_mean, expected, atol=1e-5)
    assert model[1].momentum == 0.5


@needs_fashion_mnist
def test_nan_loss_is_a_failed_child():
    with pytest.raises(ChildFailed, match=r"loss became (nan|inf) at epoch 1 step \d+"):
        TrainingEvaluator(**dict(SMALL, lr=1e9)).evaluate(CELL)


@needs_fashion_mnist
def test_timeout_is_a_failed_child():
    with pytest.raises(ChildFailed, match="timed out after"):
        TrainingEvaluator(**dict(SMALL, child_timeout=1e-3)).evaluate(CELL)


def test_config_round_trip_and_registry():
    ev = TrainingEvaluator(**SMALL)
    assert TrainingEvaluator(**ev.config()) == ev
    assert json.loads(json.dumps(ev.config())) == ev.config()
    assert set(ev.config()) >= set(SMALL) | {"momentum", "weight_decay", "child_timeout", "data_dir"}
    rebuilt = EvaluatorSpec("train", ev.config()).build()
    assert isinstance(rebuilt, TrainingEvaluator) and rebuilt == ev
    assert "train" in EVALUATORS
    assert TrainingEvaluator().config() == {**TrainingEvaluator().config(), **DEFAULT_PROXY}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"device": "tpu"}, "device"),
        ({"child_timeout": 0}, "child_timeout"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_bad_settings_are_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainingEvaluator(**bad)


def test_cosine_schedule():
    assert cosine_lr(0.1, 0, 100) == pytest.approx(0.1)
    assert cosine_lr(0.1, 50, 100) == pytest.approx(0.05)
    assert cosine_lr(0.1, 100, 100) == pytest.approx(0.0)
    assert TrainingConfig().momentum == 0.9


@needs_fashion_mnist
def test_probe_is_a_fixed_batch_of_the_study_training_images():
    evaluator = TrainingEvaluator(**SMALL)
    probe, again = evaluator.probe(), TrainingEvaluator(**SMALL).probe()
    assert probe.images.shape == (32, 1, 14, 14) and probe.num_classes == 10
    assert torch.equal(probe.images, again.images)
    other = TrainingEvaluator(**{**SMALL, "seed": 1}).probe()
    assert not torch.equal(probe.images, other.images)
    train_x = evaluator.data().train_x
    assert all(any(torch.equal(image, row) for row in train_x) for image in probe.images[:3])


def test_report_points_come_every_report_every_epochs_before_the_last_step():
    from pnas.evaluation.trainer import report_points

    assert report_points(1.0, 10, 30) == {10: 1, 20: 2}
    assert report_points(0.5, 10, 30) == {5: 1, 10: 2, 15: 3, 20: 4, 25: 5}
    assert report_points(1.0, 10, 10) == {}  # one epoch: nothing before the end
    # the last report as a study plans for it, from the settings alone (no data read)
    last = [
        TrainingEvaluator(epochs=e, report_every=r).last_step() for e, r in ((3, 1.0), (3, 0.5), (1, 1.0), (3, 0.3))
    ]
    assert (
        last == [2, 5, 0, 9] == [len(report_points(r, 10, e * 10)) for e, r in ((3, 1.0), (3, 0.5), (1, 1.0), (3, 0.3))]
    )


@needs_fashion_mnist
def test_a_reporting_child_trains_as_a_silent_one_and_stops_when_told():
    from pnas.evaluation.base import TrialPruned

    settings = dict(SMALL, epochs=3, train_subset=320, val_size=200)
    silent = TrainingEvaluator(**settings).evaluate(CELL)
    reports: list[tuple[int, float]] = []
    heard = TrainingEvaluator(**settings).evaluate(
        CELL, report=lambda step, value: reports.append((step, value)) is not None
    )
    assert (heard.accuracy, heard.extra, heard.examples) == (silent.accuracy, silent.extra, silent.examples)
    assert [step for step, _ in reports] == [1, 2] and all(0 <= value <= 1 for _, value in reports)
    with pytest.raises(TrialPruned) as stopped:
        TrainingEvaluator(**settings).evaluate(CELL, report=lambda step, value: True)
    pruned = stopped.value
    assert (pruned.step, pruned.value) == reports[0] and pruned.result.examples == (320 // 32) * 32
    assert pruned.result.mult_adds == silent.mult_adds and pruned.result.params == silent.params
