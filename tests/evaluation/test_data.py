"""Data set loaders on small files written by the tests, the split rules and the restricted unpickler."""

from __future__ import annotations

import builtins
import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from pnas.evaluation import data
from pnas.evaluation.data import DatasetNotFound, load_dataset, load_test
from pnas.evaluation.readers import idx


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    data.clear_cache()
    yield
    data.clear_cache()


def _labels(n: int, classes: int) -> np.ndarray:
    return (np.arange(n) % classes).astype(np.uint8)


def _images(labels: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Images whose brightness encodes the label, so a mix-up of images and labels is visible."""
    return np.broadcast_to(
        (labels * 20).astype(np.uint8).reshape(-1, *([1] * len(shape))), (len(labels), *shape)
    ).copy()


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx(folder: Path, n_train: int, n_test: int, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = _labels(n, 10)
        for stem, array in (
            (f"{prefix}-images-idx3-ubyte", _images(labels, (28, 28))),
            (f"{prefix}-labels-idx1-ubyte", labels),
        ):
            blob = _idx_bytes(array)
            if gz:
                (folder / (stem + ".gz")).write_bytes(gzip.compress(blob))
            else:
                (folder / stem).write_bytes(blob)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_idx_files(tmp_path, gz):
    _write_idx(tmp_path, 200, 50, gz)
    splits = load_dataset("fashion-mnist", data_dir=tmp_path, val_size=40, seed=1)
    assert splits.train_x.shape == (160, 1, 28, 28) and splits.val_x.shape == (40, 1, 28, 28)
    assert splits.train_x.dtype == torch.float32 and splits.train_y.dtype == torch.int64
    assert splits.num_classes == 10 and splits.channels == 1 and splits.image_size == 28
    # brightness still encodes the label after normalization: images and labels stay paired
    brightness = splits.train_x.mean(dim=(1, 2, 3))
    expected = (splits.train_y.float() * 20 / 255 - splits.mean[0]) / splits.std[0]
    assert torch.allclose(brightness, expected, atol=1e-5)
    test_x, test_y = load_test("fashion-mnist", data_dir=tmp_path, image_size=14)
    assert test_x.shape == (50, 1, 14, 14) and len(test_y) == 50


def test_fashion_mnist_found_through_environment_and_subfolder(tmp_path, monkeypatch):
    _write_idx(tmp_path / "fashion-mnist", 100, 10, gz=True)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert load_dataset("fashion-mnist", val_size=10).train_size == 90


def test_missing_fashion_mnist_says_where_and_how(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env"))
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("fashion-mnist")
    message = str(info.value)
    assert str(tmp_path / "env") in message and str(tmp_path / "debian") in message
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message
    assert isinstance(info.value, ValueError)
    # a data_dir that is given is the only place looked in
    (tmp_path / "mine").mkdir()
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path / "mine")
    message = str(info.value)
    assert str(tmp_path / "mine") in message and str(tmp_path / "mine" / "fashion-mnist") in message
    assert str(tmp_path / "debian") not in message and str(tmp_path / "env") not in message


def test_corrupt_idx_is_a_clear_error(tmp_path):
    _write_idx(tmp_path, 20, 10, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match="header says shape"):
        load_dataset("fashion-mnist", data_dir=tmp_path, val_size=2)


def _cifar_batch(n: int, classes: int, label_key: str) -> dict:
    labels = _labels(n, classes)
    images = _images(labels, (3, 32, 32)).reshape(n, 3072)
    return {b"batch_label": b"fake", label_key.encode(): labels.tolist(), b"data": images}


def _write_cifar(root: Path, hundred: bool, archive: bool, protocol: int = 2) -> None:
    if hundred:
        folder, key, classes, names = "cifar-100-python", "fine_labels", 100, {"train": 300, "test": 100}
        meta = ("meta", {b"fine_label_names": [f"c{i}".encode() for i in range(100)]})
    else:
        folder, key, classes = "cifar-10-batches-py", "labels", 10
        names = {f"data_batch_{i}": 40 for i in range(1, 6)} | {"test_batch": 30}
        meta = ("batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    files = {name: pickle.dumps(_cifar_batch(n, classes, key), protocol=protocol) for name, n in names.items()}
    files[meta[0]] = pickle.dumps(meta[1], protocol=protocol)
    if archive:
        archive_name = "cifar-100-python.tar.gz" if hundred else "cifar-10-python.tar.gz"
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(root / archive_name, "w:gz") as tar:
            for name, blob in files.items():
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        (root / folder).mkdir(parents=True)
        for name, blob in files.items():
            (root / folder / name).write_bytes(blob)


@pytest.mark.parametrize("archive", [False, True])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_folder_and_archive(tmp_path, archive, protocol):
    _write_cifar(tmp_path, hundred=False, archive=archive, protocol=protocol)
    splits = load_dataset("cifar10", data_dir=tmp_path, val_size=50, image_size=16)
    assert splits.train_x.shape == (150, 3, 16, 16) and splits.val_size == 50
    assert splits.num_classes == 10 and splits.channels == 3
    brightness = splits.train_x[:, 0].mean(dim=(1, 2))
    expected = (splits.train_y.float() * 20 / 255 - splits.mean[0]) / splits.std[0]
    assert torch.allclose(brightness, expected, atol=1e-4)
    assert len(load_test("cifar10", data_dir=tmp_path)[1]) == 30


def test_cifar100_archive(tmp_path):
    _write_cifar(tmp_path, hundred=True, archive=True)
    splits = load_dataset("cifar100", data_dir=tmp_path, val_size=100, train_subset=100)
    assert splits.num_classes == 100 and splits.train_size == 100
    assert data.load_cifar100(tmp_path).classes[:2] == ("c0", "c1")


def test_missing_cifar_names_the_archive(tmp_path):
    with pytest.raises(DatasetNotFound, match="cifar-10-python.tar.gz"):
        load_dataset("cifar10", data_dir=tmp_path)


class _Malicious:
    """Unpickling this would open (create) a file: the restricted unpickler must refuse before that."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return builtins.open, (str(self.target), "w")


def test_restricted_unpickler_refuses_code(tmp_path):
    target = tmp_path / "created-by-pickle"
    blob = pickle.dumps({b"data": _Malicious(target)}, protocol=2)
    with pytest.raises(ValueError, match=r"refused to load (builtins|io)\.open"):
        data.restricted_loads(blob)
    assert not target.exists()
    with pytest.raises(ValueError, match="refused"):
        data.restricted_loads(pickle.dumps(Path("x")))


def test_malicious_cifar_batch_is_refused(tmp_path):
    _write_cifar(tmp_path, hundred=False, archive=False)
    target = tmp_path / "created-by-pickle"
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps(_Malicious(target)))
    with pytest.raises(ValueError, match="refused"):
        load_dataset("cifar10", data_dir=tmp_path, val_size=10)
    assert not target.exists()


