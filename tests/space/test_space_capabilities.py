"""What each built-in space declares it can do, and the one line a space that lacks a capability gives."""

import random

import numpy as np
import pytest
import torch
from matplotlib.text import Text

from pnas.capability import MissingCapability
from pnas.config import ConfigError
from pnas.space import SPACES, Nb201Cell, Nb201Space, PnasSpace, SearchSpace, create_space, space_from_config

NB201_CELL = Nb201Cell(("nor_conv_3x3", "none", "skip_connect", "none", "none", "avg_pool_3x3"))

pytestmark = pytest.mark.usefixtures("scratch_registries")


def test_the_built_in_spaces_declare_their_capabilities():
    nb201, pnas = create_space("nb201"), create_space("pnas", max_level=2)
    assert (nb201.default_evaluator, pnas.default_evaluator) == ("table", "train")
    assert (nb201.benchmark_table, pnas.benchmark_table) == ("nb201_12epoch.csv", None)
    assert (nb201.title, pnas.title) == ("NAS-Bench-201", "PNAS")
    assert (nb201.level_noun, pnas.level_noun) == ("level", "block")
    assert (nb201.draw_options, pnas.draw_options) == ((), ("concat",))
    assert len(nb201.all_cells()) == 15_625 and pnas.all_cells() is None
    cifar10, cifar100 = (nb201.benchmark_cost_model(m).costs([NB201_CELL]) for m in ("cifar10-val", "cifar100-val"))
    assert cifar100[0, 0] > cifar10[0, 0] and pnas.benchmark_cost_model("cifar10-val") is None  # 100 classes
    assert (nb201.children_append_one_block, pnas.children_append_one_block) == (False, True)


@pytest.mark.parametrize("space", [Nb201Space(), PnasSpace(blocks=2)], ids=["nb201", "pnas"])
def test_paths_proxy_network_drawing_and_appended_blocks(space):
    cells = [space.random_cell(random.Random(seed)) for seed in range(3)]
    flags = space.path_encodings(cells)
    assert flags.shape == (3, len(space.path_names())) and flags.dtype == np.float32
    network = space.proxy_network(cells[0], in_channels=1, num_classes=4)
    assert tuple(network(torch.zeros(2, 1, 16, 16)).shape) == (2, 4)
    figure = space.draw(cells[0], title="a cell")
    assert "a cell" in [text.get_text() for text in figure.findobj(Text)]
    parent = space.initial_cells()[0]
    assert space.appended_blocks(parent) == SearchSpace.appended_blocks(space, parent)


class Bare(Nb201Space):
    """A space that declares none of the optional capabilities (it undoes its parent's)."""

    path_names = SearchSpace.path_names
    path_encodings = SearchSpace.path_encodings
    proxy_network = SearchSpace.proxy_network
    draw = SearchSpace.draw


def test_a_missing_capability_is_one_line_naming_it():
    SPACES.register("bare-test", Bare)
    space = create_space("bare-test")
    for call, capability in (
        (lambda: space.path_encodings([NB201_CELL]), "path encoding"),
        (lambda: space.proxy_network(NB201_CELL, in_channels=3, num_classes=10), "proxy network"),
        (lambda: space.draw(NB201_CELL), "drawing"),
    ):
        with pytest.raises(MissingCapability) as info:
            call()
        assert isinstance(info.value, ConfigError)
        assert str(info.value).startswith(f"the bare-test space has no {capability}")
        assert "\n" not in str(info.value)


def test_a_grown_space_keeps_its_registered_name():
    class Grown(PnasSpace):
        """The PNAS space under another name."""

    SPACES.register("grown-test", Grown, options=SPACES.component("pnas").options)
    space = create_space("grown-test", max_level=2).with_max_level(3)
    assert space.name == "grown-test" and type(space) is Grown and space.max_level == 3
    assert space_from_config({"name": "grown-test", "max_level": 4}).max_level == 4
    assert space_from_config({"name": "nb201", "max_level": 6}).config() == {"name": "nb201"}  # an old record
