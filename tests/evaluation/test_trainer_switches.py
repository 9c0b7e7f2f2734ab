"""The child trainer's speed switches: each runs on CPU, and each fast path follows the plain one.

The plain path is fp32 arithmetic in the default memory format, not compiled: a fast path
must give the same loss trajectory for a few steps from the same seed, within a tolerance
stated per switch (bf16 rounds every product, so it gets a looser one).
"""

from __future__ import annotations

import functools
import os

import pytest
import torch

from pnas.evaluation.base import ChildFailed
from pnas.evaluation.data import DEBIAN_FASHION_MNIST, DataSplits
from pnas.evaluation.trainer import TrainingConfig, TrainingEvaluator
from pnas.execution.base import Job
from pnas.execution.local import InProcessExecutor, ProcessPoolExecutor
from pnas.space import Cell

CELL = Cell.parse("sep3x3(h1)+max3x3(h2); conv1x7_7x1(b1)+avg3x3(h1)")
TINY = dict(cells_per_stack=1, filters=4, epochs=4, batch_size=8, lr=0.05, bn_recalibration=16,
            device="cpu", threads=1, seed=3, image_size=12)  # fmt: skip
"""Four epochs of five steps: progress reports each epoch's mean loss, the trajectory compared."""


def synthetic_splits(images: int = 40, size: int = 12, seed: int = 0) -> DataSplits:
    """Images whose class shifts their mean, so that a few steps already learn something."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (images + 16,), generator=g)
    x = torch.randn(images + 16, 1, size, size, generator=g) + y[:, None, None, None].float() * 0.5
    return DataSplits("synthetic", x[:images], y[:images], x[images:], y[images:], 4, 1, size, (0.0,), (1.0,))


def trajectory(**switches) -> tuple[list[float], float]:
    """The epoch losses and the validation accuracy of the tiny child with these switches."""
    data = synthetic_splits()
    config = dict(TINY, **switches)
    evaluator = TrainingEvaluator.from_shared_data(config, {k: getattr(data, k) for k in data.__dataclass_fields__})
    events: list[dict] = []
    result = evaluator.evaluate(CELL, progress=events.append)
    return [e["loss"] for e in events if e["step"] == e["steps"]], result.accuracy


@functools.cache
def plain() -> tuple[list[float], float]:
    return trajectory(channels_last=False)


def test_the_plain_path_learns():
    losses, _ = plain()
    assert len(losses) == 4 and losses[-1] < losses[0]


def test_channels_last_follows_the_plain_path():
    losses, accuracy = trajectory(channels_last=True)
    assert losses == pytest.approx(plain()[0], rel=1e-4, abs=1e-5)
    assert accuracy == pytest.approx(plain()[1], abs=1 / 16)  # at most one of 16 validation images flips


def test_bf16_follows_the_plain_path_within_its_rounding():
    losses, _ = trajectory(precision="bf16")
    assert losses != plain()[0]  # it did compute in bf16
    # bf16 keeps 8 bits of mantissa, and the difference compounds as the weights drift apart: the first
    # epoch within 2%, every epoch within 8% (another seed differs by 9% already in the first epoch)
    assert losses[0] == pytest.approx(plain()[0][0], rel=0.02)
    assert losses == pytest.approx(plain()[0], rel=0.08)


def test_augmentation_changes_the_batches_but_not_the_determinism():
    first, again = trajectory(augment="crop-flip"), trajectory(augment="crop-flip")
    assert first == again
    assert first[0] != plain()[0]
    assert first[0][-1] < first[0][0] * 1.5  # still trains


@pytest.mark.slow
def test_compiled_child_follows_the_plain_path():
    data = synthetic_splits()
    evaluator = TrainingEvaluator.from_shared_data(
        dict(TINY, compile=True), {k: getattr(data, k) for k in data.__dataclass_fields__}
    )
    result = evaluator.evaluate(CELL)
    assert result.extra["compile_seconds"] > 0
    losses, _ = trajectory(compile=True)
    assert losses == pytest.approx(plain()[0], rel=1e-3, abs=1e-4)


def test_switches_are_checked_and_stored_with_the_study():
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        TrainingConfig(precision="fp16")
    with pytest.raises(ValueError, match="augment must be one of none, crop-flip"):
        TrainingConfig(augment="mixup")
    with pytest.raises(ValueError, match="channels_last must be true or false"):
        TrainingConfig(channels_last="maybe")  # type: ignore[arg-type]
    stored = TrainingEvaluator(precision="bf16", compile=True).config()
    assert stored["precision"] == "bf16" and stored["compile"] is True and stored["channels_last"] is True


def test_a_loss_that_becomes_nan_names_its_first_step():
    data = synthetic_splits()
    data.train_x[3] = float("nan")  # the third batch of the first epoch holds it, wherever the shuffle puts it
    evaluator = TrainingEvaluator.from_shared_data(dict(TINY), {k: getattr(data, k) for k in data.__dataclass_fields__})
    with pytest.raises(ChildFailed, match=r"loss became nan at epoch 1 step [1-5]$"):
        evaluator.train(CELL)


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir() and not os.environ.get("CI"),
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)
def test_two_children_at_once_score_as_one_after_the_other():
    settings = dict(dataset="fashion-mnist", image_size=14, train_subset=256, val_size=200, cells_per_stack=1,
                    filters=4, epochs=1, batch_size=32, device="cpu", threads=1)  # fmt: skip
    evaluator = TrainingEvaluator(**settings)
    jobs = [Job("a", "sep3x3(h1)+max3x3(h1)"), Job("b", "conv1x7_7x1(h1)+dil3x3(h2)")]
    one_by_one = {o.key: o.result for o in InProcessExecutor(evaluator).run(jobs)}
    with ProcessPoolExecutor(evaluator.spec(), 2, threads=1) as pool:
        at_once = {o.key: o.result for o in pool.run(jobs)}
    for key in ("a", "b"):
        a, b = one_by_one[key], at_once[key]
        assert a is not None and b is not None
        assert (a.accuracy, a.extra, a.examples) == (b.accuracy, b.extra, b.examples)
