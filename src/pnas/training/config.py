"""What a full-size training run is: the network, the protocol, and the data it was trained on.

A run is decided by three plain records, stored in the run folder's ``train.json``:

* :class:`pnas.nets.NetworkConfig`: the cell and the network built from it;
* :class:`TrainConfig`: the training protocol (every field decides the result, except the
  runtime ones, declared so and listed in :data:`RUNTIME_FIELDS`);
* :class:`DataInfo`: the data set as the network sees it (channels, size, normalisation,
  class names), which is also what an exported model needs to be used without ``pnas``.

:class:`NetworkChoices` are the network settings a user may give (``pnas train``'s flags). Nothing
here imports torch, so the command line offers these options without it.

The defaults follow the protocol most cell-based CIFAR-10 results since NASNet are trained
with (DARTS, Liu et al. 2019, section 3.3 and its released code): SGD with Nesterov momentum
0.9, a cosine schedule from lr 0.025 at batch 96, weight decay 3e-4, 600 epochs, drop-path
0.2 ramped by depth and progress, an auxiliary head weighted 0.4, gradient norm clipped at 5,
random crops with 4 px padding at 32 px and horizontal flips; cutout (16 px in DARTS) and label
smoothing are options, off by default. NASNet and PNAS train 600 epochs too (docs/paper.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pnas.config import RUNTIME, OptionError, Options, option, option_specs
from pnas.evaluation.options import default_padding
from pnas.limits import MAX_BATCH_SIZE, MAX_CELLS_PER_STACK, MAX_EPOCHS, MAX_FILTERS, MAX_IMAGE_SIZE
from pnas.nets.registry import CONCATS, LAYOUTS

DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class TrainConfig(Options):
    """The training protocol. JSON-able; stored in ``train.json`` and compared on every resume. Its fields'
    declarations are the one place of their defaults and ranges, checked when it is built."""

    dataset: str = option("fashion-mnist", "Data set to train on (default: the study's, for --study).")
    epochs: int = option(600, "Epochs (600: the paper's CIFAR-10 protocol).", low=1, high=MAX_EPOCHS)
    batch_size: int = option(96, "Training batch size.", low=1, high=MAX_BATCH_SIZE)
    lr: float = option(0.025, "Peak learning rate, annealed by a cosine over every step.", above=0)
    lr_min: float = option(0.0, "Learning rate at the end of the cosine.", low=0)
    momentum: float = option(0.9, "SGD momentum.", low=0, below=1)
    nesterov: bool = option(True, "Nesterov momentum.")
    weight_decay: float = option(3e-4, "SGD weight decay.", low=0)
    aux_weight: float = option(0.4, "Weight of the auxiliary head's loss (0: no auxiliary head).", low=0)
    grad_clip: float = option(5.0, "Clip the gradients' global norm at this value (0: no clipping).", low=0)
    label_smoothing: float = option(0.0, "Label smoothing of the cross-entropy.", low=0, below=1)
    crop_padding: int | None = option(
        None, "Random-crop padding in pixels (unset: image size / 8, 4 px at 32 px; 0: no crop).", low=0
    )
    flip: bool | None = option(
        None, "Random horizontal flips (unset: on where a flip keeps the class, not for digits)."
    )
    cutout: int = option(0, "Side in pixels of the square cut out of every training image (0: off; DARTS: 16).", low=0)
    val_size: int = option(0, "Training images held out for validation (0: train on the whole training set).", low=0)
    train_subset: int | None = option(None, "Training images used (unset: all that remain after validation).", low=1)
    image_size: int | None = option(
        None, "Resize images to this side (unset: the data set's own).", low=1, high=MAX_IMAGE_SIZE
    )
    seed: int = option(0, "Seed of the weights, the data order and the augmentation.", low=0)
    device: str = option("auto", "cpu, cuda, or auto (cuda when available).", choices=DEVICES, decides=RUNTIME)
    workers: int = option(
        0, "Data-loading worker processes (0: augment in the training process).", low=0, decides=RUNTIME
    )
    threads: int | None = option(None, "torch threads (unset: torch's default).", low=1, decides=RUNTIME)
    data_dir: str | None = option(None, "Where the data set lies (default: $PNAS_DATA_DIR, then the usual places).",
                                  decides=RUNTIME)  # fmt: skip

    def __post_init__(self) -> None:
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            object.__setattr__(self, "data_dir", str(self.data_dir))  # a Path given in Python; stored as text
        super().__post_init__()
        if self.lr_min > self.lr:
            raise OptionError("lr_min", f"must be at most lr ({self.lr:g}), got {self.lr_min!r}")

    def padding_for(self, image_size: int) -> int:
        return default_padding(image_size) if self.crop_padding is None else self.crop_padding

    def flips(self) -> bool:
        """``flip``, or where unset what the data set declares (:attr:`pnas.evaluation.readers.DatasetTraits.flip`:
        whether a flip keeps an image's class; off for digits or text, and for a data set that does not say)."""
        if self.flip is not None:
            return self.flip
        from pnas.evaluation.readers import DATASETS

        return DATASETS.traits(self.dataset).flip

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    def deciding(self) -> dict[str, Any]:
        """The settings that decide the result (what a resume must not change)."""
        return {k: v for k, v in self.to_json().items() if k not in RUNTIME_FIELDS}


RUNTIME_FIELDS = frozenset(name for name, spec in option_specs(TrainConfig).items() if spec.decides == RUNTIME)
"""Settings that change where and how fast a run trains, not what it computes: a resume may change them."""


@dataclass(frozen=True)
class DataInfo:
    """The input a trained network expects, and what its outputs mean."""

    dataset: str
    channels: int
    image_size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    """Per-channel statistics of the training images scaled to [0, 1]: the input is (x/255 - mean) / std."""
    classes: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["mean"], doc["std"] = list(self.mean), list(self.std)
        doc["classes"] = None if self.classes is None else list(self.classes)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DataInfo:
        return cls(
            dataset=doc["dataset"],
            channels=int(doc["channels"]),
            image_size=int(doc["image_size"]),
            num_classes=int(doc["num_classes"]),
            mean=tuple(float(v) for v in doc["mean"]),
            std=tuple(float(v) for v in doc["std"]),
            classes=None if doc.get("classes") is None else tuple(doc["classes"]),
        )

    def class_name(self, index: int) -> str:
        return self.classes[index] if self.classes is not None else str(index)


DEFAULT_CELLS_PER_STACK = 3
DEFAULT_FILTERS = 48
"""A cell's network defaults to PNASNet-5 CIFAR's size: N = 3 (9 cells), F = 48 (docs/paper.md)."""
DEFAULT_DROP_PATH = 0.2
"""Drop-path of the deepest cell at the end of training (DARTS's CIFAR-10 protocol) for a cell's network;
a named network keeps its own."""


@dataclass(frozen=True)
class NetworkChoices:
    """Network settings the user may give; None keeps the default of the cell's or the named network's."""

    network: str | None = option(None, "Layout: cifar or imagenet (default: the named network's, cifar for a cell).",
                                 choices=LAYOUTS)  # fmt: skip
    cells_per_stack: int | None = option(
        None, f"N: 3N cells, two of them reductions (default: a named network's, else {DEFAULT_CELLS_PER_STACK}).",
        low=1, high=MAX_CELLS_PER_STACK,
    )  # fmt: skip
    filters: int | None = option(
        None, f"F: filters of the first stack (default: a named network's, else {DEFAULT_FILTERS}).",
        low=1, high=MAX_FILTERS,
    )  # fmt: skip
    stem_multiplier: float | None = option(None, "Stem filters = this x F (default 3).", low=0)
    concat: str | None = option(None, "Cell output: all blocks (PNASNet-5) or only unused ones.", choices=CONCATS)
    drop_path: float | None = option(
        None, f"Drop-path of the deepest cell at the end of training (default: a named network's, else "
        f"{DEFAULT_DROP_PATH}).", low=0, high=1,
    )  # fmt: skip
    dropout: float | None = option(
        None, "Dropout before the classifier (default 0, or a named network's).", low=0, high=1
    )
