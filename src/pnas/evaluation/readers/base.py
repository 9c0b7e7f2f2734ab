"""What every data set reader shares: the decoded data set, its errors, the registry and where to look.

A reader turns files into a :class:`RawDataset` (uint8 images ``(N, C, H, W)``, int64
labels), checked as it is made; splitting, resizing and normalising it are
:mod:`pnas.evaluation.splits`' business.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import numpy as np

from pnas.registry import Registry, load_plugins

F = TypeVar("F", bound=Callable[..., Any])

DATA_DIR_ENV = "PNAS_DATA_DIR"
"""Environment variable naming a folder that holds data sets (used when no data_dir is given)."""


class DatasetError(ValueError):
    """A data set that cannot be used; the message names the file or folder and what is wrong."""


class DatasetNotFound(DatasetError):
    """The files of a data set are not where they were looked for; the message says where and how to get them."""


class InvalidDataset(DatasetError):
    """A data set's files were found but cannot be trained on: a file that does not read, a label out of
    range, fewer than two classes, a class without training images."""


@dataclass(frozen=True)
class RawDataset:
    """A data set as decoded from disk: uint8 images ``(N, C, H, W)`` and int64 labels."""

    train_images: np.ndarray
    train_labels: np.ndarray
    num_classes: int
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    source: str = ""
    """Where it was read from, for messages."""
    root: Path | None = None
    """The folder the files below are named relative to (for the fingerprint; no absolute path goes into it)."""
    files: tuple[str, ...] = ()
    """The files read, relative to ``root`` with ``/`` separators."""

    def __post_init__(self) -> None:
        """Every loader's result is checked here: shapes, counts, labels in range, every class trained on."""
        source = self.source or "data set"
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise InvalidDataset(f"{source}: a data set needs at least 2 classes, this one has {self.num_classes}")
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise InvalidDataset(f"{source}: {len(self.classes)} class names for {self.num_classes} classes")
        parts = (("training", self.train_images, self.train_labels), ("test", self.test_images, self.test_labels))
        for part, images, labels in parts:
            if images is None:
                continue
            if images.ndim != 4 or images.dtype != np.uint8:
                raise InvalidDataset(
                    f"{source}: {part} images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}"
                )
            if labels is None:
                raise InvalidDataset(f"{source}: {len(images):,} {part} images but no labels")
            if labels.ndim != 1 or len(labels) != len(images):
                raise InvalidDataset(f"{source}: {len(images):,} {part} images but {len(labels):,} labels")
            if len(labels) and not np.issubdtype(labels.dtype, np.integer):
                raise InvalidDataset(f"{source}: {part} labels must be integers, got {labels.dtype}")
            bad = np.flatnonzero((labels < 0) | (labels >= self.num_classes))
            if len(bad):
                raise InvalidDataset(
                    f"{source}: {part} label {int(labels[bad[0]])} (image {int(bad[0])}) is out of range for "
                    f"{self.num_classes} classes (labels must be 0..{self.num_classes - 1}); "
                    f"{len(bad):,} of {len(labels):,} {part} labels are out of range"
                )
        counts = np.bincount(self.train_labels.astype(np.int64, copy=False), minlength=self.num_classes)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            named = [f"{int(k)} ({self.classes[k]!r})" if self.classes else str(int(k)) for k in empty[:5]]
            more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
            raise InvalidDataset(
                f"{source}: class{'es' if len(empty) > 1 else ''} {', '.join(named)}{more} "
                f"{'have' if len(empty) > 1 else 'has'} no training images (every class needs at least one)"
            )


DatasetLoader = Callable[[Path | None], RawDataset]
"""Reads a data set from ``data_dir`` (``None``: look in the default places); raises DatasetNotFound."""


