"""Image data sets for child training: named loaders, a fixed validation split, a per-process cache.

A search trains thousands of children on the same images, so the data is decoded
once per process into float tensors ``(N, C, H, W)`` that the trainer indexes
directly (no DataLoader, no worker processes).

Named data sets (``DATASETS``; a user may register their own loader):

``fashion-mnist``
    IDX files, gzipped or not, looked for in ``data_dir`` or, when none is given,
    ``$PNAS_DATA_DIR`` then ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``).
``cifar10`` / ``cifar100``
    The python-version archive (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``)
    or its extracted folder, at ``data_dir`` (or ``$PNAS_DATA_DIR``). Its pickled
    batches are read by a restricted unpickler that admits arrays and plain data only.
``folder``
    A folder of images with one subfolder per class at ``data_dir`` (optionally
    ``train/`` and ``test/`` folders, each laid out that way).

A ``data_dir`` that is given is the only place looked in (and its subfolder named
after the data set): it is used or refused, never replaced by a default place.

Everything is checked while decoding, before any child trains: every file that fails
to read is named (:class:`InvalidDataset`, a ValueError), a data set needs at least
two classes, each with training images, and every label must be in range.

The validation split always comes from the training set, fixed by the seed: the
test set is never seen during a search (:func:`load_test` gives it for later).
:func:`dataset_fingerprint` describes a decoded data set for a study to store.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pnas.evaluation.base import files_fingerprint
from pnas.registry import Registry

DATA_DIR_ENV = "PNAS_DATA_DIR"
"""Environment variable naming a folder that holds data sets (used when no data_dir is given)."""

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the gzipped IDX files."""

DEFAULT_VAL_SIZE = 5000
"""Validation images held out of the training set (the paper holds out 5,000 of CIFAR-10's 50,000)."""

MAX_IMAGE_PIXELS = 1 << 26
"""Pixels (width x height) a folder image may have: 67 million, e.g. 8192 x 8192. Larger ones are refused
before they are decoded (a child trains on images of a few dozen pixels a side). It is below PIL's own
decompression-bomb limit, so PIL never warns about an image that is read."""


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


DatasetLoader = Callable[[Path | None], RawDataset]
"""Reads a data set from ``data_dir`` (``None``: look in the default places); raises DatasetNotFound."""

DATASETS: Registry[RawDataset] = Registry("data set", "pnas.datasets")


# --------------------------------------------------------------------------- where to look


def _search_roots(name: str, data_dir: str | Path | None, extra: tuple[Path, ...] = ()) -> list[Path]:
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


def _with_subfolder(roots: list[Path], name: str) -> list[Path]:
    """Each root, and the same root's subfolder ``name`` (``~/data`` or ``~/data/fashion-mnist``)."""
    out: list[Path] = []
    for root in roots:
        for candidate in (root, root / name):
            if candidate not in out:
                out.append(candidate)
    return out


def _not_found(name: str, looked: list[Path], how: str) -> DatasetNotFound:
    places = ", ".join(str(p) for p in looked) or "(no place: give --data-dir)"
    return DatasetNotFound(f"data set {name!r} not found; looked in: {places}. {how}")


