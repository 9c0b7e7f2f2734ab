"""The PNAS cell space (Liu et al., ECCV 2018, section 3.1): genotypes only, no torch.

Input numbering, used everywhere in the project:

====== ============================ ==========
index  meaning                      text form
====== ============================ ==========
0      H(c-1), the previous cell    ``h1``
1      H(c-2), the cell before it   ``h2``
k >= 2 output of block k-1          ``b{k-1}``
====== ============================ ==========

So block b (1-based) may read inputs ``0 .. b``: ``b + 1`` choices (docs/paper.md, section 1).

A block is an unordered pair of halves ``(input, op)`` combined by addition, so
the canonical form sorts its two halves by ``(input, operator index)``. A cell is
the ordered tuple of its blocks (block order matters: later blocks may read
earlier ones).

Text form: blocks separated by ``;``, each ``op(input)+op(input)``, e.g. the
PNASNet-5 cell::

    sep5x5(h2)+max3x3(h2); sep7x7(h1)+max3x3(h1); sep3x3(h1)+sep5x5(h1);
    max3x3(h1)+sep3x3(b3); identity(h1)+sep3x3(h2)
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from pnas.space.base import EncodedBlock, SearchSpace, TokenSpec

if TYPE_CHECKING:
    import numpy as np

OPERATORS: tuple[str, ...] = (
    "sep3x3",  # 3x3 depthwise-separable convolution (two stacked, as in the reference code)
    "sep5x5",  # 5x5 depthwise-separable convolution
    "sep7x7",  # 7x7 depthwise-separable convolution
    "conv1x7_7x1",  # 1x7 then 7x1 convolution
    "identity",
    "avg3x3",  # 3x3 average pooling
    "max3x3",  # 3x3 max pooling
    "dil3x3",  # 3x3 dilated convolution (dilation 2)
)
"""The paper's 8 operators. Their order is stable: it is the token id of each."""

OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(OPERATORS)}


def input_name(index: int) -> str:
    if index == 0:
        return "h1"
    if index == 1:
        return "h2"
    return f"b{index - 1}"


def parse_input(text: str) -> int:
    text = text.strip()
    if text == "h1":
        return 0
    if text == "h2":
        return 1
    match = re.fullmatch(r"b([1-9][0-9]*)", text)
    if not match:
        raise ValueError(
            f"unknown cell input {text!r}: use h1 (previous cell), h2 (the one before) or b1, b2, ... (an earlier block)"
        )
    return int(match.group(1)) + 1


def _half_key(half: tuple[int, str]) -> tuple[int, int]:
    return half[0], OP_INDEX[half[1]]


@dataclass(frozen=True, init=False)
class Block:
    """Two halves ``(input, op)`` added together; halves are an unordered pair."""

    input1: int
    op1: str
    input2: int
    op2: str

    def __init__(self, input1: int, op1: str, input2: int, op2: str) -> None:
        halves = []
        for inp, op in ((input1, op1), (input2, op2)):
            if isinstance(inp, bool) or not isinstance(inp, int):
                raise ValueError(f"block input must be an integer index, got {inp!r}")
            if inp < 0:
                raise ValueError(f"block input index must be >= 0, got {inp}")
            if op not in OP_INDEX:
                raise ValueError(f"unknown operator {op!r}: choose one of {', '.join(OPERATORS)}")
            halves.append((inp, op))
        (a_in, a_op), (b_in, b_op) = sorted(halves, key=_half_key)
        object.__setattr__(self, "input1", a_in)
        object.__setattr__(self, "op1", a_op)
        object.__setattr__(self, "input2", b_in)
        object.__setattr__(self, "op2", b_op)

    @property
    def inputs(self) -> tuple[int, int]:
        return self.input1, self.input2

    @property
    def ops(self) -> tuple[str, str]:
        return self.op1, self.op2

    def __str__(self) -> str:
        return f"{self.op1}({input_name(self.input1)})+{self.op2}({input_name(self.input2)})"

    @classmethod
    def parse(cls, text: str) -> Block:
        parts = text.split("+")
        if len(parts) != 2:
            raise ValueError(f"a block is two halves 'op(input)+op(input)', got {text.strip()!r}")
        halves = []
        for part in parts:
            match = re.fullmatch(r"\s*([A-Za-z0-9_]+)\s*\(\s*([A-Za-z0-9_]+)\s*\)\s*", part)
            if not match:
                raise ValueError(f"malformed block half {part.strip()!r}: expected 'op(input)', e.g. 'sep3x3(h1)'")
            halves.append((parse_input(match.group(2)), match.group(1)))
        return cls(halves[0][0], halves[0][1], halves[1][0], halves[1][1])