@dataclass(frozen=True)
class DatasetTraits:
    """What a data set declares where it is registered: what training needs to know before reading it."""

    flip: bool = False
    """Whether a horizontal flip keeps an image's class: the default of ``--flip`` (off for digits or
    text, and for a data set that does not say)."""
    channels: int | None = None
    """Channels of its images (1: grayscale, 3: colour); None where the files decide (an image folder)."""
    sized: bool = False
    """Whether its loader takes ``image_size`` and decodes at that size (an image folder, whose images may
    have any size); the others are decoded once at their own size and resized later with torch."""


class DatasetRegistry(Registry[RawDataset]):
    """The data set registry: a loader is registered with its :class:`DatasetTraits` (keywords of
    :meth:`register`); one registered without them declares the defaults."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        super().__init__(kind, group)
        self._traits: dict[str, DatasetTraits] = {}

    @overload
    def register(
        self,
        name: str,
        factory: str,
        *,
        options: type | None = None,
        help: str | None = None,
        uses: tuple[str, ...] = (),
        flip: bool = False,
        channels: int | None = None,
        sized: bool = False,
    ) -> str: ...

    @overload
    def register(
        self,
        name: str,
        factory: Callable[..., RawDataset],
        *,
        options: type | None = None,
        help: str | None = None,
        uses: tuple[str, ...] = (),
        flip: bool = False,
        channels: int | None = None,
        sized: bool = False,
    ) -> Callable[..., RawDataset]: ...

    @overload
    def register(
        self,
        name: str,
        factory: None = None,
        *,
        options: type | None = None,
        help: str | None = None,
        uses: tuple[str, ...] = (),
        flip: bool = False,
        channels: int | None = None,
        sized: bool = False,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        name: str,
        factory: Callable[..., RawDataset] | str | None = None,
        *,
        options: type | None = None,
        help: str | None = None,
        uses: tuple[str, ...] = (),
        flip: bool = False,
        channels: int | None = None,
        sized: bool = False,
    ) -> Any:
        traits = DatasetTraits(flip=flip, channels=channels, sized=sized)

        def add(f: Any) -> Any:
            Registry.register(self, name, f, options=options, help=help, uses=uses)
            if self._entries[name].target is f:  # not where a built-in data set kept its name
                self._traits[name] = traits
            return f

        return add(factory) if factory is not None else add

    def traits(self, name: str) -> DatasetTraits:
        """The traits of data set ``name`` (a name nobody registered yet loads the installed plugins first;
        an unknown one is a ValueError listing the known ones)."""
        if name not in self:
            load_plugins([self])
        self.component(name)
        return self._traits.get(name, DatasetTraits())


DATASETS: DatasetRegistry = DatasetRegistry("data set", "pnas.datasets")
"""Data set loaders by name: ``DATASETS.register(name, loader, flip=..., channels=...)``."""


# --------------------------------------------------------------------------- where to look


def search_roots(name: str, data_dir: str | Path | None, extra: tuple[Path, ...] = ()) -> list[Path]:
    """data_dir alone when it is given (DatasetNotFound if it does not exist); else $PNAS_DATA_DIR, then
    any fixed places, each once. A path the user gave is used or refused, never replaced by a default."""
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not root.exists():
            raise DatasetNotFound(f"data set {name!r} not found: the data directory {root} does not exist")
        return [root]
    roots: list[Path] = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        roots.append(Path(env).expanduser())
    roots.extend(extra)
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def with_subfolder(roots: list[Path], name: str) -> list[Path]:
    """Each root, and the same root's subfolder ``name`` (``~/data`` or ``~/data/fashion-mnist``)."""
    out: list[Path] = []
    for root in roots:
        for candidate in (root, root / name):
            if candidate not in out:
                out.append(candidate)
    return out


def not_found(name: str, looked: list[Path], how: str) -> DatasetNotFound:
    places = ", ".join(str(p) for p in looked) or "(no place: give --data-dir)"
    return DatasetNotFound(f"data set {name!r} not found; looked in: {places}. {how}")
