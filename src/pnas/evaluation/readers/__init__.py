"""Data set readers: files in, a checked :class:`RawDataset` out, one module per format.

Named data sets (:data:`DATASETS`; a user may register their own loader, with its traits):

``fashion-mnist`` (:mod:`.idx`)
    IDX files, gzipped or not, looked for in ``data_dir`` or, when none is given,
    ``$PNAS_DATA_DIR`` then ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``).
``cifar10`` / ``cifar100`` (:mod:`.cifar`)
    The python-version archive (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``)
    or its extracted folder, at ``data_dir`` (or ``$PNAS_DATA_DIR``). Its pickled
    batches are read by a restricted unpickler that admits arrays and plain data only.
``folder`` (:mod:`.folder`)
    A folder of images with one subfolder per class at ``data_dir`` (optionally
    ``train/`` and ``test/`` folders, each laid out that way).

A ``data_dir`` that is given is the only place looked in (and its subfolder named
after the data set): it is used or refused, never replaced by a default place.

Everything is checked while decoding, before any child trains: every file that fails
to read is named (:class:`InvalidDataset`, a ValueError), a data set needs at least
two classes, each with training images, and every label must be in range.
Benchmark tables (accuracies of every cell, not images) are read by :mod:`pnas.evaluation.table`.
"""

from pnas.evaluation.readers.base import (
    DATA_DIR_ENV,
    DATASETS,
    DatasetError,
    DatasetLoader,
    DatasetNotFound,
    DatasetRegistry,
    DatasetTraits,
    InvalidDataset,
    RawDataset,
)
from pnas.evaluation.readers.cifar import (
    RefusedPickle,
    RestrictedUnpickler,
    load_cifar10,
    load_cifar100,
    restricted_loads,
)
from pnas.evaluation.readers.folder import (
    GRAYSCALE_MODES,
    IMAGE_SUFFIXES,
    MAX_IMAGE_PIXELS,
    load_folder,
    read_image_folder,
)
from pnas.evaluation.readers.idx import DEBIAN_FASHION_MNIST, FASHION_MNIST_CLASSES, load_fashion_mnist, read_idx

__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "FASHION_MNIST_CLASSES",
    "GRAYSCALE_MODES",
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "DatasetError",
    "DatasetLoader",
    "DatasetNotFound",
    "DatasetRegistry",
    "DatasetTraits",
    "InvalidDataset",
    "RawDataset",
    "RefusedPickle",
    "RestrictedUnpickler",
    "load_cifar10",
    "load_cifar100",
    "load_fashion_mnist",
    "load_folder",
    "read_idx",
    "read_image_folder",
    "restricted_loads",
]
