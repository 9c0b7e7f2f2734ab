"""Path encodings of cells: one 0/1 entry per operator sequence from the cell's input to its output.

Why: a surrogate that must rank cells from a few dozen trained examples learns faster
from features that line up with what the network computes. The token encoding of
:meth:`pnas.space.base.SearchSpace.encode` tells a model *where* each operator sits;
the path encoding (BANANAS, White, Neiswanger and Savani, AAAI 2021) says which chains
of operators the data flows through, so two cells that differ only by an unused or
re-wired edge but share their paths look alike, and one feature (say "a 3x3 conv
followed by a skip") means the same thing in every cell.

NAS-Bench-201 (:mod:`pnas.space.nb201`): a path runs from node 0 to node 3 along edges
that are not ``none``; it is named by its operators from input to output, e.g.
``nor_conv_3x3>skip_connect``. Sequences of the 4 other operators, of 1 to 3 edges,
give 4 + 16 + 64 = 84 entries. Different node routes with the same operators share
one entry.

PNAS cells (:mod:`pnas.space.pnas_cell`): a path starts at a cell input (``h1`` or
``h2``), passes through a chain of halves (a half ``(input, op)`` of block b reads
the previous block on the chain, or the cell input for the first), and may end at
any block, since the cell's output concatenates every block (PNASNet-5's ``all``
rule). It is named by its start and operators, e.g. ``h1:sep3x3>max3x3``. All
lengths up to B blocks would give ``2 * sum(8**l for l in 1..B)`` entries, over
70,000 for B = 5, most of them never seen in a search; as BANANAS truncates its
encoding, paths of more than ``max_length`` operators (default 3) are left out:
``2 * (8 + 64 + 512) = 1168`` entries. The size depends only on ``max_length``, not
on the space's block count, so a study that grows its cells keeps comparable
encodings. With the ``unused`` output rule (NASNet) some of these paths would not
reach the output; the encoding follows the ``all`` rule the PNAS networks use.

Entries are presence flags (0/1), not path counts, as in BANANAS: a count would
mostly measure how many routes a cell has, which the number of flags already tracks.

Index order (:func:`path_names` spells it out): shorter paths first; within a length,
for PNAS ``h1`` before ``h2``; then operator sequences in lexicographic order of the
operators' token ids (:data:`pnas.space.nb201.NB201_OPS`, :data:`pnas.space.OPERATORS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from pnas.space.base import SearchSpace
from pnas.space.nb201 import NB201_EDGES, NB201_OPS, Nb201Cell
from pnas.space.pnas_cell import OP_INDEX, OPERATORS, Block, Cell

DEFAULT_MAX_LENGTH = 3
"""Longest path encoded when no ``max_length`` is given (NAS-Bench-201's longest path has 3 edges)."""

NB201_PATH_OPS: tuple[str, ...] = tuple(op for op in NB201_OPS if op != "none")
"""The operators a NAS-Bench-201 path may pass through, in token order."""

_NB201_PATH_OP_INDEX = {op: i for i, op in enumerate(NB201_PATH_OPS)}
_NB201_TOKEN = {op: i - 1 for i, op in enumerate(NB201_OPS)}  # none -> -1, others -> index in NB201_PATH_OPS


def _nb201_routes() -> tuple[tuple[int, ...], ...]:
    """Every route from node 0 to node 3 as a tuple of edge indices, input side first."""
    routes: list[tuple[int, ...]] = []

    def walk(node: int, edges: tuple[int, ...]) -> None:
        if node == 3:
            routes.append(edges)
            return
        for index, (src, dst) in enumerate(NB201_EDGES):
            if src == node:
                walk(dst, edges + (index,))

    walk(0, ())
    return tuple(sorted(routes, key=lambda r: (len(r), r)))


NB201_ROUTES = _nb201_routes()
"""The 4 node routes 0->3, 0->1->3, 0->2->3, 0->1->2->3, as edge indices."""


def _space(space: SearchSpace | str) -> SearchSpace:
    """A space given by name is the registered one: its path encoding is its own capability."""
    if isinstance(space, str):
        from pnas.space import create_space

        return create_space(space)
    return space


def _check_length(max_length: int | None, longest: int | None = None) -> int:
    length = DEFAULT_MAX_LENGTH if max_length is None else max_length
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
    if longest is not None and length > longest:
        raise ValueError(f"NAS-Bench-201 paths have at most {longest} edges; max_length={length} adds nothing")
    return length


def _offsets(alphabet: int, starts: int, max_length: int) -> list[int]:
    """First index of each path length (index 0 unused), and the total size at the end."""
    offsets = [0, 0]
    for length in range(1, max_length + 1):
        offsets.append(offsets[-1] + starts * alphabet**length)
    return offsets


def path_encoding_size(space: SearchSpace | str, *, max_length: int | None = None) -> int:
    """Entries of the encoding, so a predictor can size its input before seeing a cell."""
    return len(path_names(space, max_length=max_length))


@lru_cache(maxsize=8)
def _path_names(alphabet: tuple[str, ...], starts: tuple[str, ...], max_length: int) -> tuple[str, ...]:
    names: list[str] = []
    for length in range(1, max_length + 1):
        for start in starts:
            for code in range(len(alphabet) ** length):
                ops = []
                for _ in range(length):
                    code, digit = divmod(code, len(alphabet))
                    ops.append(alphabet[digit])
                names.append(start + ">".join(reversed(ops)))  # the first operator is the most significant digit
    return tuple(names)


def path_names(space: SearchSpace | str, *, max_length: int | None = None) -> list[str]:
    """The name of every entry, in index order, so features can be read and explained."""
    return _space(space).path_names(max_length=max_length)


# --- NAS-Bench-201 ------------------------------------------------------------------------------

NB201_LONGEST = len(NB201_ROUTES[-1])
"""Edges of NAS-Bench-201's longest path (0 -> 1 -> 2 -> 3)."""


def nb201_path_names(max_length: int | None = None) -> list[str]:
    """:meth:`pnas.space.Nb201Space.path_names`."""
    return list(_path_names(NB201_PATH_OPS, ("",), _check_length(max_length, NB201_LONGEST)))


def nb201_path_encodings(cells: Sequence[object], max_length: int | None = None) -> np.ndarray:
    """:meth:`pnas.space.Nb201Space.path_encodings`."""
    return _nb201_encodings(list(cells), _check_length(max_length, NB201_LONGEST))


def _nb201_tokens(cells: Sequence[object]) -> np.ndarray:
    rows = []
    for cell in cells:
        if not isinstance(cell, Nb201Cell):
            raise ValueError(f"a NAS-Bench-201 path encoding needs an Nb201Cell, got {type(cell).__name__}")
        rows.append([_NB201_TOKEN[op] for op in cell.ops])
    return np.array(rows, dtype=np.int64).reshape(len(rows), len(NB201_EDGES))


def _nb201_encodings(cells: Sequence[object], max_length: int) -> np.ndarray:
    """All cells at once with array arithmetic: 4 routes per cell, no Python loop over paths."""
    tokens = _nb201_tokens(cells)
    alphabet = len(NB201_PATH_OPS)
    offsets = _offsets(alphabet, 1, max_length)
    out = np.zeros((len(cells), offsets[-1]), dtype=np.float32)
    rows = np.arange(len(cells))
    for route in NB201_ROUTES:
        if len(route) > max_length:
            continue
        ops = tokens[:, route]
        present = (ops >= 0).all(axis=1)
        index = np.full(len(cells), offsets[len(route)], dtype=np.int64)
        for k in range(len(route)):
            index += np.where(present, ops[:, k], 0) * alphabet ** (len(route) - 1 - k)
        out[rows[present], index[present]] = 1.0
    return out


# --- PNAS cells ------------------------------------------------------------------------------------


def pnas_path_names(max_length: int | None = None) -> list[str]:
    """:meth:`pnas.space.PnasSpace.path_names`."""
    return list(_path_names(OPERATORS, ("h1:", "h2:"), _check_length(max_length)))


def pnas_path_encodings(cells: Sequence[object], max_length: int | None = None) -> np.ndarray:
    """:meth:`pnas.space.PnasSpace.path_encodings`."""
    return _pnas_encodings(list(cells), _check_length(max_length))


_Path = tuple[int, int, int]
"""(start input 0/1, length, operator sequence as a base-8 number, first operator most significant)."""


@lru_cache(maxsize=1 << 16)
def _paths_ending_at(blocks: tuple[Block, ...], max_length: int) -> frozenset[_Path]:
    """Paths that end at the last of ``blocks``; keyed by the prefix so a search's children,
    which share their parent's blocks, reuse the parent's work."""
    block = blocks[-1]
    paths: set[_Path] = set()
    alphabet = len(OPERATORS)
    for inp, op in ((block.input1, block.op1), (block.input2, block.op2)):
        token = OP_INDEX[op]
        if inp < 2:
            paths.add((inp, 1, token))
            continue
        for start, length, code in _paths_ending_at(blocks[: inp - 1], max_length):
            if length < max_length:
                paths.add((start, length + 1, code * alphabet + token))
    return frozenset(paths)


def _pnas_indices(cell: object, max_length: int, offsets: Sequence[int]) -> list[int]:
    if not isinstance(cell, Cell):
        raise ValueError(f"a PNAS path encoding needs a pnas.space.Cell, got {type(cell).__name__}")
    alphabet = len(OPERATORS)
    found: set[_Path] = set()
    for end in range(1, cell.num_blocks + 1):
        found |= _paths_ending_at(cell.blocks[:end], max_length)
    return [offsets[length] + start * alphabet**length + code for start, length, code in found]


def _pnas_encodings(cells: Sequence[object], max_length: int) -> np.ndarray:
    offsets = _offsets(len(OPERATORS), 2, max_length)
    out = np.zeros((len(cells), offsets[-1]), dtype=np.float32)
    for row, cell in enumerate(cells):
        out[row, _pnas_indices(cell, max_length, offsets)] = 1.0
    return out


# --- public API -------------------------------------------------------------------------------------


def path_encodings(space: SearchSpace | str, cells: Sequence[object], *, max_length: int | None = None) -> np.ndarray:
    """``[len(cells), D]`` float32 flags, one row per cell: the batch form predictors score with.

    ``space`` is a :class:`~pnas.space.base.SearchSpace` or a registered space's name; the space
    encodes (:meth:`~pnas.space.base.SearchSpace.path_encodings`), and one that cannot says so.
    ``max_length`` is the longest path kept (default 3; at most 3 for NAS-Bench-201).
    """
    return _space(space).path_encodings(list(cells), max_length=max_length)


def path_encoding(space: SearchSpace | str, cell: object, *, max_length: int | None = None) -> np.ndarray:
    """One cell's flags (1-D float32); see :func:`path_encodings`."""
    row: np.ndarray = path_encodings(space, [cell], max_length=max_length)[0]
    return row


__all__ = [
    "DEFAULT_MAX_LENGTH",
    "NB201_PATH_OPS",
    "NB201_ROUTES",
    "nb201_path_encodings",
    "nb201_path_names",
    "pnas_path_encodings",
    "pnas_path_names",
    "path_encoding",
    "path_encoding_size",
    "path_encodings",
    "path_names",
]
