"""Path encodings: hand-made cells with their paths spelled out, sizes, invariances, and a
property test against a plain recursive walk of the cell."""

import random
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnas.space import NB201_OPS, OPERATORS, PNASNET5_CELL, Block, Cell, Nb201Cell, Nb201Space, PnasSpace
from pnas.space.nb201 import NB201_EDGES
from pnas.space.paths import (
    path_encoding,
    path_encoding_size,
    path_encodings,
    path_names,
)

NONE6 = ("none",) * 6


def nb201(**edges: str) -> Nb201Cell:
    """A cell with every edge ``none`` except those named ``e<src><dst>``."""
    ops = list(NONE6)
    for key, op in edges.items():
        ops[NB201_EDGES.index((int(key[1]), int(key[2])))] = op
    return Nb201Cell(tuple(ops))


def flagged(space, cell, **options) -> set[str]:
    names = path_names(space, **options)
    encoding = path_encoding(space, cell, **options)
    assert set(np.unique(encoding)) <= {0.0, 1.0}
    return {names[i] for i in np.flatnonzero(encoding)}


# --- sizes and names ------------------------------------------------------------------------------


def test_sizes():
    assert path_encoding_size("nb201") == 4 + 16 + 64 == 84
    assert path_encoding_size("pnas") == 2 * (8 + 64 + 512) == 1168
    assert path_encoding_size("pnas", max_length=1) == 16
    assert path_encoding_size("pnas", max_length=4) == 2 * (8 + 64 + 512 + 4096)
    assert path_encoding_size(Nb201Space()) == 84
    assert path_encoding_size(PnasSpace(blocks=2)) == 1168  # independent of the block count
    for space, cell in (("nb201", nb201(e03="skip_connect")), ("pnas", PNASNET5_CELL)):
        encoding = path_encoding(space, cell)
        assert encoding.dtype == np.float32 and encoding.shape == (path_encoding_size(space),)
        assert len(path_names(space)) == path_encoding_size(space) == len(set(path_names(space)))


