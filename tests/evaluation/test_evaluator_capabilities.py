"""What each built-in evaluator and data set declares, and a plugin's defaults."""

import numpy as np
import pytest

from pnas.capability import MissingCapability
from pnas.evaluation.base import EVALUATORS, Evaluator
from pnas.evaluation.data import DATASETS, DatasetTraits, RawDataset
from pnas.evaluation.table import TableEvaluator
from pnas.space import SPACES, Nb201Space, SearchSpace
from pnas.training.config import TrainConfig

pytestmark = pytest.mark.usefixtures("scratch_registries")


def test_only_training_needs_worker_processes():
    needs = {
        c.name: c.factory.needs_workers for c in EVALUATORS.components() if c.name in ("synthetic", "table", "train")
    }
    assert needs == {"synthetic": False, "table": False, "train": True}
    assert Evaluator.needs_workers is False  # a plugin's evaluator runs in-process unless it says otherwise


def test_the_built_in_data_sets_declare_flip_channels_and_sizing():
    assert DATASETS.traits("fashion-mnist") == DatasetTraits(flip=True, channels=1)
    assert DATASETS.traits("cifar10") == DATASETS.traits("cifar100") == DatasetTraits(flip=True, channels=3)
    assert DATASETS.traits("folder") == DatasetTraits(flip=True, channels=None, sized=True)
    assert TrainConfig(dataset="cifar10").flips() and not TrainConfig(dataset="cifar10", flip=False).flips()
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        DATASETS.traits("nope")


def tiny(data_dir=None) -> RawDataset:
    """Two classes of 2x2 grey images."""
    return RawDataset(np.zeros((4, 1, 2, 2), np.uint8), np.array([0, 1, 0, 1]), 2)


def test_a_data_set_registered_without_traits_is_not_flipped_and_one_with_them_is():
    DATASETS.register("digits-test", tiny)
    DATASETS.register("photos-test", tiny, flip=True, channels=3)
    assert DATASETS.traits("digits-test") == DatasetTraits() and not TrainConfig(dataset="digits-test").flips()
    assert TrainConfig(dataset="photos-test").flips()


def test_the_table_reads_the_space_s_own_table_or_says_it_has_none():
    class Copy(Nb201Space):
        """NAS-Bench-201 under another name: its table comes with it."""

    class Tableless(Nb201Space):
        """A space with no benchmark table of its own."""

        benchmark_table = None
        benchmark_cost_model = SearchSpace.benchmark_cost_model

    SPACES.register("copy-table-test", Copy)
    SPACES.register("tableless-test", Tableless)
    copy = TableEvaluator(space="copy-table-test")
    assert len(copy.table.rows) == 15_625 and copy.cost_model() is not None
    with pytest.raises(MissingCapability, match="the tableless-test space has no benchmark table: give .* --table"):
        TableEvaluator(space="tableless-test")
