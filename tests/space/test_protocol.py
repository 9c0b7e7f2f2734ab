"""The search-space protocol's invariants, checked on both built-in spaces.

Every strategy and predictor relies on these: levels climb one at a time,
mutations stay inside the space and change the cell, decisions build cells,
and the text form reads back to the same cell.
"""

from __future__ import annotations

import csv
import random
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnas.space import NB201_OPS, Block, Cell, Nb201Cell, Nb201Space, PnasSpace, create_space
from pnas.space.base import SearchSpace

SPACES = {"pnas3": lambda: PnasSpace(blocks=3), "pnas5": lambda: PnasSpace(blocks=5), "nb201": Nb201Space}
seeds = st.integers(min_value=0, max_value=2**31 - 1)


@pytest.fixture(params=sorted(SPACES))
def space(request) -> SearchSpace:
    return SPACES[request.param]()


def random_cell_at(space: SearchSpace, level: int, rng: random.Random):
    """A cell of exactly ``level``, reached by climbing from a random initial cell."""
    cell = rng.choice(space.initial_cells())
    while space.level(cell) < level:
        cell = rng.choice(space.children(cell))
    return cell


def extends(space: SearchSpace, parent, child) -> bool:
    """The child keeps everything the parent has (PNAS: its blocks; NB201: its active edges)."""
    if isinstance(parent, Cell):
        return child.blocks[: parent.num_blocks] == parent.blocks
    return all(p == c for p, c in zip(parent.ops, child.ops) if p != "none")


def test_initial_cells_are_distinct_level_one(space):
    cells = space.initial_cells()
    assert len(cells) == len(set(cells)) == (136 if isinstance(space, PnasSpace) else 24)
    assert {space.level(c) for c in cells} == {1}


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_children_are_one_level_up_distinct_and_extend_the_parent(seed):
    rng = random.Random(seed)
    for space in (PnasSpace(blocks=3), Nb201Space()):
        parent = random_cell_at(space, rng.randrange(1, space.max_level), rng)
        kids = space.children(parent)
        assert kids, f"{parent} below the top level has no children"
        assert len(kids) == len(set(kids))
        assert {space.level(k) for k in kids} == {space.level(parent) + 1}
        assert all(extends(space, parent, k) for k in kids)


def test_children_counts():
    pnas = PnasSpace(blocks=5)
    cell = pnas.initial_cells()[0]
    counts = []
    while pnas.children(cell):
        counts.append(len(pnas.children(cell)))
        cell = pnas.children(cell)[-1]
    assert counts == [300, 528, 820, 1176]
    nb = Nb201Space()
    cell = nb.initial_cells()[0]
    counts = []
    while nb.children(cell):
        counts.append(len(nb.children(cell)))
        cell = nb.children(cell)[0]
    assert counts == [20, 16, 12, 8, 4]  # 4 ops on each edge that is still `none`


def test_cells_at_the_top_level_have_no_children(space):
    top = random_cell_at(space, space.max_level, random.Random(1))
    assert space.level(top) == space.max_level
    assert space.children(top) == []


def test_nb201_levels_partition_the_space():
    from collections import Counter

    counts = Counter(cell.level for cell in Nb201Space().all_cells())
    assert [counts[b] for b in range(7)] == [1, 24, 240, 1280, 3840, 6144, 4096]


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_mutations_stay_valid_and_differ(seed):
    rng = random.Random(seed)
    for space in (PnasSpace(blocks=3), PnasSpace(blocks=5), Nb201Space()):
        cell = space.random_cell(rng)
        child = space.mutate(cell, rng)
        assert child != cell
        assert space.parse(space.format(child)) == child  # a well-formed cell of the space
        if isinstance(cell, Cell):
            assert child.num_blocks == cell.num_blocks
            assert sum(a != b for a, b in zip(cell.blocks, child.blocks)) == 1
        else:
            assert sum(a != b for a, b in zip(cell.ops, child.ops)) == 1


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_text_form_round_trips(seed):
    rng = random.Random(seed)
    for space in (PnasSpace(blocks=5), Nb201Space()):
        cell = random_cell_at(space, rng.randrange(1, space.max_level + 1), rng)
        text = space.format(cell)
        again = space.parse(text)
        assert again == cell and hash(again) == hash(cell)
        assert space.format(again) == text