# --------------------------------------------------------------------------- Fashion-MNIST (IDX files)


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


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(data_dir: str | Path | None = None) -> RawDataset:
    """Fashion-MNIST (Xiao et al., 2017): 60,000 training and 10,000 test images, 1x28x28, 10 classes."""
    folders = _with_subfolder(_search_roots("fashion-mnist", data_dir, (DEBIAN_FASHION_MNIST,)), "fashion-mnist")
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for folder in folders:
        paths = [_find_idx(folder, stem) for stem in stems]
        if paths[0] is None or paths[1] is None:
            continue
        if (paths[2] is None) != (paths[3] is None):
            paths[2] = paths[3] = None  # a test set needs both files; without one the other is not read
        arrays = [read_idx(p) if p is not None else None for p in paths]
        train_x, train_y, test_x, test_y = arrays
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
    raise _not_found(
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


def _numpy_globals() -> dict[tuple[str, str], object]:
    """The few numpy callables an array's pickle refers to, under their old and new module names.

    Taken from numpy's own reduce output, so they are the real functions whatever the numpy version.
    """
    reconstruct = np.ndarray((0,), np.uint8).__reduce__()[0]
    frombuffer = np.arange(1).__reduce_ex__(5)[0]
    scalar = np.float64(0).__reduce__()[0]
    allowed: dict[tuple[str, str], object] = {("_codecs", "encode"): _latin1_encode}
    for prefix in ("numpy.core", "numpy._core"):
        allowed[(f"{prefix}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{prefix}.multiarray", "scalar")] = scalar
        allowed[(f"{prefix}.numeric", "_frombuffer")] = frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """How Python 3 pickles bytes under protocol 2 (``_codecs.encode``); only text encodings are accepted."""
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise RefusedPickle(f"refused codec {encoding!r} in _codecs.encode")
    return text.encode(encoding)


class RefusedPickle(pickle.UnpicklingError):
    """A pickle named a global outside the allowed numpy array constructors."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles arrays, lists, dicts, strings, bytes and numbers, and nothing else.

    A pickle can name any importable callable and have it called; CIFAR's files are
    pickles, and users download them, so every global outside a short list of numpy
    array constructors is refused.
    """

    _allowed = _numpy_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise RefusedPickle(
                f"refused to load {module}.{name}: only numpy arrays and plain data may appear in a data file"
            ) from None


def restricted_loads(data: bytes, source: str = "pickle") -> object:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; a refused or broken pickle raises ValueError."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except RefusedPickle as exc:
        raise InvalidDataset(f"{source}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError, ValueError) as exc:
        raise InvalidDataset(f"{source}: not a valid data pickle ({exc})") from None


def _key(batch: dict, name: str, source: str = "CIFAR batch") -> object:
    """CIFAR's dicts have bytes keys (pickled by Python 2); accept str keys too."""
    for key in (name.encode(), name):
        if key in batch:
            return batch[key]
    raise InvalidDataset(f"{source}: no {name!r} entry (keys: {sorted(map(str, batch))})")


@dataclass(frozen=True)
class _CifarLayout:
    name: str
    folder: str
    archive: str
    train: tuple[str, ...]
    test: str
    label_key: str
    num_classes: int
    meta: str
    names_key: str


_CIFAR = {
    "cifar10": _CifarLayout(
        "cifar10", "cifar-10-batches-py", "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "labels", 10, "batches.meta", "label_names",
    ),
    "cifar100": _CifarLayout(
        "cifar100", "cifar-100-python", "cifar-100-python.tar.gz",
        ("train",), "test", "fine_labels", 100, "meta", "fine_label_names",
    ),
}  # fmt: skip


def _cifar_arrays(blobs: list[tuple[str, bytes]], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for source, blob in blobs:
        batch = restricted_loads(blob, source)
        if not isinstance(batch, dict):
            raise InvalidDataset(f"{source}: expected a dict, got {type(batch).__name__}")
        raw_data, raw_labels = _key(batch, "data", source), _key(batch, label_key, source)
        try:
            data = np.asarray(raw_data, dtype=np.uint8)
            label = np.asarray(raw_labels, dtype=np.int64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidDataset(f"{source}: 'data' or {label_key!r} is not an array of bytes ({exc})") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise InvalidDataset(f"{source}: 'data' must be N x 3072 bytes (3x32x32 images), got shape {data.shape}")
        if label.ndim != 1 or len(label) != len(data):
            raise InvalidDataset(f"{source}: {len(data):,} images but {label.size:,} labels")
        images.append(data.reshape(len(data), 3, 32, 32))
        labels.append(label)
    return np.concatenate(images), np.concatenate(labels)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidDataset(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_cifar_files(layout: _CifarLayout, root: Path) -> tuple[dict[str, bytes], Path, tuple[str, ...]] | None:
    """The batch files' bytes, from the extracted folder or the .tar.gz archive at ``root``, with the folder
    and the file names they came from (for the fingerprint); None if absent."""
    wanted = (*layout.train, layout.test, layout.meta)
    for folder in (root / layout.folder, root):
        if all((folder / name).is_file() for name in layout.train):
            names = tuple(name for name in wanted if (folder / name).is_file())
            return {name: _read_bytes(folder / name) for name in names}, folder, names
    for archive in (root / layout.archive, root):
        if archive.is_file() and archive.name.endswith((".tar.gz", ".tgz", ".tar")):
            files: dict[str, bytes] = {}
            try:
                with tarfile.open(archive, "r:*") as tar:
                    for member in tar.getmembers():
                        base = member.name.rsplit("/", 1)[-1]
                        if member.isfile() and base in wanted:
                            handle = tar.extractfile(member)
                            if handle is not None:
                                files[base] = handle.read()
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise InvalidDataset(f"{archive}: cannot be read as a tar archive ({exc})") from None
            if all(name in files for name in layout.train):
                return files, archive.parent, (archive.name,)
    return None


def _load_cifar(layout: _CifarLayout, data_dir: str | Path | None) -> RawDataset:
    roots = _with_subfolder(_search_roots(layout.name, data_dir), layout.name)
    for root in roots:
        found = _read_cifar_files(layout, root)
        if found is None:
            continue
        files, files_root, names = found
        train_x, train_y = _cifar_arrays([(f"{root}: {n}", files[n]) for n in layout.train], layout.label_key)
        test_x = test_y = None
        if layout.test in files:
            test_x, test_y = _cifar_arrays([(f"{root}: {layout.test}", files[layout.test])], layout.label_key)
        classes = None
        if layout.meta in files:
            meta = restricted_loads(files[layout.meta], f"{root}: {layout.meta}")
            if isinstance(meta, dict):
                label_names = _key(meta, layout.names_key, f"{root}: {layout.meta}")
                classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in label_names)  # type: ignore[union-attr]
        return RawDataset(
            train_x, train_y, layout.num_classes, test_x, test_y, classes,
            source=str(root), root=files_root, files=names,
        )  # fmt: skip
    raise _not_found(
        layout.name,
        roots,
        f"It needs the python version: {layout.archive} or its extracted folder {layout.folder}/. "
        f"Download it from https://www.cs.toronto.edu/~kriz/cifar.html and pass its folder as --data-dir "
        f"(or set ${DATA_DIR_ENV}).",
    )


@DATASETS.register("cifar10")
def load_cifar10(data_dir: str | Path | None = None) -> RawDataset:
    """CIFAR-10 (Krizhevsky, 2009): 50,000 training and 10,000 test images, 3x32x32, 10 classes."""
    return _load_cifar(_CIFAR["cifar10"], data_dir)


@DATASETS.register("cifar100")
def load_cifar100(data_dir: str | Path | None = None) -> RawDataset:
    """CIFAR-100 (fine labels): 50,000 training and 10,000 test images, 3x32x32, 100 classes."""
    return _load_cifar(_CIFAR["cifar100"], data_dir)


# --------------------------------------------------------------------------- a folder of images

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
            size = image.size
    elif isinstance(size, int):
        size = (size, size)
    return _read_images(files, grayscale, size), np.asarray(labels, dtype=np.int64), classes, files


@DATASETS.register("folder")
def load_folder(data_dir: str | Path | None = None, image_size: int | None = None) -> RawDataset:
    """Any folder of images with one subfolder per class; ``train/`` and ``test/`` subfolders, if both exist, split it."""
    how = (
        "Pass --data-dir pointing at a folder with one subfolder of images per class "
        "(or train/ and test/ folders laid out that way)."
    )
    if data_dir is None:
        raise _not_found("folder", [], how)
    root = _search_roots("folder", data_dir)[0]
    if not root.is_dir():
        raise DatasetNotFound(f"data set 'folder' not found: {root} is not a folder. {how}")
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


# --------------------------------------------------------------------------- splits, resizing, normalization


def _raw(name: str, data_dir: str | None, image_size: int | None) -> RawDataset:
    return _decode(name, data_dir, _decode_size(name, image_size))


def _decode_size(name: str, image_size: int | None) -> int | None:
    """A folder's images may have any size, so PIL resizes them while reading; other data sets are
    decoded once whatever the image size, and resized later with torch."""
    return image_size if name == "folder" else None


@lru_cache(maxsize=4)
def _decode(name: str, data_dir: str | None, image_size: int | None) -> RawDataset:
    loader = DATASETS.get(name)
    if name == "folder":
        return loader(data_dir, image_size=image_size)  # type: ignore[call-arg]
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


def _to_tensor(images: np.ndarray, image_size: int | None, mean: tuple[float, ...], std: tuple[float, ...]):
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
    image_hash = hashlib.sha256(np.ascontiguousarray(images)).hexdigest()
    label_hash = hashlib.sha256(np.ascontiguousarray(labels, dtype="<i8")).hexdigest()
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