def test_restricted_unpickler_reads_arrays_and_plain_data():
    value = {b"a": [1, 2.5, "s", b"b", None, True], "arr": np.arange(6, dtype=np.float32).reshape(2, 3)}
    for protocol in (2, 4, 5):
        out = data.restricted_loads(pickle.dumps(value, protocol=protocol))
        assert out[b"a"] == value[b"a"]
        np.testing.assert_array_equal(out["arr"], value["arr"])


def _write_folder(root: Path, modes: dict[str, str], per_class: int = 6, size: tuple[int, int] = (20, 12)) -> None:
    from PIL import Image

    for label, (name, mode) in enumerate(modes.items()):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            value = 30 * label + i
            color = value if mode == "L" else (value, value, value)
            Image.new(mode, size, color).save(root / name / f"{i}.png")


def test_image_folder_grayscale_and_rgb(tmp_path):
    _write_folder(tmp_path / "gray", {"cat": "L", "dog": "L"})
    gray = load_dataset("folder", data_dir=tmp_path / "gray", val_size=4, image_size=8)
    assert gray.channels == 1 and gray.num_classes == 2
    assert gray.train_x.shape == (8, 1, 8, 8)
    _write_folder(tmp_path / "mixed", {"a": "L", "b": "RGB", "c": "L"})
    mixed = load_dataset("folder", data_dir=tmp_path / "mixed", val_size=3)
    assert mixed.channels == 3 and mixed.num_classes == 3
    assert mixed.train_x.shape[-2:] == (12, 20)  # first image's size kept when no image_size is given
    # class b is darker than c, brighter than a: labels follow sorted folder names
    per_class = [mixed.train_x[mixed.train_y == k].mean().item() for k in range(3)]
    assert per_class[0] < per_class[1] < per_class[2]