@dataclass(frozen=True)
class Cell:
    """An ordered tuple of blocks; block b (1-based) reads inputs ``0..b``."""

    blocks: tuple[Block, ...]

    def __post_init__(self) -> None:
        blocks = tuple(self.blocks)
        object.__setattr__(self, "blocks", blocks)
        if not blocks:
            raise ValueError("a cell needs at least one block")
        for position, block in enumerate(blocks, start=1):
            if not isinstance(block, Block):
                raise ValueError(f"block {position} is {type(block).__name__}, not a Block")
            for inp in block.inputs:
                if inp > position:
                    raise ValueError(
                        f"block {position} reads {input_name(inp)}, which does not exist yet: "
                        f"block {position} may read h1, h2" + (f" or b1..b{position - 1}" if position > 1 else "")
                    )

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def __str__(self) -> str:
        return "; ".join(str(b) for b in self.blocks)

    def __repr__(self) -> str:
        return f"Cell.parse({str(self)!r})"

    @classmethod
    def parse(cls, text: str) -> Cell:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("empty cell text: give blocks like 'sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)'")
        return cls(tuple(Block.parse(part) for part in text.strip().strip(";").split(";")))

    def append(self, block: Block) -> Cell:
        return Cell(self.blocks + (block,))

    @classmethod
    def _trusted(cls, blocks: tuple[Block, ...]) -> Cell:
        """A cell from blocks already known valid: skips the checks when enumerating
        hundreds of thousands of children."""
        cell = object.__new__(cls)
        object.__setattr__(cell, "blocks", blocks)
        return cell

    def used_blocks(self) -> frozenset[int]:
        """1-based indices of blocks that some later block reads."""
        return frozenset(i - 1 for b in self.blocks for i in b.inputs if i >= 2)

    # JSON: {"blocks": [[input1, op1, input2, op2], ...]}
    def to_json(self) -> dict[str, Any]:
        return {"blocks": [[b.input1, b.op1, b.input2, b.op2] for b in self.blocks]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | str) -> Cell:
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, dict) or "blocks" not in data:
            raise ValueError('cell JSON must be an object {"blocks": [[input1, op1, input2, op2], ...]}')
        blocks = []
        for raw in data["blocks"]:
            if not isinstance(raw, (list, tuple)) or len(raw) != 4:
                raise ValueError(f"each block in cell JSON is [input1, op1, input2, op2], got {raw!r}")
            blocks.append(Block(*raw))
        return cls(tuple(blocks))


# --- enumeration and counting ------------------------------------------------


def _halves(num_inputs: int) -> list[tuple[int, str]]:
    return [(i, op) for i in range(num_inputs) for op in OPERATORS]


def possible_blocks(position: int) -> Iterator[Block]:
    """Every distinct block at 1-based ``position`` (inputs 0..position), fixed order."""
    halves = _halves(position + 1)
    for i, (in1, op1) in enumerate(halves):
        for in2, op2 in halves[i:]:
            yield Block(in1, op1, in2, op2)


def initial_cells() -> list[Cell]:
    """All 136 distinct 1-block cells."""
    return [Cell((block,)) for block in possible_blocks(1)]


@cache
def _blocks_at_position(position: int) -> tuple[Block, ...]:
    return tuple(possible_blocks(position))


def children(cell: Cell) -> list[Cell]:
    """Every cell that is ``cell`` plus one more block."""
    prefix = cell.blocks
    return [Cell._trusted(prefix + (block,)) for block in _blocks_at_position(cell.num_blocks + 1)]


def blocks_at(position: int) -> int:
    """Distinct blocks at 1-based ``position``: n(n+1)/2 with n = 8 (position + 1)."""
    n = len(OPERATORS) * (position + 1)
    return n * (n + 1) // 2


def children_per_cell(num_blocks: int) -> int:
    """Distinct children of a ``num_blocks``-block cell (300, 528, 820, 1176 for 1..4)."""
    return blocks_at(num_blocks + 1)


def space_size(num_blocks: int, symmetric: bool = True) -> int:
    """Cells with exactly ``num_blocks`` blocks; ``symmetric=False`` counts ordered halves."""
    if symmetric:
        return math.prod(blocks_at(b) for b in range(1, num_blocks + 1))
    return math.prod((len(OPERATORS) * (b + 1)) ** 2 for b in range(1, num_blocks + 1))


PNASNET5_CELL = Cell.parse(
    "sep5x5(h2)+max3x3(h2); sep7x7(h1)+max3x3(h1); sep5x5(h1)+sep3x3(h1); "
    "sep3x3(b3)+max3x3(h1); sep3x3(h2)+identity(h1)"
)
"""The cell found by the paper (reference code: tensorflow/models pnasnet.py)."""


def _encode_block(b: Block) -> EncodedBlock:
    return (b.input1, b.input2), (OP_INDEX[b.op1], OP_INDEX[b.op2])


@cache
def _encoded_blocks_at_position(position: int) -> tuple[EncodedBlock, ...]:
    return tuple(_encode_block(b) for b in _blocks_at_position(position))


