"""Parameters and mult-adds of the network any PNAS cell would give, without building it.

Why: a progressive search expands every cell of a round into all its children
(about 300,000 of them for 256 four-block parents) and may have to drop those
over a size or compute budget, or rank them by cost for a Pareto front, before
anything is trained. Building and counting each child network is far too slow
for that; :class:`CellCostModel` costs a whole round from a few tables
precomputed once per network skeleton (timed in docs/multi_objective.md).

What is counted is exactly what :func:`pnas.nets.count_params` and
:func:`pnas.nets.count_mult_adds` measure on the network that
:func:`pnas.nets.build_cifar_network` / :func:`pnas.nets.build_imagenet_network`
(or :func:`pnas.nets.build_network`) would build:

- parameters: every conv weight, two per BN channel (weight and bias; the
  running statistics are buffers), the classifier's weights and bias, and the
  auxiliary head's when there is one;
- mult-adds: one per multiply-add of every convolution and of the classifier,
  per example, at the nominal ``image_size``, in eval mode (so an auxiliary head
  adds parameters but no mult-adds). Pools, BN, ReLU and additions are free.

How: for a fixed network skeleton (everything in
:class:`pnas.nets.NetworkConfig` but the cell) a cell's cost depends only on
which cell inputs it reads (``h1`` only, ``h2`` only, or both: that fixes which
cells of the chain are live, see :func:`pnas.nets.cell.live_cells`), on ``u``,
the number of blocks its output concatenates (the next cells' preprocessing,
the classifier and the aux head read ``u * F`` channels), and on how many of its
halves apply each operator to each kind of input (``h1``, ``h2`` or an earlier
block). The cost is linear in those: ``base0 + u * base1 + sum over halves of
table[kind, op]``, each term summed over the live cells, all precomputed once
per skeleton.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pnas.nets.aux_head import pooled_size
from pnas.nets.cell import CellPlan, concat_blocks, live_cells
from pnas.nets.cifar import cifar_plan
from pnas.nets.imagenet import STEM_CELLS, imagenet_plan
from pnas.nets.network import check_options, reduction_indices
from pnas.nets.registry import LAYOUTS, NetworkConfig
from pnas.space import OPERATORS, Block, Cell
from pnas.space.pnas_cell import OP_INDEX

PATTERNS = ("h1", "h2", "both")
"""Which cell inputs a cell reads: pattern index = (1 if it reads h1) + (2 if it reads h2) - 1."""

KINDS = ("h1", "h2", "block")
"""What a half of a block reads: kind index = min(input, 2)."""

_SEPARABLE_KERNELS = {"sep3x3": 3, "sep5x5": 5, "sep7x7": 7}

_MASK_BLOCKS = 64
"""Cells of up to this many blocks (+1) get their unused-block count from a uint64 bit mask;
longer ones (never seen in practice) fall back to :func:`pnas.nets.cell.concat_blocks`."""

_ID_CACHE_LIMIT = 1 << 18
"""Block objects remembered by identity before that cache starts over (values stay cached)."""

_INT64_MAX = 2**63 - 1

Cost = tuple[int, int]


def _halve(size: int) -> int:
    return -(-size // 2)


def op_cost(op: str, in_channels: int, out_channels: int, stride: int, size: int) -> Cost:
    """(params, mult-adds) of :func:`pnas.nets.ops.create_op` ``(op, in, out, stride)`` on a ``size`` map."""
    out = _halve(size) if stride == 2 else size
    area = out * out
    relu_conv_bn = (in_channels * out_channels + 2 * out_channels, in_channels * out_channels * area)
    if op in _SEPARABLE_KERNELS:
        k2 = _SEPARABLE_KERNELS[op] ** 2
        # depthwise KxK + pointwise 1x1 (stride in the first), then the same on out_channels
        weights = in_channels * k2 + in_channels * out_channels + out_channels * k2 + out_channels * out_channels
        return weights + 4 * out_channels, weights * area
    if op == "identity":
        return (0, 0) if stride == 1 and in_channels == out_channels else relu_conv_bn
    if op in ("avg3x3", "max3x3"):
        return (0, 0) if in_channels == out_channels else relu_conv_bn
    if op == "conv1x7_7x1":
        # The 1x7 conv strides along the width only: its output is size x out.
        first, second = 7 * in_channels * out_channels, 7 * out_channels * out_channels
        return first + second + 2 * out_channels, first * size * out + second * area
    if op == "dil3x3":
        weights = 9 * in_channels * out_channels
        return weights + 2 * out_channels, weights * area
    raise ValueError(f"unknown operator {op!r}: choose one of {', '.join(OPERATORS)}")


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


_REPRESENTATIVES = (
    Cell.parse("identity(h1)+identity(h1)"),
    Cell.parse("identity(h2)+identity(h2)"),
    Cell.parse("identity(h1)+identity(h2)"),
)
"""One cell per read pattern, to ask :func:`live_cells` which cells of the chain are built."""


class CellCostModel:
    """Exact (params, mult-adds) of the network built from any cell on one fixed skeleton.

    The keyword arguments are those of :class:`pnas.nets.NetworkConfig` that
    change the counts (dropout and drop-path do not); ``image_size`` is the
    input the mult-adds are counted at and the size the aux head is built for.

    >>> from pnas.space import PNASNET5_CELL
    >>> model = CellCostModel(network="cifar", filters=48, cells_per_stack=3)
    >>> model(PNASNET5_CELL)
    (3189082, 574891392)

    ``model.costs(cells)`` is the fast path for many cells (an int64 array
    ``[len(cells), 2]``): it remembers the costs of each :class:`pnas.space.Block`
    it has seen, first by object identity (the children of one parent share the
    parent's block objects and the appended ones), then by value, so each cell
    costs a few dict look-ups and the rest is numpy.
    """

    def __init__(
        self,
        *,
        network: str = "cifar",
        in_channels: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        cells_per_stack: int = 3,
        filters: int = 48,
        stem_multiplier: float = 3,
        concat: str = "all",
        aux_head: bool = False,
    ) -> None:
        if network not in LAYOUTS:
            raise ValueError(f"unknown network layout {network!r}: choose one of {', '.join(LAYOUTS)}")
        _check_int("in_channels", in_channels, 1)
        _check_int("num_classes", num_classes, 0)
        _check_int("image_size", image_size, 3 if network == "imagenet" else 1)
        check_options(
            filters=filters,
            cells_per_stack=cells_per_stack,
            in_channels=in_channels,
            num_classes=num_classes,
            concat=concat,
            drop_path=0.0,
            dropout=0.0,
        )
        if isinstance(stem_multiplier, bool) or not isinstance(stem_multiplier, (int, float)):
            raise ValueError(f"stem_multiplier must be a number, got {stem_multiplier!r}")
        if not math.isfinite(stem_multiplier) or stem_multiplier <= 0:
            raise ValueError(f"stem_multiplier must be a positive finite number, got {stem_multiplier}")
        if not isinstance(aux_head, bool):
            raise ValueError(f"aux_head must be True or False, got {aux_head!r}")
        self.network = network
        self.in_channels = in_channels
        self.image_size = image_size
        self.num_classes = num_classes
        self.cells_per_stack = cells_per_stack
        self.filters = filters
        self.stem_multiplier = stem_multiplier
        self.concat = concat
        self.aux_head = aux_head

        # The skeleton, as the builders lay it out.
        plan: list[CellPlan]
        if network == "imagenet":
            stem_channels = int(32 * stem_multiplier)
            if stem_channels < 1:
                raise ValueError(f"stem_multiplier must give at least one stem filter, got {stem_multiplier}")
            plan = imagenet_plan(cells_per_stack, filters)  # raises for filters < 8
            size = (image_size - 3) // 2 + 1  # 3x3 stride-2 VALID stem conv
            aux_index = STEM_CELLS + reduction_indices(3 * cells_per_stack)[1] - 1
            aux_map_size = max(1, size)
            for _ in range(STEM_CELLS + 1):
                aux_map_size = _halve(aux_map_size)
        else:
            stem_channels = int(stem_multiplier * filters)
            if stem_channels < 1:
                raise ValueError(
                    f"stem_multiplier * filters must give at least one stem channel, got {stem_multiplier} * {filters}"
                )
            plan = cifar_plan(cells_per_stack, filters)
            size = image_size  # 3x3 stride-1 SAME stem conv
            aux_index = reduction_indices(len(plan))[1] - 1
            aux_map_size = _halve(image_size)
        stem_weights = 9 * in_channels * stem_channels
        stem_cost = (stem_weights + 2 * stem_channels, stem_weights * size * size)

        # Map size at each cell's inputs and output (every cell input has the h1 size after preprocessing).
        sizes_in, sizes_out = [], []
        for step in plan:
            sizes_in.append(size)
            size = _halve(size) if step.reduction else size
            sizes_out.append(size)

        keep = frozenset({aux_index}) if aux_head else frozenset()
        # base[p] = [[params0, mult_adds0], [params per u, mult_adds per u]]; table[p][kind][op] = [params, mult_adds]
        base = [[[stem_cost[0], stem_cost[1]], [0, 0]] for _ in PATTERNS]
        table = [[[[0, 0] for _ in OPERATORS] for _ in KINDS] for _ in PATTERNS]
        for p, representative in enumerate(_REPRESENTATIVES):
            reads_h1, reads_h2 = p != 1, p != 0
            live = live_cells(representative, len(plan), keep)
            const, per_u = base[p]
            for i, step in enumerate(plan):
                if not live[i]:
                    continue
                f, area = step.filters, sizes_in[i] ** 2
                # pre1: ReLU-1x1 conv-BN from the previous output (the stem's for cell 0: u*F otherwise).
                if reads_h1:
                    const[0] += 2 * f
                    if i == 0:
                        const[0] += stem_channels * f
                        const[1] += stem_channels * f * area
                    else:
                        per_u[0] += plan[i - 1].filters * f
                        per_u[1] += plan[i - 1].filters * f * area
                # pre2: none for cell 0 (it reads the raw stem output); otherwise a factorized reduction
                # (after a reduction cell) or ReLU-1x1 conv-BN: the same counts, in*F weights at the h1 size.
                if reads_h2 and i > 0:
                    const[0] += 2 * f
                    if i == 1:
                        const[0] += stem_channels * f
                        const[1] += stem_channels * f * area
                    else:
                        per_u[0] += plan[i - 2].filters * f
                        per_u[1] += plan[i - 2].filters * f * area
                stride = 2 if step.reduction else 1
                for o, op in enumerate(OPERATORS):
                    h2_channels = stem_channels if i == 0 else f
                    for kind, cost in enumerate(
                        (
                            op_cost(op, f, f, stride, sizes_in[i]),
                            op_cost(op, h2_channels, f, stride, sizes_in[i]),
                            op_cost(op, f, f, 1, sizes_out[i]),
                        )
                    ):
                        table[p][kind][o][0] += cost[0]
                        table[p][kind][o][1] += cost[1]
            last = plan[-1].filters
            if num_classes > 0:  # the classifier: Linear(u * F_last, num_classes)
                const[0] += num_classes
                per_u[0] += last * num_classes
                per_u[1] += last * num_classes
            if aux_head:  # params only: the head does not run in eval mode
                pooled = pooled_size(aux_map_size)
                const[0] += 2 * 128 + 128 * 768 * pooled * pooled + 2 * 768
                per_u[0] += plan[aux_index].filters * 128
                if num_classes > 0:
                    const[0] += 768 * num_classes + num_classes
        self._base = base
        self._table = table
        # Python ints bound any one cell's cost, to refuse int64 overflow in ``costs`` (only absurd sizes reach it).
        self._max_const = max(v for b in base for v in b[0])
        self._max_per_block = max(v for b in base for v in b[1]) + 2 * max(
            v for t in table for k in t for c in k for v in c
        )

        # The fast path's block registry: a row per distinct block, its features and costs.
        self._row_of_id: dict[int, int] = {}
        self.id_cache_limit = _ID_CACHE_LIMIT
        """Blocks remembered by identity before that cache starts over (a test makes it small)."""
        self._pinned: list[Block] = []  # keeps the blocks of _row_of_id alive, so that no id is reused
        self._row_of_block: dict[Block, int] = {}
        # Row 0 stands for no block, so that a look-up can test its row for truth.
        self._reads: list[int] = [0]  # bit 0: reads h1, bit 1: reads h2
        self._used: list[int] = [0]  # bit b-1: reads block b (b <= _MASK_BLOCKS)
        self._contrib: list[list[int]] = [[0] * 6]  # [pattern * 2 + (0: params, 1: mult-adds)]
        self._arrays: tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.int64]] | None = None
        self._base_arrays: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None

    @classmethod
    def from_config(cls, config: NetworkConfig) -> CellCostModel:
        """The model of ``config``'s skeleton (its cell, dropout and drop-path are ignored)."""
        if not isinstance(config, NetworkConfig):
            raise ValueError(f"expected a NetworkConfig, got {type(config).__name__}")
        return cls(
            network=config.network,
            in_channels=config.in_channels,
            image_size=config.image_size,
            num_classes=config.num_classes,
            cells_per_stack=config.cells_per_stack,
            filters=config.filters,
            stem_multiplier=config.stem_multiplier,
            concat=config.concat,
            aux_head=config.aux_head,
        )

    def __repr__(self) -> str:
        return (
            f"CellCostModel(network={self.network!r}, in_channels={self.in_channels}, image_size={self.image_size}, "
            f"num_classes={self.num_classes}, cells_per_stack={self.cells_per_stack}, filters={self.filters}, "
            f"stem_multiplier={self.stem_multiplier}, concat={self.concat!r}, aux_head={self.aux_head})"
        )

    # --- one cell, in Python ints ------------------------------------------
    def __call__(self, cell: Cell) -> Cost:
        """(params, mult-adds) of the network built from ``cell``."""
        if not isinstance(cell, Cell):
            raise ValueError(f"expected a pnas.space.Cell, got {type(cell).__name__}; parse text with Cell.parse")
        inputs = [inp for block in cell.blocks for inp in block.inputs]
        p = (0 in inputs) + 2 * (1 in inputs) - 1
        u = len(concat_blocks(cell, self.concat))
        (params, mult_adds), (params_u, mult_adds_u) = self._base[p]
        params += u * params_u
        mult_adds += u * mult_adds_u
        table = self._table[p]
        for block in cell.blocks:
            for inp, op in ((block.input1, block.op1), (block.input2, block.op2)):
                entry = table[min(inp, 2)][OP_INDEX[op]]
                params += entry[0]
                mult_adds += entry[1]
        return params, mult_adds

    def bound(self, max_level: int) -> Cost:
        """(params, mult-adds) that no cell of up to ``max_level`` blocks exceeds, each the exact maximum.

        What a study's hypervolume takes as its reference point when no limit is set
        (:class:`pnas.evaluation.base.CostModel`). The two maxima may come from different cells.
        """
        _check_int("max_level", max_level, 1)
        n = max_level  # costs never fall when a block is appended, so the maximum has n blocks
        best = [0, 0]
        for p, inputs in enumerate(((0,), (1,), (0, 1))):
            const, per_u = self._base[p]
            for m in (0, 1):
                a = [max(entry[m] for entry in self._table[p][kind]) for kind in inputs]
                b = max(entry[m] for entry in self._table[p][2])
                # Block 1 reads each input of the pattern (its costliest op on each); the other halves
                # take the costliest input half, or the costliest block half. Under "unused" the latter
                # costs one concatenated block at best (every block half reads b1).
                first = a[0] + a[-1]
                totals = [const[m] + n * per_u[m] + first + (2 * n - 2) * max(a)]
                if n > 1:
                    u = n if self.concat == "all" else n - 1
                    totals.append(const[m] + u * per_u[m] + first + (2 * n - 2) * max(*a, b))
                best[m] = max(best[m], *totals)
        return best[0], best[1]

    # --- many cells, vectorised --------------------------------------------
    def costs(self, cells: Sequence[Cell]) -> NDArray[np.int64]:
        """(params, mult-adds) of each cell's network: int64, shape ``[len(cells), 2]``."""
        n = len(cells)
        result = np.zeros((n, 2), dtype=np.int64)
        if n == 0:
            return result
        get, register = self._row_of_id.get, self._register
        try:
            rows = [get(id(block)) or register(block) for cell in cells for block in cell.blocks]
            lengths = np.array([len(cell.blocks) for cell in cells], dtype=np.int64)
        except (AttributeError, TypeError):
            bad = next((c for c in cells if not isinstance(c, Cell)), None)
            if bad is None:
                raise
            raise ValueError(f"costs() takes pnas.space.Cell objects, got {type(bad).__name__}") from None
        ids = np.array(rows, dtype=np.intp)
        longest = int(lengths.max())
        if self._max_const + longest * self._max_per_block > _INT64_MAX:
            raise OverflowError("these costs do not fit in int64; call the model on each cell for Python ints")
        reads_of, used_of, contrib_of = self._block_arrays()
        base0, base1 = self._base_rows()

        starts = np.zeros(n, dtype=np.intp)
        np.cumsum(lengths[:-1], out=starts[1:])
        pattern = np.bitwise_or.reduceat(reads_of[ids], starts) - 1
        per_half = contrib_of[ids * 3 + np.repeat(pattern, lengths)]
        result += np.add.reduceat(per_half, starts, axis=0)
        if self.concat == "all":
            u = lengths
        else:
            used = np.bitwise_or.reduceat(used_of[ids], starts)
            u = lengths - _popcount(used)
            for i in np.flatnonzero(lengths > _MASK_BLOCKS + 1).tolist():
                u[i] = len(concat_blocks(cells[i], self.concat))
        result += base0[pattern] + u[:, None] * base1[pattern]
        return result

    def _register(self, block: Block) -> int:
        if not isinstance(block, Block):
            raise ValueError(f"a cell's blocks must be pnas.space.Block objects, got {type(block).__name__}")
        row = self._row_of_block.get(block)
        if row is None:
            row = len(self._reads)
            self._row_of_block[block] = row
            self._reads.append(sum(1 << inp for inp in set(block.inputs) if inp < 2))
            self._used.append(sum(1 << (inp - 2) for inp in set(block.inputs) if 2 <= inp < _MASK_BLOCKS + 2))
            k1, o1 = min(block.input1, 2), OP_INDEX[block.op1]
            k2, o2 = min(block.input2, 2), OP_INDEX[block.op2]
            self._contrib.append(
                [t[k1][o1][m] + t[k2][o2][m] for t in self._table for m in (0, 1)]  # pattern-major
            )
            self._arrays = None
        if len(self._pinned) >= self.id_cache_limit:
            self._row_of_id.clear()
            self._pinned.clear()
        self._row_of_id[id(block)] = row
        self._pinned.append(block)
        return row

    def _block_arrays(self) -> tuple[NDArray[np.int64], NDArray[np.uint64], NDArray[np.int64]]:
        if self._arrays is None:
            self._arrays = (
                np.array(self._reads, dtype=np.int64),
                np.array(self._used, dtype=np.uint64),
                # row * 3 + pattern -> (params, mult-adds)
                np.array(self._contrib, dtype=np.int64).reshape(-1, 2),
            )
        return self._arrays

    def _base_rows(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if self._base_arrays is None:
            self._base_arrays = (
                np.array([b[0] for b in self._base], dtype=np.int64),
                np.array([b[1] for b in self._base], dtype=np.int64),
            )
        return self._base_arrays


def _popcount(masks: NDArray[np.uint64]) -> NDArray[np.int64]:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(masks).astype(np.int64)
    counts = np.zeros(masks.shape, dtype=np.int64)
    masks = masks.copy()
    while masks.any():
        counts += (masks & np.uint64(1)).astype(np.int64)
        masks >>= np.uint64(1)
    return counts


def network_costs(config: NetworkConfig) -> Cost:
    """(params, mult-adds) of ``build_network(config)``'s network, mult-adds at ``config.input_shape``."""
    return CellCostModel.from_config(config)(config.cell)
