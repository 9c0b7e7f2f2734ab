"""CIFAR-10 and CIFAR-100 from the python-version archive or its extracted folder, read by a restricted
unpickler that admits arrays and plain data only."""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _key(batch: dict[Any, Any], name: str, source: str = "CIFAR batch") -> object:
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
    roots = with_subfolder(search_roots(layout.name, data_dir), layout.name)
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
                if not isinstance(label_names, (list, tuple)):
                    raise InvalidDataset(f"{root}: {layout.meta}: {layout.names_key!r} is not a list of names")
                classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in label_names)
        return RawDataset(
            train_x, train_y, layout.num_classes, test_x, test_y, classes,
            source=str(root), root=files_root, files=names,
        )  # fmt: skip
    raise not_found(
        layout.name,
        roots,
        f"It needs the python version: {layout.archive} or its extracted folder {layout.folder}/. "
        f"Download it from https://www.cs.toronto.edu/~kriz/cifar.html and pass its folder as --data-dir "
        f"(or set ${DATA_DIR_ENV}).",
    )


@DATASETS.register("cifar10", flip=True, channels=3)
def load_cifar10(data_dir: str | Path | None = None) -> RawDataset:
    """CIFAR-10 (Krizhevsky, 2009): 50,000 training and 10,000 test images, 3x32x32, 10 classes."""
    return _load_cifar(_CIFAR["cifar10"], data_dir)


@DATASETS.register("cifar100", flip=True, channels=3)
def load_cifar100(data_dir: str | Path | None = None) -> RawDataset:
    """CIFAR-100 (fine labels): 50,000 training and 10,000 test images, 3x32x32, 100 classes."""
    return _load_cifar(_CIFAR["cifar100"], data_dir)


# --------------------------------------------------------------------------- a folder of images
