"""What a child trains on: a data set's fixed validation split, resized and normalised tensors, and the
fingerprint a study stores, each decoded once per process.

A search trains thousands of children on the same images, so the data is decoded
once per process into float tensors ``(N, C, H, W)`` that the trainer indexes
directly (no DataLoader, no worker processes). The readers
(:mod:`pnas.evaluation.readers`) decode files; this module splits and caches.

The validation split always comes from the training set, fixed by the seed: the
test set is never seen during a search (:func:`load_test` gives it for later).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pnas.evaluation.base import files_fingerprint
from pnas.evaluation.readers import DATASETS, RawDataset

DEFAULT_VAL_SIZE = 5000
"""Validation images held out of the training set (the paper holds out 5,000 of CIFAR-10's 50,000)."""


@dataclass(frozen=True)
class DataSplits:
    """What a child trains and is validated on. Tensors are shared by the cache: do not modify them in place."""

    name: str
    train_x: torch.Tensor
    """float32 (N, C, H, W), normalized per channel with the training set's statistics."""
    train_y: torch.Tensor
    """int64 (N,)"""
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def train_size(self) -> int:
        return len(self.train_y)

    @property
    def val_size(self) -> int:
        return len(self.val_y)


def _raw(name: str, data_dir: str | None, image_size: int | None) -> RawDataset:
    return _decode(name, data_dir, _decode_size(name, image_size))


def _decode_size(name: str, image_size: int | None) -> int | None:
    """A data set that decodes at a size (:attr:`DatasetTraits.sized`: an image folder, whose images may
    have any size) is read at that size; the others are decoded once whatever the size, and resized
    later with torch."""
    return image_size if DATASETS.traits(name).sized else None


@lru_cache(maxsize=4)
def _decode(name: str, data_dir: str | None, image_size: int | None) -> RawDataset:
    loader = DATASETS.get(name)
    if DATASETS.traits(name).sized:
        return loader(data_dir, image_size=image_size)
    return loader(data_dir)


def stratified_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random order of ``range(len(labels))`` whose every prefix holds the classes in proportion.

    Each index gets the key (its rank among its shuffled class + jitter) / class size;
    sorting by that key interleaves the classes evenly.
    """
    n = len(labels)
    perm = rng.permutation(n)
    shuffled = labels[perm]
    _, inverse, counts = np.unique(shuffled, return_inverse=True, return_counts=True)
    rank = np.empty(n, dtype=np.int64)
    for c in range(len(counts)):
        members = np.flatnonzero(inverse == c)
        rank[members] = np.arange(len(members))
    key = (rank + rng.random(n)) / counts[inverse]
    return perm[np.argsort(key, kind="stable")]


def split_indices(
    labels: np.ndarray, val_size: int, train_subset: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices into a training set: val is fixed by the seed alone; train comes from the rest."""
    n = len(labels)
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in [0, {n - 1}] for this data set ({n} training images), got {val_size}")
    order = stratified_order(labels, np.random.default_rng([seed, 0]))
    val, rest = order[:val_size], order[val_size:]
    if train_subset is not None:
        if not 0 < train_subset <= len(rest):
            raise ValueError(
                f"train_subset must be in [1, {len(rest)}] ({n} training images minus {val_size} for validation), "
                f"got {train_subset}"
            )
        rest = rest[stratified_order(labels[rest], np.random.default_rng([seed, 1]))[:train_subset]]
    return np.sort(rest), np.sort(val)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Area averaging when shrinking by an integer factor, antialiased bilinear otherwise."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    if h % size == 0 and w % size == 0:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _channel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, scaled to [0, 1], from each channel's histogram (exact, no copies)."""
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = np.bincount(np.ascontiguousarray(images[:, c]).reshape(-1), minlength=256).astype(np.float64)
        total = counts.sum()
        mean = float((counts * values).sum() / total)
        var = float((counts * (values - mean) ** 2).sum() / total)
        means.append(mean)
        stds.append(max(var**0.5, 1e-6))
    return tuple(means), tuple(stds)


@lru_cache(maxsize=4)
def _stats_cached(name: str, data_dir: str | None, size: int | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return _channel_stats(_decode(name, data_dir, size).train_images)


def _stats(name: str, data_dir: str | None, image_size: int | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalization statistics of the whole training set (so the test set is normalized alike)."""
    return _stats_cached(name, data_dir, _decode_size(name, image_size))


def _to_tensor(
    images: np.ndarray, image_size: int | None, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    x = torch.from_numpy(np.require(images, requirements=["C", "W"])).float().div_(255.0)
    if image_size is not None:
        x = _resize(x, image_size)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((x - m) / s).contiguous()


def _check_size(image_size: int | None) -> None:
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive integer (pixels per side), got {image_size!r}")


def _dir_key(data_dir: str | Path | None) -> str | None:
    return None if data_dir is None else str(Path(data_dir).expanduser().resolve())


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    train_subset: int | None = None,
    val_size: int = DEFAULT_VAL_SIZE,
    seed: int = 0,
) -> DataSplits:
    """Training and validation tensors of a named data set, cached per process.

    ``val_size`` images are held out of the training set (stratified, fixed by ``seed``);
    ``train_subset`` images (stratified, fixed by ``seed``) are drawn from the rest, or all of it
    if None. ``image_size`` downsamples (or upsamples) to square images of that side.
    """
    _check_size(image_size)
    DATASETS.get(name)  # an unknown name fails here, listing the known ones
    return _load_cached(name, _dir_key(data_dir), image_size, train_subset, val_size, seed)


@lru_cache(maxsize=8)
def _load_cached(
    name: str, data_dir: str | None, image_size: int | None, train_subset: int | None, val_size: int, seed: int
) -> DataSplits:
    raw = _raw(name, data_dir, image_size)
    mean, std = _stats(name, data_dir, image_size)
    train_idx, val_idx = split_indices(raw.train_labels, val_size, train_subset, seed)
    train_x = _to_tensor(raw.train_images[train_idx], image_size, mean, std)
    val_x = _to_tensor(raw.train_images[val_idx], image_size, mean, std)
    return DataSplits(
        name=name,
        train_x=train_x,
        train_y=torch.from_numpy(raw.train_labels[train_idx]),
        val_x=val_x,
        val_y=torch.from_numpy(raw.train_labels[val_idx]),
        num_classes=raw.num_classes,
        channels=train_x.shape[1],
        image_size=train_x.shape[-1],
        mean=mean,
        std=std,
    )


def load_test(
    name: str, *, data_dir: str | Path | None = None, image_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images and labels, normalized like the training data: for reporting after a search, never during."""
    _check_size(image_size)
    key = _dir_key(data_dir)
    raw = _raw(name, key, image_size)
    if raw.test_images is None or raw.test_labels is None:
        raise ValueError(f"data set {name!r} at {raw.source} has no test set")
    mean, std = _stats(name, key, image_size)
    return _to_tensor(raw.test_images, image_size, mean, std), torch.from_numpy(raw.test_labels.copy())


def dataset_classes(
    name: str, *, data_dir: str | Path | None = None, image_size: int | None = None
) -> tuple[str, ...] | None:
    """The class names of a data set, in label order (None where its files name none)."""
    _check_size(image_size)
    DATASETS.get(name)
    return _raw(name, _dir_key(data_dir), image_size).classes


def dataset_fingerprint(
    name: str, *, data_dir: str | Path | None = None, image_size: int | None = None
) -> dict[str, Any]:
    """A JSON-able description of a whole decoded data set (independent of the subset and validation split).

    ``{"kind": "images", "content": {...}, "files": {...}, "file_count": n, "files_sha256": ...}``: the
    content holds the data set's name, its classes, and for the training and test parts the image count,
    the image shape and sha256 hashes of the decoded uint8 images and int64 labels; the files part lists
    the files read, relative to the data set's root (see :func:`pnas.evaluation.base.files_fingerprint`).
    No absolute path appears in it. Computed once per process (like the decoding), on first request.
    """
    _check_size(image_size)
    DATASETS.get(name)
    return copy.deepcopy(_fingerprint_cached(name, _dir_key(data_dir), _decode_size(name, image_size)))


def _part_fingerprint(images: np.ndarray | None, labels: np.ndarray | None) -> dict[str, Any] | None:
    if images is None or labels is None:
        return None
    image_hash = hashlib.sha256(np.ascontiguousarray(images).data).hexdigest()
    label_hash = hashlib.sha256(np.ascontiguousarray(labels, dtype="<i8").data).hexdigest()
    return {"images": len(images), "shape": [int(n) for n in images.shape[1:]], "sha256": image_hash,
            "labels_sha256": label_hash}  # fmt: skip


@lru_cache(maxsize=4)
def _fingerprint_cached(name: str, data_dir: str | None, size: int | None) -> dict[str, Any]:
    raw = _decode(name, data_dir, size)
    content = {
        "dataset": name,
        "num_classes": raw.num_classes,
        "classes": None if raw.classes is None else list(raw.classes),
        "train": _part_fingerprint(raw.train_images, raw.train_labels),
        "test": _part_fingerprint(raw.test_images, raw.test_labels),
    }
    # a loader that names no root (one a user registered) gives no file list; its content is still hashed
    files = files_fingerprint(raw.root or Path(), raw.files if raw.root is not None else ())
    return {"kind": "images", "content": content, **files}


def clear_cache() -> None:
    """Forget every loaded data set (tests, or a process that changes data sets)."""
    _decode.cache_clear()
    _stats_cached.cache_clear()
    _load_cached.cache_clear()
    _fingerprint_cached.cache_clear()
