"""Data sets are checked before the first child, a given data_dir is never replaced, and data fingerprints."""

from __future__ import annotations

import csv
import gzip
import json
import os
import pickle
import shutil
import struct
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from pnas.evaluation import data
from pnas.evaluation.base import fingerprint_difference
from pnas.evaluation.data import DatasetNotFound, InvalidDataset, dataset_fingerprint, load_dataset
from pnas.evaluation.readers import idx
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.evaluation.table import InvalidTable, TableEvaluator
from pnas.evaluation.trainer import TrainingEvaluator

BEST = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")
    data.clear_cache()
    yield
    data.clear_cache()


# --------------------------------------------------------------------------- writers of tiny data sets


def write_folder(root: Path, classes: dict[str, int], size: tuple[int, int] = (6, 6)) -> None:
    """``classes``: folder name -> number of images; image ``i`` of class ``k`` has brightness 40k + i."""
    from PIL import Image

    for k, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("L", size, 40 * k + i).save(root / name / f"{i}.png")


def png_header(width: int, height: int) -> bytes:
    """A PNG of the given size with no pixel data: enough for PIL to read its size, nothing more."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(folder: Path, n_train: int = 40, n_test: int = 20, labels: int | None = None, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = np.full(n, labels) if labels is not None else np.arange(n) % 10
        x = (np.arange(n * 28 * 28) % 251).reshape(n, 28, 28)
        for stem, array in ((f"{prefix}-images-idx3-ubyte", x), (f"{prefix}-labels-idx1-ubyte", y)):
            blob = idx_bytes(array)
            (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(blob, mtime=0) if gz else blob)


def write_cifar10(root: Path, train_label=None, test_label=None, per_batch: int = 20) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        forced = test_label if name == "test_batch" else train_label
        labels = [forced] * per_batch if forced is not None else [i % 10 for i in range(per_batch)]
        images = np.zeros((per_batch, 3072), dtype=np.uint8)
        (folder / name).write_bytes(pickle.dumps({b"labels": labels, b"data": images}, protocol=2))
    return folder


def write_table(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------- images that do not read


def test_a_huge_image_is_refused_by_name_before_decoding(tmp_path):
    write_folder(tmp_path / "bomb", {"a": 2, "b": 2})
    (tmp_path / "bomb" / "b" / "huge.png").write_bytes(png_header(30000, 30000))  # PIL's own bomb limit
    with pytest.raises(InvalidDataset) as info:
        load_dataset("folder", data_dir=tmp_path / "bomb", val_size=1)
    assert str(tmp_path / "bomb" / "b" / "huge.png") in str(info.value) and "900000000 pixels" in str(info.value)

    write_folder(tmp_path / "big", {"a": 2, "b": 2})
    (tmp_path / "big" / "a" / "big.png").write_bytes(png_header(9000, 9000))  # under PIL's, over ours
    with pytest.raises(InvalidDataset, match=r"big\.png: image of 9000x9000 pixels"):
        load_dataset("folder", data_dir=tmp_path / "big", val_size=1)


def test_a_broken_image_names_its_file(tmp_path):
    from PIL import Image

    write_folder(tmp_path / "cut", {"a": 2, "b": 2})
    Image.fromarray(np.arange(1600, dtype=np.uint8).reshape(40, 40)).save(tmp_path / "cut" / "a" / "x.png")
    blob = (tmp_path / "cut" / "a" / "x.png").read_bytes()
    (tmp_path / "cut" / "a" / "x.png").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InvalidDataset, match=r"a/x\.png: cannot be read as an image .*truncated"):
        load_dataset("folder", data_dir=tmp_path / "cut", val_size=1)

    write_folder(tmp_path / "text", {"a": 2, "b": 2})
    (tmp_path / "text" / "b" / "notes.png").write_text("not an image")
    with pytest.raises(InvalidDataset, match=r"b/notes\.png: not a readable image"):
        load_dataset("folder", data_dir=tmp_path / "text", val_size=1)


def test_a_broken_gzip_names_its_file(tmp_path):
    write_idx(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InvalidDataset, match=r"train-labels-idx1-ubyte\.gz: cannot be read"):
        load_dataset("fashion-mnist", data_dir=tmp_path, val_size=10)


# --------------------------------------------------------------------------- classes and labels


def test_a_folder_needs_two_classes_each_with_images(tmp_path):
    write_folder(tmp_path / "one", {"only": 5})
    with pytest.raises(InvalidDataset, match=r"one: only one class folder \('only'\).*at least 2 classes"):
        load_dataset("folder", data_dir=tmp_path / "one", val_size=1)
    write_folder(tmp_path / "gap", {"a": 3, "b": 3})
    (tmp_path / "gap" / "c").mkdir()
    with pytest.raises(InvalidDataset, match=r"gap: class folder 'c' has no images"):
        load_dataset("folder", data_dir=tmp_path / "gap", val_size=1)
    # a class may be absent from the test part, never from the training part
    write_folder(tmp_path / "split" / "train", {"a": 3, "b": 3})
    write_folder(tmp_path / "split" / "test", {"a": 1})
    assert load_dataset("folder", data_dir=tmp_path / "split", val_size=2).num_classes == 2
    (tmp_path / "split" / "train" / "c").mkdir()
    data.clear_cache()
    with pytest.raises(InvalidDataset, match=r"train: class folder 'c' has no images"):
        load_dataset("folder", data_dir=tmp_path / "split", val_size=2)


def test_labels_out_of_range_are_refused_naming_the_source_and_label(tmp_path):
    write_cifar10(tmp_path / "train99", train_label=99)
    with pytest.raises(InvalidDataset, match=r"train99.*training label 99 .*out of range for 10 classes"):
        load_dataset("cifar10", data_dir=tmp_path / "train99", val_size=10)
    write_cifar10(tmp_path / "test-1", test_label=-1)
    with pytest.raises(InvalidDataset, match=r"test-1.*test label -1 .*out of range"):
        load_dataset("cifar10", data_dir=tmp_path / "test-1", val_size=10)
    write_idx(tmp_path / "fm", labels=10)
    with pytest.raises(InvalidDataset, match=r"fm.*training label 10 \(image 0\) is out of range.*labels must be 0..9"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "fm", val_size=10)


def test_a_class_without_training_images_and_a_count_mismatch_are_refused(tmp_path):
    write_idx(tmp_path / "fm", labels=3)  # every label 3: nine classes never trained on
    with pytest.raises(InvalidDataset, match=r"classes 0 \('t-shirt/top'\), 1 \('trouser'\).* have no training"):
        load_dataset("fashion-mnist", data_dir=tmp_path / "fm", val_size=10)
    folder = write_cifar10(tmp_path / "c10")
    (folder / "data_batch_2").write_bytes(
        pickle.dumps({b"labels": [1, 2, 3], b"data": np.zeros((4, 3072), dtype=np.uint8)}, protocol=2)
    )
    with pytest.raises(InvalidDataset, match=r"data_batch_2: 4 images but 3 labels"):
        load_dataset("cifar10", data_dir=tmp_path / "c10", val_size=10)


def test_the_evaluator_refuses_a_bad_data_set_in_prepare(tmp_path):
    write_folder(tmp_path / "one", {"only": 8})
    evaluator = TrainingEvaluator(dataset="folder", data_dir=str(tmp_path / "one"), image_size=6, train_subset=None,
                                  val_size=2)  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 classes"):
        evaluator.prepare()


# --------------------------------------------------------------------------- a given data_dir is used or refused


def test_a_given_data_dir_is_never_replaced_by_a_default_place(tmp_path, monkeypatch):
    write_idx(tmp_path / "env" / "fashion-mnist")
    write_idx(tmp_path / "debian")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "env"))
    monkeypatch.setattr(idx, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    assert load_dataset("fashion-mnist", val_size=10).train_size == 30  # no data_dir: the default places
    missing = tmp_path / "nonexistent" / "dir"
    with pytest.raises(DatasetNotFound, match=f"the data directory {missing} does not exist"):
        load_dataset("fashion-mnist", data_dir=missing, val_size=10)
    with pytest.raises(DatasetNotFound, match="does not exist"):
        load_dataset("cifar10", data_dir=missing, val_size=10)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFound) as info:
        load_dataset("fashion-mnist", data_dir=tmp_path / "empty", val_size=10)
    message = str(info.value)
    assert f"looked in: {tmp_path / 'empty'}, {tmp_path / 'empty' / 'fashion-mnist'}." in message
    assert str(tmp_path / "env") not in message and str(tmp_path / "debian") not in message


# --------------------------------------------------------------------------- tables


def test_a_table_without_rows_or_numbers_is_refused(tmp_path):
    header_only = write_table(tmp_path / "header.csv", ["cellstr", "cifar10-val"], [])
    with pytest.raises(InvalidTable, match=f"table {header_only} has no rows"):
        TableEvaluator(table=str(header_only), report_metric=None)
    words = write_table(tmp_path / "words.csv", ["cellstr", "cifar10-val", "cifar10-test"], [[BEST, "n/a", 70.0]])
    with pytest.raises(InvalidTable, match=f"table {words} has no numeric value in column 'cifar10-val'"):
        TableEvaluator(table=str(words))
    blank_report = write_table(tmp_path / "blank.csv", ["cellstr", "cifar10-val", "cifar10-test"], [[BEST, 70.0, ""]])
    with pytest.raises(InvalidTable, match="no numeric value in column 'cifar10-test'"):
        TableEvaluator(table=str(blank_report))
    assert TableEvaluator(table=str(blank_report), report_metric=None).evaluate(BEST).accuracy == pytest.approx(0.7)


def test_a_table_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"cellstr,cifar10-val\n{BEST},70\n{BEST[:-1]}\xe9|,71\n".encode("latin-1"))
    with pytest.raises(InvalidTable, match=f"table {path}, line 3: not UTF-8"):
        TableEvaluator(table=str(path), report_metric=None)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(f"cellstr,cifar10-val\n{BEST},70\n".encode("utf-8-sig"))  # as spreadsheets save it
    assert TableEvaluator(table=str(bom), report_metric=None).evaluate(BEST).accuracy == pytest.approx(0.7)
    bom.write_bytes(bom.read_bytes() + b"x\xff,1\n")
    with pytest.raises(InvalidTable, match=f"table {bom}, line 3: not UTF-8 text \\(byte 0xff at offset"):
        TableEvaluator(table=str(bom), report_metric=None)


# --------------------------------------------------------------------------- fingerprints


def fingerprint(root: Path, name: str = "folder", image_size: int | None = None) -> dict:
    return dataset_fingerprint(name, data_dir=root, image_size=image_size)


def test_a_copied_folder_has_the_same_fingerprint_and_no_absolute_path(tmp_path):
    write_folder(tmp_path / "one" / "train", {"a": 3, "b": 3})
    write_folder(tmp_path / "one" / "test", {"a": 1, "b": 1})
    shutil.copytree(tmp_path / "one", tmp_path / "elsewhere" / "two")
    first, second = fingerprint(tmp_path / "one"), fingerprint(tmp_path / "elsewhere" / "two")
    assert fingerprint_difference(first, second) is None and first == second
    text = json.dumps(first)
    assert str(tmp_path) not in text and "elsewhere" not in text
    assert fingerprint_difference(json.loads(text), second) is None
    assert sorted(first["files"]) == sorted(
        f"{part}/{k}/{i}.png" for part, n in (("train", 3), ("test", 1)) for k in "ab" for i in range(n)
    )
    content = first["content"]
    assert content["classes"] == ["a", "b"] and content["num_classes"] == 2
    assert content["train"]["images"] == 6 and content["test"]["images"] == 2 and content["train"]["shape"] == [1, 6, 6]


def test_a_changed_added_or_removed_image_is_named(tmp_path):
    from PIL import Image

    root = tmp_path / "d"
    write_folder(root, {"a": 3, "b": 3})
    stored = fingerprint(root)
    Image.new("L", (6, 6), 200).save(root / "a" / "1.png")  # same size on disk, other pixels
    data.clear_cache()
    assert fingerprint_difference(stored, fingerprint(root)).startswith("file a/1.png differs (")
    Image.new("L", (6, 6), 1).save(root / "a" / "1.png")
    Image.new("L", (6, 6), 9).save(root / "b" / "9.png")
    data.clear_cache()
    assert fingerprint_difference(stored, fingerprint(root)) == "file b/9.png is new; training set 6 images -> 7"
    (root / "b" / "9.png").unlink()
    (root / "a" / "2.png").unlink()
    data.clear_cache()
    assert fingerprint_difference(stored, fingerprint(root)) == "file a/2.png is missing; training set 6 images -> 5"


def test_different_data_sets_differ(tmp_path):
    write_folder(tmp_path / "x", {"a": 3, "b": 3})
    write_folder(tmp_path / "y", {"a": 3, "c": 3})
    assert fingerprint_difference(fingerprint(tmp_path / "x"), fingerprint(tmp_path / "y")) is not None
    write_idx(tmp_path / "small", n_train=40)
    write_idx(tmp_path / "large", n_train=60)
    phrase = fingerprint_difference(fingerprint(tmp_path / "small", "fashion-mnist"),
                                    fingerprint(tmp_path / "large", "fashion-mnist"))  # fmt: skip
    assert phrase.startswith("2 files differ: train-images-idx3-ubyte.gz (")
    assert phrase.endswith("; training set 40 images -> 60")
    assert fingerprint_difference(fingerprint(tmp_path / "x"), fingerprint(tmp_path / "small", "fashion-mnist")) == (
        "data set folder -> fashion-mnist"
    )


def test_the_same_content_in_other_files_is_the_same_data(tmp_path):
    write_idx(tmp_path / "gz", gz=True)
    write_idx(tmp_path / "plain", gz=False)
    gz, plain = fingerprint(tmp_path / "gz", "fashion-mnist"), fingerprint(tmp_path / "plain", "fashion-mnist")
    assert gz["files"] != plain["files"] and fingerprint_difference(gz, plain) is None
    # without a file to blame, the phrase names the hash that differs
    other = json.loads(json.dumps(plain))
    other["content"]["train"]["labels_sha256"] = "0" * 64
    assert fingerprint_difference(plain, other).startswith("the training labels differ (content hash ")


def test_training_fingerprint_ignores_the_split_and_synthetic_has_none(tmp_path):
    write_idx(tmp_path)
    settings = {"dataset": "fashion-mnist", "data_dir": str(tmp_path), "image_size": 14}
    one = TrainingEvaluator(**settings, train_subset=10, val_size=10, seed=1)
    two = TrainingEvaluator(**settings, train_subset=None, val_size=20, seed=2)
    one.prepare()
    assert one.data_fingerprint() == two.data_fingerprint() == fingerprint(tmp_path, "fashion-mnist")
    assert SyntheticEvaluator().data_fingerprint() is None


def test_table_fingerprints(tmp_path):
    shipped = TableEvaluator().data_fingerprint()
    path = Path(str(resources.files("pnas") / "data" / "nb201_12epoch.csv"))
    assert list(shipped["files"]) == ["nb201_12epoch.csv"]
    assert shipped["files"]["nb201_12epoch.csv"][0] == path.stat().st_size
    assert TableEvaluator(metric="cifar100-val", report_metric=None).data_fingerprint() == shipped
    assert fingerprint_difference(json.loads(json.dumps(shipped)), shipped) is None
    assert str(path.parent) not in json.dumps(shipped) and shipped["content"]["rows"] == 15625

    mine = write_table(tmp_path / "t.csv", ["cellstr", "val"], [[BEST, 70.0]])
    stored = TableEvaluator(table=str(mine), metric="val", report_metric=None).data_fingerprint()
    (tmp_path / "moved").mkdir()
    shutil.copy(mine, tmp_path / "moved" / "t.csv")
    moved = TableEvaluator(table=str(tmp_path / "moved" / "t.csv"), metric="val", report_metric=None)
    assert fingerprint_difference(stored, moved.data_fingerprint()) is None
    write_table(mine, ["cellstr", "val"], [[BEST, 71.0]])  # same length, other value
    os.utime(mine, ns=(os.stat(mine).st_atime_ns, os.stat(mine).st_mtime_ns + 10**9))
    changed = TableEvaluator(table=str(mine), metric="val", report_metric=None).data_fingerprint()
    assert fingerprint_difference(stored, changed).startswith("file t.csv differs (content hash ")
    assert fingerprint_difference(stored, shipped) == (
        "2 files differ: nb201_12epoch.csv (new), t.csv (missing); table rows 1 -> 15,625"
    )