def test_image_folder_with_train_and_test(tmp_path):
    _write_folder(tmp_path / "train", {"x": "RGB", "y": "RGB"})
    _write_folder(tmp_path / "test", {"x": "RGB", "y": "RGB"}, per_class=2)
    splits = load_dataset("folder", data_dir=tmp_path, val_size=2, image_size=10)
    assert splits.train_size == 10
    test_x, test_y = load_test("folder", data_dir=tmp_path, image_size=10)
    assert test_x.shape == (4, 3, 10, 10) and test_y.tolist() == [0, 0, 1, 1]


def test_folder_without_images_or_dir(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetNotFound, match="no images"):
        load_dataset("folder", data_dir=tmp_path / "empty")
    with pytest.raises(DatasetNotFound, match="--data-dir"):
        load_dataset("folder")


def test_unknown_dataset_lists_names():
    with pytest.raises(ValueError, match="cifar10.*fashion-mnist.*folder"):
        load_dataset("mnist-fashion")


def test_split_rules(tmp_path):
    _write_idx(tmp_path, 500, 10, gz=False)
    labels = data.load_fashion_mnist(tmp_path).train_labels
    train, val = data.split_indices(labels, 100, None, seed=3)
    assert len(set(train) | set(val)) == 500 and not set(train) & set(val)
    assert np.bincount(labels[val]).tolist() == [10] * 10  # stratified
    # the validation split depends on the seed only, not on the training subset
    sub_train, sub_val = data.split_indices(labels, 100, 50, seed=3)
    assert np.array_equal(sub_val, val) and set(sub_train) <= set(train) and len(sub_train) == 50
    assert np.bincount(labels[sub_train]).tolist() == [5] * 10
    assert np.array_equal(data.split_indices(labels, 100, 50, seed=3)[0], sub_train)
    assert not np.array_equal(data.split_indices(labels, 100, None, seed=4)[1], val)


def test_bad_sizes_are_clear_errors(tmp_path):
    _write_idx(tmp_path, 50, 10, gz=False)
    with pytest.raises(ValueError, match="val_size"):
        load_dataset("fashion-mnist", data_dir=tmp_path, val_size=50)
    with pytest.raises(ValueError, match="train_subset"):
        load_dataset("fashion-mnist", data_dir=tmp_path, val_size=10, train_subset=41)
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("fashion-mnist", data_dir=tmp_path, image_size=0)


def test_loads_are_cached(tmp_path):
    _write_idx(tmp_path, 100, 10, gz=True)
    first = load_dataset("fashion-mnist", data_dir=tmp_path, val_size=10, image_size=14)
    assert load_dataset("fashion-mnist", data_dir=str(tmp_path), val_size=10, image_size=14) is first
    assert load_dataset("fashion-mnist", data_dir=tmp_path, val_size=20, image_size=14) is not first


def test_downsampling_averages(tmp_path):
    _write_idx(tmp_path, 30, 10, gz=False)
    full = load_dataset("fashion-mnist", data_dir=tmp_path, val_size=10)
    half = load_dataset("fashion-mnist", data_dir=tmp_path, val_size=10, image_size=14)
    assert torch.allclose(full.train_x.mean(dim=(2, 3)), half.train_x.mean(dim=(2, 3)), atol=1e-5)
    assert load_dataset("fashion-mnist", data_dir=tmp_path, val_size=10, image_size=16).image_size == 16


@pytest.mark.skipif(not data.DEBIAN_FASHION_MNIST.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_installed_fashion_mnist():
    splits = load_dataset("fashion-mnist", image_size=14, train_subset=1000, val_size=500)
    assert splits.train_x.shape == (1000, 1, 14, 14) and splits.val_size == 500
    assert abs(splits.train_x.mean().item()) < 0.1 and abs(splits.train_x.std().item() - 1) < 0.15
