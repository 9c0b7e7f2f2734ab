"""Fashion-MNIST from its IDX files (the MNIST format), gzipped or not."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from pnas.evaluation.readers.base import (
    DATA_DIR_ENV,
    DATASETS,
    InvalidDataset,
    RawDataset,
    not_found,
    search_roots,
    with_subfolder,
)

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the gzipped IDX files."""


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format), gzipped if its name ends in ``.gz``; unsigned bytes only."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidDataset(f"{path}: cannot be read ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise InvalidDataset(f"{path}: not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise InvalidDataset(f"{path}: IDX element type {data[2]:#x} is not supported (only unsigned bytes, 0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InvalidDataset(f"{path}: IDX header is cut short ({len(data)} bytes, {ndim} dimensions need {header})")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    count = int(np.prod(shape))
    if len(data) - header != count:
        raise InvalidDataset(
            f"{path}: header says shape {shape} ({count} bytes) but the file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


@DATASETS.register("fashion-mnist", flip=True, channels=1)
def load_fashion_mnist(data_dir: str | Path | None = None) -> RawDataset:
    """Fashion-MNIST (Xiao et al., 2017): 60,000 training and 10,000 test images, 1x28x28, 10 classes."""
    folders = with_subfolder(search_roots("fashion-mnist", data_dir, (DEBIAN_FASHION_MNIST,)), "fashion-mnist")
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for folder in folders:
        paths = [_find_idx(folder, stem) for stem in stems]
        if paths[0] is None or paths[1] is None:
            continue
        if (paths[2] is None) != (paths[3] is None):
            paths[2] = paths[3] = None  # a test set needs both files; without one the other is not read
        arrays = [read_idx(p) if p is not None else None for p in paths]
        train_x, train_y, test_x, test_y = arrays
        assert train_x is not None and train_y is not None  # their files exist (checked above)
        for path, array, ndim in zip(paths, arrays, (3, 1, 3, 1)):
            if array is not None and array.ndim != ndim:
                raise InvalidDataset(f"{path}: expected {ndim} dimensions, the header gives shape {array.shape}")
        return RawDataset(
            train_images=train_x[:, None],
            train_labels=train_y.astype(np.int64),
            test_images=None if test_x is None else test_x[:, None],
            test_labels=None if test_y is None else test_y.astype(np.int64),
            num_classes=10,
            classes=FASHION_MNIST_CLASSES,
            source=str(folder),
            root=folder,
            files=tuple(p.name for p in paths if p is not None),
        )
    raise not_found(
        "fashion-mnist",
        folders,
        "It needs train-images-idx3-ubyte and train-labels-idx1-ubyte (gzipped or not). "
        "Get them with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
        "or download them from https://github.com/zalandoresearch/fashion-mnist and pass --data-dir "
        f"(or set ${DATA_DIR_ENV}).",
    )


FASHION_MNIST_CLASSES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip


# --------------------------------------------------------------------------- CIFAR (python-version pickles)