class PnasSpace(SearchSpace):
    """Cells of 1..``blocks`` blocks over the 8 PNAS operators."""

    name = "pnas"
    children_append_one_block = True
    title = "PNAS"
    level_noun = "block"
    draw_options = ("concat",)
    proxy_cells_per_stack = 1
    proxy_filters = 8
    """The proxy network of zero-cost features: the CIFAR skeleton, one cell per stack, 8 filters."""

    def __init__(self, blocks: int = 5, *, max_level: int | None = None) -> None:
        blocks = blocks if max_level is None else max_level
        if blocks < 1:
            raise ValueError(f"a cell needs at least 1 block, got blocks={blocks}")
        self.max_level = blocks
        self.token_spec = TokenSpec(
            input_vocab=blocks + 1, op_vocab=len(OPERATORS), inputs_per_block=2, ops_per_block=2
        )

    def with_max_level(self, level: int) -> PnasSpace:
        if level == self.max_level:
            return self
        grown = type(self)(max_level=level)
        grown.name = self.name  # the name it was registered under, a plugin's included
        return grown

    def level(self, cell: Cell) -> int:
        return cell.num_blocks

    @cached_property
    def _initial(self) -> tuple[Cell, ...]:
        return tuple(initial_cells())

    def initial_cells(self) -> list[Cell]:
        return list(self._initial)

    def children(self, cell: Cell) -> list[Cell]:
        if cell.num_blocks >= self.max_level:
            return []
        return children(cell)

    def decision_sizes(self) -> list[int]:
        sizes = []
        for position in range(1, self.max_level + 1):
            sizes += [position + 1, position + 1, len(OPERATORS), len(OPERATORS)]
        return sizes

    def from_decisions(self, choices: Sequence[int]) -> Cell:
        sizes = self.decision_sizes()
        if len(choices) != len(sizes):
            raise ValueError(f"need {len(sizes)} decisions for a {self.max_level}-block cell, got {len(choices)}")
        for c, n in zip(choices, sizes):
            if not 0 <= c < n:
                raise ValueError(f"decision {c} out of range({n})")
        blocks = []
        for k in range(self.max_level):
            i1, i2, o1, o2 = choices[4 * k : 4 * k + 4]
            blocks.append(Block(i1, OPERATORS[o1], i2, OPERATORS[o2]))
        return Cell(tuple(blocks))

    def mutate(self, cell: Cell, rng: random.Random) -> Cell:
        """Change one input or one operator of one half of one block."""
        while True:
            position = rng.randrange(cell.num_blocks)
            block = cell.blocks[position]
            halves: list[list[Any]] = [[block.input1, block.op1], [block.input2, block.op2]]
            half = halves[rng.randrange(2)]
            if rng.random() < 0.5:  # block position+1 may read inputs 0..position+1
                half[0] = rng.choice([i for i in range(position + 2) if i != half[0]])
            else:
                half[1] = rng.choice([op for op in OPERATORS if op != half[1]])
            new_block = Block(halves[0][0], halves[0][1], halves[1][0], halves[1][1])
            if new_block != block:
                blocks = list(cell.blocks)
                blocks[position] = new_block
                return Cell(tuple(blocks))

    def encode(self, cell: Cell) -> list[EncodedBlock]:
        return [_encode_block(b) for b in cell.blocks]

    def appended_blocks(self, cell: Cell) -> list[EncodedBlock]:
        """The encoded block each child of ``cell`` appends, in :meth:`children` order.

        Depends only on the number of blocks, so predictors can lay out a whole
        expansion without encoding each child."""
        if cell.num_blocks >= self.max_level:
            return []
        return list(_encoded_blocks_at_position(cell.num_blocks + 1))

    def parse(self, text: str) -> Cell:
        cell = Cell.parse(text)
        if cell.num_blocks > self.max_level:
            raise ValueError(f"cell has {cell.num_blocks} blocks, more than this space's {self.max_level}")
        return cell

    # --- capabilities ---------------------------------------------------------
    def path_names(self, *, max_length: int | None = None) -> list[str]:
        from pnas.space.paths import pnas_path_names

        return pnas_path_names(max_length)

    def path_encodings(self, cells: Sequence[Any], *, max_length: int | None = None) -> np.ndarray:
        from pnas.space.paths import pnas_path_encodings

        return pnas_path_encodings(cells, max_length)

    def proxy_network(self, cell: Cell, *, in_channels: int, num_classes: int) -> Any:
        from pnas.nets import build_cifar_network

        return build_cifar_network(
            cell,
            in_channels=in_channels,
            num_classes=num_classes,
            cells_per_stack=self.proxy_cells_per_stack,
            filters=self.proxy_filters,
            channels_last=False,
        )

    def draw(self, cell: Cell, ax: Any = None, title: str | None = None, **options: Any) -> Any:
        """``concat`` = "all" (PNASNet-5, the default) or "unused" (NASNet) picks the blocks that feed the output."""
        from pnas.report.drawing import draw_pnas_cell

        return draw_pnas_cell(cell, ax, title, concat=options.get("concat", "all"))
