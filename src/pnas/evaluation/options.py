"""The options of the ``train`` evaluator (:class:`TrainingConfig`) and their defaults, apart from the
trainer so that registering the evaluator, listing it and offering its flags import no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pnas.config import RESULT, RUNTIME, Options, option
from pnas.limits import MAX_BATCH_SIZE, MAX_CELLS_PER_STACK, MAX_EPOCHS, MAX_FILTERS, MAX_IMAGE_SIZE

DEVICES = ("cpu", "cuda", "auto")


def _pruning_decides(config: Any) -> str:
    """When a child reports decides results only while the study's pruner may stop children (a study stores
    a ``[pruner]`` section only then); otherwise nothing is reported and it changes nothing."""
    return RESULT if hasattr(config, "get") and isinstance(config.get("pruner"), dict) else RUNTIME


def _device_decides(config: Any) -> str:
    """Where children train is a runtime choice, until latency is measured: then it decides results."""
    evaluator = config.get("evaluator") if hasattr(config, "get") else None
    return RESULT if isinstance(evaluator, dict) and evaluator.get("measure_latency") else RUNTIME


PRECISIONS = ("fp32", "bf16")
AUGMENTATIONS = ("none", "crop-flip")


def default_padding(image_size: int) -> int:
    """The usual random-crop padding: an eighth of the side (4 px at CIFAR's 32)."""
    return image_size // 8


DEFAULT_PROXY: dict[str, Any] = {
    "dataset": "fashion-mnist",
    "image_size": 14,
    "train_subset": 3000,
    "val_size": 2000,
    "cells_per_stack": 1,
    "filters": 8,
    "epochs": 3,
    "batch_size": 64,
    "lr": 0.1,
}
"""The default search-time proxy: what ``pnas search`` trains each child with.

Chosen, among candidate settings tried on a few typical cells, so that the default
search (136 one-block cells, then two rounds of K children) fits in the main job's
time on 2 CPU cores while good cells stay well apart: the accuracies of different
cells spread more than those of one cell over seeds, so the ranking is mostly signal.
The paper's proxy is far larger (docs/paper.md, section 5.1). The candidates, their
accuracies and costs, and how the chosen proxy behaves: docs/training.md.
"""


@dataclass(frozen=True)
class TrainingConfig(Options):
    """Everything that decides a child's result. Flat and JSON-able: it is stored with the study.

    Its fields' declarations are the one place of their defaults and ranges, checked when it is built."""

    dataset: str = option(DEFAULT_PROXY["dataset"], "Data set to train children on (see `pnas list`).")
    data_dir: str | None = option(
        None, "Where the data set lies (default: $PNAS_DATA_DIR, then the usual places).", decides=RUNTIME
    )
    image_size: int | None = option(
        DEFAULT_PROXY["image_size"], "Resize images to this many pixels a side (unset: the data set's size).",
        low=4, high=MAX_IMAGE_SIZE,
    )  # fmt: skip
    train_subset: int | None = option(
        DEFAULT_PROXY["train_subset"], "Training images per child (unset: all that remain after validation).", low=1
    )
    val_size: int = option(DEFAULT_PROXY["val_size"], "Validation images, held out of the training set.", low=1)
    cells_per_stack: int = option(
        DEFAULT_PROXY["cells_per_stack"],
        "N: normal cells per stack (3N cells in all).",
        low=1,
        high=MAX_CELLS_PER_STACK,
    )
    filters: int = option(
        DEFAULT_PROXY["filters"], "F: filters of the first stack (doubled at each reduction).", low=2, high=MAX_FILTERS
    )
    epochs: int = option(DEFAULT_PROXY["epochs"], "Epochs per child.", low=1, high=MAX_EPOCHS)
    batch_size: int = option(DEFAULT_PROXY["batch_size"], "Training batch size.", low=1, high=MAX_BATCH_SIZE)
    lr: float = option(DEFAULT_PROXY["lr"], "Peak learning rate, annealed to 0 by a per-step cosine schedule.", above=0)
    momentum: float = option(0.9, "SGD (Nesterov) momentum.", low=0, below=1)
    weight_decay: float = option(5e-4, "SGD weight decay.", low=0)
    bn_recalibration: int = option(
        512, "Training images whose batch statistics replace BN's running averages before validating (0: off).", low=0
    )
    concat: str = option("all", "Cell output: all blocks concatenated (PNASNet-5) or only unused ones.",
                         choices=("all", "unused"))  # fmt: skip
    seed: int = option(
        0, "Fixes the validation split, the subset, and (with the cell's text) weights and data order.", low=0
    )
    device: str = option("auto", "Where children train: cpu, cuda, or auto (cuda when available).",
                         choices=DEVICES, decides=_device_decides)  # fmt: skip
    threads: int | None = option(
        1, "torch threads while a child trains (unset: leave torch's setting alone).", low=1, decides=RESULT
    )
    """1 by default: a child's tensors are tiny, so parallel children beat parallel ops, and the
    thread count decides results (float sums split differently; docs/training.md), so a fixed
    count keeps a study the same whatever the worker count."""
    child_timeout: float | None = option(
        None, "Seconds after which a child is stopped and recorded failed (unset: no limit).", above=0, decides=RUNTIME
    )
    precision: str = option(
        "fp32",
        "Arithmetic of forward passes: fp32, or bf16 (autocast; weights and updates stay fp32). bf16 measured "
        "slower on CPU; on a GPU it is the faster choice (docs/training.md).",
        choices=PRECISIONS,
    )
    channels_last: bool = option(
        True, "Keep weights and activations channels-last (faster convolutions on CPU and GPU; docs/training.md)."
    )
    compile: bool = option(
        False,
        "torch.compile each child's training step; its first step, which compiles, is recorded as "
        "compile_seconds. Pays off only for long children on a GPU (docs/training.md).",
    )
    augment: str = option(
        "none",
        "Augmentation of each training batch, done where the data lies: none, or crop-flip "
        "(random crop with image/8 padding and horizontal flip).",
        choices=AUGMENTATIONS,
    )

    report_every: float = option(
        1.0,
        "Epochs between the validation accuracies a child reports to the study's pruner (1: after every epoch, "
        "0.5: every half epoch); report k comes after k x report_every epochs, never at the last step. Only a "
        "study with a pruner asks for reports: otherwise nothing is measured and results are the same.",
        above=0,
        decides=_pruning_decides,
    )
    measure_latency: bool = option(
        False,
        "Measure every trained child's inference latency on the study's device (latency_ms at batch 1, "
        "latency_batch_ms at the batch size); the device then decides results.",
    )
    latency_hardware: str | None = option(
        None,
        "The device latency is measured on, recorded when the study is made (leave unset); a study is "
        "resumed only on the same device.",
    )

    def __post_init__(self) -> None:
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            object.__setattr__(self, "data_dir", str(self.data_dir))  # a Path given in Python; stored as text
        super().__post_init__()
