"""Random cells and a synthetic accuracy with structure that a predictor must learn."""

from __future__ import annotations

import random

from pnas.space import Cell, PnasSpace
from pnas.space.pnas_cell import OPERATORS

# How good each operator is in the synthetic target (convolutions good, pools poor).
OP_QUALITY = dict(zip(OPERATORS, (0.8, 0.9, 0.7, 0.6, 0.2, 0.1, 0.0, 0.5)))


def synthetic_accuracy(cell: Cell) -> float:
    """Mean operator quality over all halves, plus a bonus for reading earlier blocks."""
    halves = [(b.input1, b.op1) for b in cell.blocks] + [(b.input2, b.op2) for b in cell.blocks]
    score = sum(OP_QUALITY[op] + (0.3 if inp >= 2 else 0.0) for inp, op in halves) / len(halves)
    return 0.5 + 0.35 * score


def random_cells(count: int, blocks: tuple[int, int], seed: int, space: PnasSpace | None = None) -> list[Cell]:
    """``count`` distinct random cells with a number of blocks in ``blocks`` (inclusive)."""
    space = space or PnasSpace(5)
    rng = random.Random(seed)
    cells: dict[Cell, None] = {}
    while len(cells) < count:
        cell = space.random_cell(rng)
        cells[Cell(cell.blocks[: rng.randint(*blocks)])] = None
    return list(cells)