def test_names_order():
    names = path_names("nb201")
    assert names[:4] == ["skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    assert names[4] == "skip_connect>skip_connect" and names[5] == "skip_connect>nor_conv_1x1"
    assert names[-1] == "avg_pool_3x3>avg_pool_3x3>avg_pool_3x3"
    names = path_names("pnas")
    assert names[:8] == [f"h1:{op}" for op in OPERATORS] and names[8:16] == [f"h2:{op}" for op in OPERATORS]
    assert names[16] == "h1:sep3x3>sep3x3" and names[-1] == "h2:dil3x3>dil3x3>dil3x3"


def test_unknown_space_and_bad_arguments():
    with pytest.raises(ValueError, match="'darts'"):
        path_encoding("darts", PNASNET5_CELL)
    with pytest.raises(ValueError, match="Nb201Cell"):
        path_encoding("nb201", PNASNET5_CELL)
    with pytest.raises(ValueError, match="pnas.space.Cell"):
        path_encoding("pnas", nb201())
    with pytest.raises(ValueError, match="max_length"):
        path_names("pnas", max_length=0)
    with pytest.raises(ValueError, match="at most 3"):
        path_names("nb201", max_length=4)


# --- NAS-Bench-201, by hand -------------------------------------------------------------------------


def test_nb201_single_edge_to_the_output():
    assert flagged("nb201", nb201(e03="skip_connect")) == {"skip_connect"}


def test_nb201_all_none_has_no_paths():
    assert flagged("nb201", nb201()) == set()


def test_nb201_node_without_input_contributes_nothing():
    # Node 1 has no input (edge 0->1 is none), so 1->3 and 1->2 carry nothing from the input.
    cell = nb201(e13="nor_conv_3x3", e12="avg_pool_3x3", e02="nor_conv_1x1", e23="skip_connect")
    assert flagged("nb201", cell) == {"nor_conv_1x1>skip_connect"}


def test_nb201_every_route():
    cell = Nb201Cell(("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_3x3"))
    assert flagged("nb201", cell) == {
        "nor_conv_1x1",  # 0->3
        "nor_conv_3x3>skip_connect",  # 0->1->3
        "skip_connect>nor_conv_3x3",  # 0->2->3
        "nor_conv_3x3>avg_pool_3x3>nor_conv_3x3",  # 0->1->2->3
    }
    assert flagged("nb201", cell, max_length=2) == {
        "nor_conv_1x1",
        "nor_conv_3x3>skip_connect",
        "skip_connect>nor_conv_3x3",
    }


def test_nb201_routes_with_the_same_operators_share_one_flag():
    cell = nb201(e01="nor_conv_3x3", e13="skip_connect", e02="nor_conv_3x3", e23="skip_connect")
    assert flagged("nb201", cell) == {"nor_conv_3x3>skip_connect"}
    assert path_encoding("nb201", cell).sum() == 1.0


# --- PNAS cells, by hand ------------------------------------------------------------------------------


def test_pnas_one_block():
    assert flagged("pnas", Cell.parse("sep3x3(h1)+max3x3(h2)")) == {"h1:sep3x3", "h2:max3x3"}
    assert flagged("pnas", Cell.parse("sep3x3(h1)+sep3x3(h1)")) == {"h1:sep3x3"}


def test_pnas_block_reading_an_earlier_block():
    cell = Cell.parse("sep3x3(h1)+max3x3(h2); identity(b1)+avg3x3(h1)")
    assert flagged("pnas", cell) == {
        "h1:sep3x3",
        "h2:max3x3",  # ending at block 1 (every block is an output)
        "h1:sep3x3>identity",
        "h2:max3x3>identity",  # through block 1 into block 2
        "h1:avg3x3",
    }


def test_pnas_truncation():
    cell = Cell.parse("sep3x3(h1)+sep3x3(h1); max3x3(b1)+max3x3(b1); avg3x3(b2)+avg3x3(b2); identity(b3)+identity(b3)")
    assert flagged("pnas", cell) == {"h1:sep3x3", "h1:sep3x3>max3x3", "h1:sep3x3>max3x3>avg3x3"}
    assert flagged("pnas", cell, max_length=4) == {
        "h1:sep3x3",
        "h1:sep3x3>max3x3",
        "h1:sep3x3>max3x3>avg3x3",
        "h1:sep3x3>max3x3>avg3x3>identity",
    }
    assert flagged("pnas", cell, max_length=1) == {"h1:sep3x3"}


def test_pnasnet5_cell():
    assert flagged("pnas", PNASNET5_CELL) == {
        "h2:sep5x5",
        "h2:max3x3",
        "h1:sep7x7",
        "h1:max3x3",
        "h1:sep5x5",
        "h1:sep3x3",
        "h1:sep5x5>sep3x3",  # block 4 reads block 3 through sep3x3
        "h1:sep3x3>sep3x3",
        "h2:sep3x3",
        "h1:identity",
    }


# --- invariances -------------------------------------------------------------------------------------


def test_equal_cells_equal_encodings_and_half_order_does_not_matter():
    a = Cell.parse("sep3x3(h1)+max3x3(h2); identity(b1)+avg3x3(h1)")
    b = Cell.parse("max3x3(h2)+sep3x3(h1); avg3x3(h1)+identity(b1)")
    assert a == b
    np.testing.assert_array_equal(path_encoding("pnas", a), path_encoding("pnas", b))
    c = Cell((Block(0, "sep3x3", 1, "max3x3"), Block(2, "identity", 0, "avg3x3")))
    np.testing.assert_array_equal(path_encoding("pnas", a), path_encoding(PnasSpace(), c))
    x = Nb201Cell.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
    np.testing.assert_array_equal(path_encoding("nb201", x), path_encoding(Nb201Space(), Nb201Cell(x.ops)))


def test_batch_equals_single():
    rng = random.Random(0)
    for space in (Nb201Space(), PnasSpace(blocks=5)):
        cells = [space.random_cell(rng) for _ in range(50)]
        batch = path_encodings(space, cells)
        assert batch.shape == (50, path_encoding_size(space)) and batch.dtype == np.float32
        for row, cell in zip(batch, cells):
            np.testing.assert_array_equal(row, path_encoding(space.name, cell))
    assert path_encodings("pnas", []).shape == (0, 1168)


def test_nb201_whole_space_is_fast():
    cells = Nb201Space().all_cells()
    start = time.perf_counter()
    encodings = path_encodings("nb201", cells)
    assert time.perf_counter() - start < 1.0
    assert encodings.shape == (15625, 84)
    assert encodings.sum(axis=1).max() == 4  # at most one flag per route
    assert (encodings.sum(axis=0) > 0).all()  # every path occurs in some cell


# --- property: the flags are exactly the paths a plain walk finds ------------------------------------


def walk_nb201(cell: Nb201Cell) -> set[str]:
    paths: set[str] = set()

    def walk(node: int, ops: tuple[str, ...]) -> None:
        if node == 3:
            paths.add(">".join(ops))
            return
        for (src, dst), op in zip(NB201_EDGES, cell.ops):
            if src == node and op != "none":
                walk(dst, ops + (op,))

    walk(0, ())
    return paths


def walk_pnas(cell: Cell) -> set[str]:
    """Walk backwards from every block (each is an output) to a cell input."""
    paths: set[str] = set()

    def walk(state: int, ops: tuple[str, ...]) -> None:
        if state < 2:
            paths.add(("h1" if state == 0 else "h2") + ":" + ">".join(reversed(ops)))
            return
        block = cell.blocks[state - 2]
        for inp, op in ((block.input1, block.op1), (block.input2, block.op2)):
            walk(inp, ops + (op,))

    for end in range(cell.num_blocks):
        walk(end + 2, ())
    return paths


@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.sampled_from(NB201_OPS)] * 6))
def test_nb201_flags_match_a_walk(ops):
    cell = Nb201Cell(ops)
    assert flagged("nb201", cell) == walk_nb201(cell)


@st.composite
def pnas_cells(draw, max_blocks=5):
    blocks = []
    for position in range(1, draw(st.integers(1, max_blocks)) + 1):
        i1, i2 = draw(st.integers(0, position)), draw(st.integers(0, position))
        o1, o2 = draw(st.sampled_from(OPERATORS)), draw(st.sampled_from(OPERATORS))
        blocks.append(Block(i1, o1, i2, o2))
    return Cell(tuple(blocks))


@settings(max_examples=200, deadline=None)
@given(pnas_cells(), st.integers(1, 5))
def test_pnas_flags_match_a_walk(cell, max_length):
    expected = {p for p in walk_pnas(cell) if p.count(">") < max_length}
    assert flagged("pnas", cell, max_length=max_length) == expected
