"""The analytic cost model: equal to counting the built network, for any cell and skeleton."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from pnas.nets import (
    build_cifar_network,
    build_imagenet_network,
    count_mult_adds,
    count_params,
    network_config,
)
from pnas.nets.costs import CellCostModel, network_costs
from pnas.nets.registry import NetworkConfig, build_network
from pnas.space import OPERATORS, PNASNET5_CELL, Block, Cell, children, create_space, initial_cells


@st.composite
def cells(draw, max_blocks=5):
    n = draw(st.integers(1, max_blocks))
    blocks = []
    for position in range(1, n + 1):
        i1, i2 = draw(st.integers(0, position)), draw(st.integers(0, position))
        o1, o2 = draw(st.sampled_from(OPERATORS)), draw(st.sampled_from(OPERATORS))
        blocks.append(Block(i1, o1, i2, o2))
    return Cell(tuple(blocks))


def counted(cell: Cell, **options) -> tuple[int, int]:
    """Build the network on the meta device and count it."""
    builder = build_imagenet_network if options.pop("network") == "imagenet" else build_cifar_network
    with torch.device("meta"):
        net = builder(cell, channels_last=False, **options)
    size = options["image_size"]
    return count_params(net), count_mult_adds(net, (options["in_channels"], size, size))


@pytest.mark.parametrize("name", ["pnasnet5-cifar", "pnasnet5-mobile", "pnasnet5-large"])
def test_named_networks(name):
    config = network_config(name)
    with torch.device("meta"):
        net = build_network(config)
    expected = count_params(net), count_mult_adds(net, config.input_shape)
    assert network_costs(config) == expected
    assert tuple(CellCostModel.from_config(config).costs([config.cell])[0]) == expected


def test_published_sizes_of_pnasnet5():
    # Also pinned by test_counts.py against the built networks.
    assert network_costs(network_config("pnasnet5-large"))[0] == 86_057_668
    assert network_costs(network_config("pnasnet5-mobile"))[0] == 5_064_487
    assert network_costs(network_config("pnasnet5-cifar"))[0] == 3_189_082


# Cases the random draws reach only by luck: cells that leave cells of the chain unread (h2 only),
# with the aux cell kept live; identity and pools free on the raw stem output (stem multiplier 1);
# conv1x7_7x1 under stride 2 on odd and 1 px maps; a 3 px ImageNet input (1 px after the stem).
SPECIAL = [
    ("sep3x3(h2)+max3x3(h2)", dict(network="cifar", cells_per_stack=2, filters=4, aux_head=True)),
    ("identity(h2)+avg3x3(h2); conv1x7_7x1(b1)+max3x3(h2)", dict(network="cifar", stem_multiplier=1, filters=4)),
    ("conv1x7_7x1(h1)+conv1x7_7x1(h2)", dict(network="cifar", image_size=7, filters=3)),
    ("conv1x7_7x1(h1)+dil3x3(h2)", dict(network="imagenet", image_size=3, filters=8, aux_head=True)),
    ("identity(h2)+identity(h2); sep7x7(b1)+identity(h2)", dict(network="imagenet", image_size=9, filters=9)),
    ("max3x3(h1)+avg3x3(h1); identity(b1)+identity(h1)", dict(network="cifar", concat="unused", num_classes=0)),
]


@pytest.mark.parametrize("text,overrides", SPECIAL)
def test_special_cases(text, overrides):
    options = dict(
        network="cifar",
        in_channels=3,
        image_size=11,
        num_classes=10,
        cells_per_stack=1,
        filters=8,
        stem_multiplier=3,
        concat="all",
        aux_head=False,
    )
    options.update(overrides)
    cell = Cell.parse(text)
    model = CellCostModel(**options)
    assert model(cell) == counted(cell, **options)
    assert model.costs([cell]).tolist() == [list(model(cell))]


@settings(max_examples=60, deadline=None)
@given(
    cell=cells(),
    network=st.sampled_from(["cifar", "imagenet"]),
    cells_per_stack=st.integers(1, 2),
    filters=st.integers(1, 12),
    image_size=st.integers(1, 40),
    in_channels=st.integers(1, 4),
    num_classes=st.integers(0, 12),
    stem_multiplier=st.sampled_from([0.5, 1, 1.5, 2, 3]),
    concat=st.sampled_from(["all", "unused"]),
    aux_head=st.booleans(),
)
@example(  # 5 blocks that read only h2 and earlier blocks, on the smallest ImageNet input
    cell=Cell.parse(
        "sep5x5(h2)+max3x3(h2); sep7x7(b1)+identity(h2); dil3x3(b2)+avg3x3(b1); identity(b3)+sep3x3(b3); "
        "conv1x7_7x1(h2)+max3x3(b4)"
    ),
    network="imagenet",
    cells_per_stack=2,
    filters=8,
    image_size=3,
    in_channels=1,
    num_classes=0,
    stem_multiplier=1,
    concat="unused",
    aux_head=True,
)
def test_equal_to_counting_the_built_network(
    cell, network, cells_per_stack, filters, image_size, in_channels, num_classes, stem_multiplier, concat, aux_head
):
    if network == "imagenet":
        filters += 7  # the ImageNet layout needs F >= 8 (stem cells at F/4 and F/2)
        image_size = max(image_size, 3)  # its VALID 3x3 stem conv
    assume(int(stem_multiplier * filters) >= 1)
    options = dict(
        network=network,
        in_channels=in_channels,
        image_size=image_size,
        num_classes=num_classes,
        cells_per_stack=cells_per_stack,
        filters=filters,
        stem_multiplier=stem_multiplier,
        concat=concat,
        aux_head=aux_head,
    )
    model = CellCostModel(**options)
    expected = counted(cell, **options)
    assert model(cell) == expected
    assert tuple(model.costs([cell])[0]) == expected
    assert network_costs(NetworkConfig(cell=cell, **options)) == expected


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(concat="unused", aux_head=True),
        dict(network="imagenet", image_size=15, filters=16, concat="unused", num_classes=0),
    ],
)
def test_costs_of_many_cells_equal_each_cell_alone(options):
    model = CellCostModel(**options)
    rng = random.Random(0)
    space = create_space("pnas", max_level=5)
    many = []
    for level in range(1, 5):
        parent = space.from_decisions([rng.randrange(n) for n in space.decision_sizes()])
        parent = Cell(parent.blocks[:level])
        many += rng.sample(children(parent), 150)
    # Equal cells made of fresh block objects, and cells of every size, interleaved.
    many += [Cell.parse(str(c)) for c in many[::7]]
    rng.shuffle(many)
    expected = [list(model(c)) for c in many]
    got = model.costs(many)
    assert got.dtype == np.int64 and got.shape == (len(many), 2)
    assert got.tolist() == expected
    assert model.costs(many).tolist() == expected  # again, from the caches
    assert model.costs([]).shape == (0, 2)


def test_costs_grow_with_the_cell():
    model = CellCostModel()
    small, large = Cell.parse("identity(h1)+identity(h1)"), Cell.parse("sep7x7(h1)+sep7x7(h2)")
    (p_small, m_small), (p_large, m_large) = model.costs([small, large]).tolist()
    assert p_small < p_large and m_small < m_large


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(network="resnet"), "network layout"),
        (dict(filters=0), "filters"),
        (dict(filters=2.5), "filters"),
        (dict(cells_per_stack=0), "cells_per_stack"),
        (dict(in_channels=0), "in_channels"),
        (dict(num_classes=-1), "num_classes"),
        (dict(concat="some"), "concat"),
        (dict(image_size=0), "image_size"),
        (dict(network="imagenet", image_size=2), "image_size"),
        (dict(network="imagenet", filters=4), "filters >= 8"),
        (dict(stem_multiplier=0), "stem_multiplier"),
        (dict(stem_multiplier=float("nan")), "stem_multiplier"),
        (dict(stem_multiplier="3"), "stem_multiplier"),
        (dict(stem_multiplier=0.1, filters=4), "stem channel"),
        (dict(aux_head="yes"), "aux_head"),
    ],
)
def test_bad_arguments_are_clear_errors(options, message):
    with pytest.raises(ValueError, match=message):
        CellCostModel(**options)


def test_bad_cells_are_clear_errors():
    model = CellCostModel()
    with pytest.raises(ValueError, match="Cell"):
        model("sep3x3(h1)+sep3x3(h1)")
    with pytest.raises(ValueError, match="Cell"):
        model.costs([PNASNET5_CELL, "sep3x3(h1)+sep3x3(h1)"])
    with pytest.raises(ValueError, match="NetworkConfig"):
        CellCostModel.from_config({"network": "cifar"})


def test_the_identity_cache_starting_over_changes_nothing():
    model = CellCostModel(concat="unused")
    model.id_cache_limit = 5
    many = children(Cell.parse("sep3x3(h1)+identity(h2); max3x3(b1)+dil3x3(h1)"))[:200]
    many += [Cell.parse(str(c)) for c in many[:50]]
    assert model.costs(many).tolist() == [list(model(c)) for c in many]


def test_cells_longer_than_the_bit_masks():
    rng = random.Random(3)
    blocks = [
        Block(rng.randrange(b + 1), rng.choice(OPERATORS), rng.randrange(b + 1), rng.choice(OPERATORS))
        for b in range(1, 71)
    ]
    long_cell = Cell(tuple(blocks))
    for concat in ("all", "unused"):
        model = CellCostModel(concat=concat, filters=4, cells_per_stack=1)
        assert model.costs([PNASNET5_CELL, long_cell]).tolist() == [list(model(PNASNET5_CELL)), list(model(long_cell))]


def test_int64_overflow_is_refused_but_single_cells_stay_exact():
    model = CellCostModel(filters=10**9, cells_per_stack=1)
    params, mult_adds = model(PNASNET5_CELL)
    assert params > 2**63 and isinstance(mult_adds, int)
    with pytest.raises(OverflowError, match="int64"):
        model.costs([PNASNET5_CELL])


@pytest.mark.parametrize("concat", ["all", "unused"])
@pytest.mark.parametrize("network", ["cifar", "imagenet"])
def test_bound_is_the_largest_cost_of_the_space(concat, network):
    model = CellCostModel(network=network, concat=concat, filters=8, cells_per_stack=1, image_size=17, aux_head=True)
    ones = initial_cells()
    twos = [child for cell in ones for child in children(cell)]
    assert model.bound(1) == tuple(model.costs(ones).max(axis=0).tolist())
    assert model.bound(2) == tuple(model.costs(ones + twos).max(axis=0).tolist())
    rng = random.Random(1)
    sample = [child for cell in rng.sample(twos, 40) for child in children(cell)]
    params, mult_adds = model.costs(sample).max(axis=0).tolist()
    top_params, top_mult_adds = model.bound(3)
    assert params <= top_params and mult_adds <= top_mult_adds
    assert model.bound(3) < model.bound(4)
    with pytest.raises(ValueError, match="max_level"):
        model.bound(0)
