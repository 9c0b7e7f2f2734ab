"""The PNAS cell space: canonical forms, text and JSON round trips, counts, errors."""

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnas.space import (
    OPERATORS,
    PNASNET5_CELL,
    Block,
    Cell,
    PnasSpace,
    children,
    children_per_cell,
    initial_cells,
    space_size,
)
from pnas.space.pnas_cell import possible_blocks


@st.composite
def cells(draw, max_blocks=5):
    n = draw(st.integers(1, max_blocks))
    blocks = []
    for position in range(1, n + 1):
        i1, i2 = draw(st.integers(0, position)), draw(st.integers(0, position))
        o1, o2 = draw(st.sampled_from(OPERATORS)), draw(st.sampled_from(OPERATORS))
        blocks.append(Block(i1, o1, i2, o2))
    return Cell(tuple(blocks))


@given(st.integers(0, 5), st.sampled_from(OPERATORS), st.integers(0, 5), st.sampled_from(OPERATORS))
def test_swapped_halves_are_the_same_block(i1, o1, i2, o2):
    a, b = Block(i1, o1, i2, o2), Block(i2, o2, i1, o1)
    assert a == b and hash(a) == hash(b) and str(a) == str(b)


@given(cells())
def test_text_round_trip(cell):
    text = str(cell)
    assert Cell.parse(text) == cell
    assert str(Cell.parse(text)) == text
    assert Cell.parse("  " + text.replace("; ", " ;").replace("+", " + ") + " ;") == cell


@given(cells())
def test_json_round_trip(cell):
    assert Cell.from_json(json.loads(json.dumps(cell.to_json()))) == cell
    assert Cell.from_json(json.dumps(cell.to_json())) == cell


@given(cells(), st.data())
def test_swapping_halves_inside_a_cell_keeps_it_equal(cell, data):
    blocks = list(cell.blocks)
    k = data.draw(st.integers(0, len(blocks) - 1))
    b = blocks[k]
    blocks[k] = Block(b.input2, b.op2, b.input1, b.op1)
    other = Cell(tuple(blocks))
    assert other == cell and hash(other) == hash(cell)


def test_space_counts():
    assert len(initial_cells()) == 136 == len(set(initial_cells()))
    assert [children_per_cell(b) for b in range(1, 5)] == [300, 528, 820, 1176]
    assert space_size(5) == 20_773_767_168_000
    assert space_size(5, symmetric=False) == (16 * 24 * 32 * 40 * 48) ** 2
    assert space_size(1) == 136


@pytest.mark.parametrize("blocks", [1, 2, 3, 4])
def test_children_are_distinct_and_counted(blocks):
    rng = random.Random(blocks)
    parent = PnasSpace(blocks).random_cell(rng)
    kids = children(parent)
    assert len(kids) == len(set(kids)) == children_per_cell(blocks)
    assert all(k.blocks[:blocks] == parent.blocks and k.num_blocks == blocks + 1 for k in kids)


def test_possible_blocks_cover_every_unordered_pair():
    raw = {Block(i1, o1, i2, o2) for i1 in range(3) for i2 in range(3) for o1 in OPERATORS for o2 in OPERATORS}
    assert set(possible_blocks(2)) == raw and len(raw) == 300


def test_pnasnet5_cell_text():
    assert PNASNET5_CELL.num_blocks == 5
    assert str(PNASNET5_CELL).startswith("sep5x5(h2)+max3x3(h2); sep7x7(h1)+max3x3(h1)")
    assert PNASNET5_CELL.blocks[3] == Block(4, "sep3x3", 0, "max3x3")  # block 4 reads b3 (input index 4)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty cell"),
        ("sep3x3(h1)", "two halves"),
        ("sep3x3(h1)+conv9x9(h2)", "unknown operator 'conv9x9'"),
        ("sep3x3(h1)+max3x3(b1)", "block 1 reads b1, which does not exist yet"),
        ("sep3x3(h1)+max3x3(h3)", "unknown cell input 'h3'"),
        ("sep3x3 h1+max3x3(h2)", "malformed block half"),
        ("sep3x3(h1)+max3x3(h2)+identity(h1)", "two halves"),
    ],
)
def test_bad_cells_raise_value_errors_that_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Cell.parse(text)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="unknown operator"):
        Block(0, "conv", 0, "sep3x3")
    with pytest.raises(ValueError, match="integer"):
        Block("h1", "sep3x3", 0, "sep3x3")
    with pytest.raises(ValueError, match=">= 0"):
        Block(-1, "sep3x3", 0, "sep3x3")
    with pytest.raises(ValueError, match="does not exist yet"):
        Cell((Block(0, "sep3x3", 2, "sep3x3"),))
    with pytest.raises(ValueError, match=r"\[input1, op1, input2, op2\]"):
        Cell.from_json({"blocks": [[0, "sep3x3", 0]]})
    with pytest.raises(ValueError, match="more than this space"):
        PnasSpace(1).parse("sep3x3(h1)+sep3x3(h1); sep3x3(b1)+sep3x3(h1)")


@settings(max_examples=50)
@given(cells(max_blocks=4), st.integers(0, 10_000))
def test_mutation_changes_exactly_one_block_and_stays_valid(cell, seed):
    mutant = PnasSpace(5).mutate(cell, random.Random(seed))
    assert mutant != cell and mutant.num_blocks == cell.num_blocks
    assert sum(a != b for a, b in zip(mutant.blocks, cell.blocks)) == 1
    assert Cell.parse(str(mutant)) == mutant


def test_decisions_build_valid_cells():
    space = PnasSpace(3)
    assert space.decision_sizes() == [2, 2, 8, 8, 3, 3, 8, 8, 4, 4, 8, 8]
    cell = space.from_decisions([1, 0, 0, 6, 2, 0, 4, 2, 3, 1, 0, 0])
    assert str(cell) == "max3x3(h1)+sep3x3(h2); sep7x7(h1)+identity(b1); sep3x3(h2)+sep3x3(b2)"
    with pytest.raises(ValueError, match="out of range"):
        space.from_decisions([2] + [0] * 11)
