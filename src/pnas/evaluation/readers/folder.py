"""Any folder of images with one subfolder per class (optionally ``train/`` and ``test/`` folders laid
out that way), decoded by PIL at the size asked for."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pnas.evaluation.readers.base import (
    DATASETS,
    DatasetNotFound,
    InvalidDataset,
    RawDataset,
    not_found,
    search_roots,
)

MAX_IMAGE_PIXELS = 1 << 26
"""Pixels (width x height) a folder image may have: 67 million, e.g. 8192 x 8192. Larger ones are refused
before they are decoded (a child trains on images of a few dozen pixels a side). It is below PIL's own
decompression-bomb limit, so PIL never warns about an image that is read."""


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


@contextmanager
def _open_image(path: Path) -> Iterator[Any]:
    """``PIL.Image.open``, with every failure inside the block (open, decode, convert, resize) an
    :class:`InvalidDataset` naming the file; an image of more than :data:`MAX_IMAGE_PIXELS` is refused
    from its header, before it is decoded."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, by size
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise InvalidDataset(f"{path}: image too large to read ({exc})") from None
    except Exception as exc:  # PIL raises many kinds (OSError, SyntaxError, struct.error, ...) for a bad file
        raise InvalidDataset(f"{path}: not a readable image ({exc})") from None
    with image:
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise InvalidDataset(
                f"{path}: image of {width}x{height} pixels ({width * height:,}) is larger than the "
                f"{MAX_IMAGE_PIXELS:,} pixels a data set image may have; shrink it first"
            )
        try:
            yield image
        except InvalidDataset:
            raise
        except Exception as exc:
            raise InvalidDataset(f"{path}: cannot be read as an image ({type(exc).__name__}: {exc})") from None


def _read_images(files: list[Path], grayscale: bool, size: tuple[int, int]) -> np.ndarray:
    """Read, convert (L or RGB for every image alike) and resize to ``size`` (width, height) with PIL."""
    from PIL import Image

    mode = "L" if grayscale else "RGB"
    out = np.empty((len(files), 1 if grayscale else 3, size[1], size[0]), dtype=np.uint8)
    for i, path in enumerate(files):
        with _open_image(path) as image:
            image = image.convert(mode)
            if image.size != size:
                image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
            array = np.asarray(image)
        out[i] = array[None] if grayscale else array.transpose(2, 0, 1)
    return out


def read_image_folder(
    root: Path, classes: tuple[str, ...] | None = None, size: int | tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Images under ``root/<class>/``; labels follow the sorted class names (or the given ones).

    Images are kept grayscale if every one is grayscale, else all are made RGB; all are
    resized to ``size`` (an int: square; a tuple: width, height), or, if None, to the first image's size.
    Without ``classes`` (a training part) there must be at least 2 class folders, each with an image.
    """
    images, labels, classes, _ = _read_class_folders(root, classes, size)
    return images, labels, classes


def _read_class_folders(
    root: Path, classes: tuple[str, ...] | None, size: int | tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list[Path]]:
    """:func:`read_image_folder`, and the files read in label order."""
    training = classes is None
    if classes is None:
        classes = tuple(p.name for p in _class_folders(root))
    files: list[Path] = []
    labels: list[int] = []
    empty: list[str] = []
    for label, name in enumerate(classes):
        found = _image_files(root / name) if (root / name).is_dir() else []
        if not found:
            empty.append(name)
        files.extend(found)
        labels.extend([label] * len(found))
    if not files:
        raise DatasetNotFound(
            f"no images found under {root}: the folder data set needs one subfolder per class holding image files "
            f"({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    if training and len(classes) < 2:
        raise InvalidDataset(
            f"{root}: only one class folder ({classes[0]!r}); a data set needs at least 2 classes, "
            "one subfolder of images each"
        )
    if training and empty:
        shown = ", ".join(repr(name) for name in empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise InvalidDataset(
            f"{root}: class folder{'s' if len(empty) > 1 else ''} {shown} "
            f"{'have' if len(empty) > 1 else 'has'} no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    grayscale = True
    for path in files:  # headers only: every file is opened (and its size checked) before any is decoded
        with _open_image(path) as image:
            if image.mode not in GRAYSCALE_MODES:
                grayscale = False
    if size is None:
        with _open_image(files[0]) as image:
            width_height = image.size
    else:
        width_height = (size, size) if isinstance(size, int) else size
    return _read_images(files, grayscale, width_height), np.asarray(labels, dtype=np.int64), classes, files


@DATASETS.register("folder", flip=True, sized=True)
def load_folder(data_dir: str | Path | None = None, image_size: int | None = None) -> RawDataset:
    """Any folder of images with one subfolder per class; ``train/`` and ``test/`` subfolders, if both exist, split it."""
    how = (
        "Pass --data-dir pointing at a folder with one subfolder of images per class "
        "(or train/ and test/ folders laid out that way)."
    )
    if data_dir is None:
        raise not_found("folder", [], how)
    root = search_roots("folder", data_dir)[0]
    if not root.is_dir():
        raise DatasetNotFound(f"data set 'folder' not found: {root} is not a folder. {how}")
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_x, train_y, classes, train_files = _read_class_folders(root / "train", None, image_size)
        width_height = (train_x.shape[3], train_x.shape[2])
        test_x, test_y, _, test_files = _read_class_folders(root / "test", classes, width_height)
        files = train_files + test_files
    else:
        train_x, train_y, classes, files = _read_class_folders(root, None, image_size)
        test_x = test_y = None
    return RawDataset(
        train_x, train_y, len(classes), test_x, test_y, classes, source=str(root),
        root=root, files=tuple(p.relative_to(root).as_posix() for p in files),
    )  # fmt: skip
