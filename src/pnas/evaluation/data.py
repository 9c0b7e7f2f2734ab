"""Image data sets for child training, under one import path: the readers and the splits.

The readers (:mod:`pnas.evaluation.readers`: IDX, CIFAR, image folders) turn files
into a checked :class:`RawDataset`; :mod:`pnas.evaluation.splits` holds out the
fixed validation split, resizes, normalises and caches per process, and computes
the fingerprint a study stores. Names here stay where plugins and scripts import
them from (``pnas.evaluation.data.DATASETS`` in particular).
"""

from pnas.evaluation.readers import (
    DATA_DIR_ENV,
    DATASETS,
    DEBIAN_FASHION_MNIST,
    FASHION_MNIST_CLASSES,
    GRAYSCALE_MODES,
    IMAGE_SUFFIXES,
    MAX_IMAGE_PIXELS,
    DatasetError,
    DatasetLoader,
    DatasetNotFound,
    DatasetRegistry,
    DatasetTraits,
    InvalidDataset,
    RawDataset,
    RefusedPickle,
    RestrictedUnpickler,
    load_cifar10,
    load_cifar100,
    load_fashion_mnist,
    load_folder,
    read_idx,
    read_image_folder,
    restricted_loads,
)
from pnas.evaluation.splits import (
    DEFAULT_VAL_SIZE,
    DataSplits,
    clear_cache,
    dataset_classes,
    dataset_fingerprint,
    load_dataset,
    load_test,
    split_indices,
    stratified_order,
)

__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "DEFAULT_VAL_SIZE",
    "FASHION_MNIST_CLASSES",
    "GRAYSCALE_MODES",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "DataSplits",
    "DatasetError",
    "DatasetLoader",
    "DatasetNotFound",
    "DatasetRegistry",
    "DatasetTraits",
    "InvalidDataset",
    "RawDataset",
    "RefusedPickle",
    "RestrictedUnpickler",
    "clear_cache",
    "dataset_classes",
    "dataset_fingerprint",
    "load_cifar10",
    "load_cifar100",
    "load_fashion_mnist",
    "load_folder",
    "load_dataset",
    "load_test",
    "read_idx",
    "read_image_folder",
    "restricted_loads",
    "split_indices",
    "stratified_order",
]
