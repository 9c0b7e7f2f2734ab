"""One PNAS cell as a torch module: inputs preprocessing, blocks, drop-path, output concat.

A :class:`CellModule` turns the genotype :class:`pnas.space.Cell` into layers
once, at construction; ``forward`` only walks precomputed index tuples, so a
small child network pays little Python per step.

Reduction semantics (docs/paper.md, section 1; reference code): in a reduction cell the
ops that read the cell inputs (``h1``, ``h2``) use stride 2; ops that read an
earlier block keep stride 1 (that block is already reduced). An identity
under stride 2 becomes ReLU - 1x1 stride-2 conv - BN (see :mod:`pnas.nets.ops`).

Cell inputs:

- ``h1`` (the previous cell's output) always goes through ReLU - 1x1 conv - BN
  to ``channels``;
- ``h2`` (the cell before it) goes through ReLU + factorized reduction when it
  is twice ``h1``'s size (the previous cell was a reduction), through
  ReLU - 1x1 conv - BN otherwise. The reference code skips that 1x1 conv when
  ``h2`` already has ``channels`` channels; it never does for PNASNet-5
  (outputs have 5F channels), so its counts are the same either way;
- the first cell of a network has no ``h2``: as in the reference code it reads
  the raw stem output (the same tensor as its ``h1`` before preprocessing).

An input that no block reads gets no preprocessing layers at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from pnas.nets.ops import FactorizedReduction, ReluConvBn, create_op
from pnas.space import Cell


def concat_blocks(cell: Cell, concat: str) -> tuple[int, ...]:
    """1-based indices of the blocks whose outputs form the cell's output."""
    if concat == "all":
        return tuple(range(1, cell.num_blocks + 1))
    if concat == "unused":
        used = cell.used_blocks()
        return tuple(b for b in range(1, cell.num_blocks + 1) if b not in used)
    raise ValueError(f"unknown concat convention {concat!r}: choose 'all' (PNASNet-5) or 'unused' (NASNet)")


def reads_input(cell: Cell, index: int) -> bool:
    """Whether any block reads input ``index`` (0 = h1, 1 = h2)."""
    return any(index in block.inputs for block in cell.blocks)


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole examples of ``x`` with probability ``drop_prob``, rescale the rest.

    Out of place, and on any device (the mask is drawn where ``x`` lives).
    """
    keep = 1.0 - drop_prob
    mask = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * (mask / keep)


@dataclass(frozen=True)
class CellPlan:
    """Where a cell sits in a network: its filter count and whether it reduces."""

    filters: int
    reduction: bool


class CellModule(nn.Module):
    """A cell's layers. ``forward(h1, h2)`` with ``h1`` = H(c-1), ``h2`` = H(c-2).

    Args:
        cell: the genotype.
        channels: F, the channel count of every block output.
        h1_channels: channels of H(c-1).
        h2_channels: channels of H(c-2), or None for a network's first cell
            (it then reads the raw H(c-1) as its ``h2``; pass the same tensor twice).
        reduction: stride 2 on the ops that read the cell inputs.
        h2_reduced: H(c-2) is twice H(c-1)'s spatial size (factorized reduction).
        concat: ``all`` or ``unused`` (see :data:`pnas.nets.registry.CONCATS`).
    """

    def __init__(
        self,
        cell: Cell,
        *,
        channels: int,
        h1_channels: int,
        h2_channels: int | None,
        reduction: bool,
        h2_reduced: bool,
        concat: str = "all",
    ) -> None:
        super().__init__()
        self.genotype = cell
        self.reduction = reduction
        self._concat = tuple(b + 1 for b in concat_blocks(cell, concat))  # state index of block b is b + 1
        self.out_channels = len(self._concat) * channels
        self.drop_prob = 0.0
        """Current drop-path probability; set by the network (depth x training progress)."""

        self.pre1: nn.Module | None = ReluConvBn(h1_channels, channels) if reads_input(cell, 0) else None
        input_channels = [channels, channels]
        if not reads_input(cell, 1):
            self.pre2: nn.Module | None = None
        elif h2_channels is None:
            self.pre2 = nn.Identity()
            input_channels[1] = h1_channels
        elif h2_reduced:
            self.pre2 = FactorizedReduction(h2_channels, channels)
        else:
            self.pre2 = ReluConvBn(h2_channels, channels)

        ops = []
        halves = []
        relu_inputs = set()
        for block in cell.blocks:
            for inp, op in ((block.input1, block.op1), (block.input2, block.op2)):
                in_channels = input_channels[inp] if inp < 2 else channels
                stride = 2 if reduction and inp < 2 else 1
                module = create_op(op, in_channels, channels, stride)
                # Most ops start with a ReLU; several may read the same input. The
                # cell computes each input's ReLU once and hands it to them.
                reads_relu = False
                if isinstance(module, nn.Sequential) and isinstance(module[0], nn.ReLU):
                    module[0] = nn.Identity()
                    relu_inputs.add(inp)
                    reads_relu = True
                ops.append(module)
                # Drop-path on every op output except identity (reference code).
                halves.append((inp, reads_relu, op != "identity"))
        self.ops = nn.ModuleList(ops)
        self._halves = tuple(halves)
        self._relu_inputs = frozenset(relu_inputs)

    def forward(self, h1: torch.Tensor | None, h2: torch.Tensor | None) -> torch.Tensor:
        states: list[torch.Tensor | None] = [
            self.pre1(h1) if self.pre1 is not None else None,
            self.pre2(h2) if self.pre2 is not None else None,
        ]
        relu_inputs = self._relu_inputs
        relus = [F.relu(x) if i in relu_inputs and x is not None else None for i, x in enumerate(states)]
        drop = self.drop_prob if self.training else 0.0
        halves = self._halves
        ops = self.ops
        for k in range(0, len(halves), 2):
            (in1, relu1, droppable1), (in2, relu2, droppable2) = halves[k], halves[k + 1]
            a = ops[k](relus[in1] if relu1 else states[in1])
            b = ops[k + 1](relus[in2] if relu2 else states[in2])
            if drop > 0.0:
                if droppable1:
                    a = drop_path(a, drop)
                if droppable2:
                    b = drop_path(b, drop)
            out = a + b
            relus.append(F.relu(out) if len(states) in relu_inputs else None)
            states.append(out)
        outputs = cast(list[torch.Tensor], [states[i] for i in self._concat])  # blocks' outputs: never None
        if len(outputs) == 1:
            return outputs[0]
        return torch.cat(outputs, dim=1)


class SkippedCell(nn.Module):
    """Stands for a cell whose output nothing reads (possible when cells read only ``h2``)."""

    out_channels = 0

    def forward(self, h1: torch.Tensor | None, h2: torch.Tensor | None) -> None:
        return None


def live_cells(cell: Cell, num_cells: int, keep: frozenset[int] = frozenset()) -> list[bool]:
    """Which cells of a chain of ``num_cells`` feed the output (or a cell in ``keep``).

    Cell c's output is H(c-1) of cell c+1 and H(c-2) of cell c+2. A cell that
    reads only ``h2`` therefore leaves every other cell unread; building those
    would add parameters that never receive a gradient.
    """
    h1, h2 = reads_input(cell, 0), reads_input(cell, 1)
    live = [False] * num_cells
    for c in range(num_cells - 1, -1, -1):
        live[c] = c == num_cells - 1 or c in keep or (h1 and live[c + 1]) or (h2 and c + 2 < num_cells and live[c + 2])
    return live