@settings(max_examples=40, deadline=None)
@given(seed=seeds)
def test_decisions_build_cells_of_the_whole_space(seed):
    rng = random.Random(seed)
    for space in (PnasSpace(blocks=2), PnasSpace(blocks=5), Nb201Space()):
        sizes = space.decision_sizes()
        assert all(isinstance(n, int) and n >= 1 for n in sizes)
        choices = [rng.randrange(n) for n in sizes]
        cell = space.from_decisions(choices)
        assert space.parse(space.format(cell)) == cell
        if isinstance(space, PnasSpace):
            assert space.level(cell) == space.max_level
        else:
            assert [NB201_OPS.index(op) for op in cell.ops] == choices


def test_decision_sizes_describe_each_space():
    assert PnasSpace(blocks=2).decision_sizes() == [2, 2, 8, 8, 3, 3, 8, 8]
    assert Nb201Space().decision_sizes() == [5] * 6


@pytest.mark.parametrize("name", sorted(SPACES))
def test_bad_decisions_are_refused(name):
    space = SPACES[name]()
    sizes = space.decision_sizes()
    with pytest.raises(ValueError, match="decision"):
        space.from_decisions([0] * (len(sizes) - 1))
    too_big = [0] * len(sizes)
    too_big[-1] = sizes[-1]
    with pytest.raises(ValueError, match="out of range"):
        space.from_decisions(too_big)
    negative = [0] * len(sizes)
    negative[0] = -1
    with pytest.raises(ValueError, match="out of range"):
        space.from_decisions(negative)


def test_every_decision_sequence_of_nb201_is_a_distinct_cell():
    space = Nb201Space()
    cells = {space.from_decisions([(i // 5**k) % 5 for k in range(6)]) for i in range(5**6)}
    assert cells == set(space.all_cells())


def test_random_cells_cover_the_space_uniformly_enough():
    space = Nb201Space()
    rng = random.Random(0)
    edges = [space.random_cell(rng).ops[0] for _ in range(5000)]
    for op in NB201_OPS:
        assert 800 < edges.count(op) < 1200


def test_encoding_has_one_block_per_level_within_the_vocabulary(space):
    rng = random.Random(3)
    spec = space.token_spec
    for _ in range(50):
        cell = random_cell_at(space, rng.randrange(1, space.max_level + 1), rng)
        encoded = space.encode(cell)
        assert len(encoded) == space.level(cell)
        for inputs, ops in encoded:
            assert len(inputs) == spec.inputs_per_block and len(ops) == spec.ops_per_block
            assert all(0 <= i < spec.input_vocab for i in inputs)
            assert all(0 <= o < spec.op_vocab for o in ops)


def test_pnas_children_append_one_block_at_the_end_of_the_encoding():
    space = PnasSpace(blocks=3)
    assert space.children_append_one_block
    parent = random_cell_at(space, 2, random.Random(5))
    for child in space.children(parent)[:50]:
        assert space.encode(child)[:-1] == space.encode(parent)


def test_create_space_by_name():
    assert isinstance(create_space("nb201"), Nb201Space)
    assert create_space("pnas", blocks=3).max_level == 3
    with pytest.raises(ValueError, match="nb201"):
        create_space("nasbench101")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|",  # two node groups
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|none~1|nor_conv_1x1~2|",  # node 2 lacks an edge
        "|conv_5x5~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",  # unknown op
        "|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",  # wrong source
    ],
)
def test_malformed_nb201_strings_name_the_problem(text):
    with pytest.raises(ValueError):
        Nb201Space().parse(text)


def test_pnas_space_refuses_cells_above_its_level():
    space = PnasSpace(blocks=1)
    two = Cell((Block(0, "sep3x3", 1, "identity"), Block(2, "max3x3", 0, "sep5x5")))
    with pytest.raises(ValueError, match="more than"):
        space.parse(str(two))


# --- the NAS-Bench-201 table's cell strings --------------------------------------


def shipped_rows() -> list[dict[str, str]]:
    with (resources.files("pnas") / "data" / "nb201_12epoch.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_table_cellstr_maps_to_a_distinct_cell_and_back():
    rows = shipped_rows()
    cells = [Nb201Cell.parse(row["cellstr"]) for row in rows]
    assert len(rows) == 15625
    assert set(cells) == set(Nb201Space().all_cells())
    assert all(str(cell) == row["cellstr"] for cell, row in zip(cells, rows))  # the table spells cells canonically


def test_table_cellstr_edges_follow_the_benchmark_order():
    # Edge order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 (NAS-Bench-201's string format).
    cell = Nb201Cell.parse("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|none~1|skip_connect~2|")
    assert cell.ops == ("avg_pool_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_3x3", "none", "skip_connect")
    assert cell.level == 5
    assert Nb201Space().encode(cell)[3] == ((0, 3), (NB201_OPS.index("nor_conv_3x3"),))
