"""The CIFAR-style network: the search-time child and PNASNet-5 CIFAR.

NASNet's CIFAR stem (a 3x3 conv to ``stem_multiplier * filters`` channels,
then BN), then ``3 * cells_per_stack`` cells in all; cells floor(n/3) and
floor(2n/3) are the stride-2 versions of the same cell and double the filters
(docs/paper.md, section 2.1: the reductions are not extra cells). Works for any input
size: a stride-2 cell maps size s to ceil(s / 2), so even 7x7 or 1x1 inputs
pass through.
"""

from __future__ import annotations

from torch import nn

from pnas.nets.cell import CellPlan
from pnas.nets.network import CellNetwork, check_options, reduction_indices
from pnas.nets.ops import batch_norm
from pnas.space import Cell


def cifar_plan(cells_per_stack: int, filters: int) -> list[CellPlan]:
    """Filters and reduction flag of each of the ``3 * cells_per_stack`` cells."""
    num_cells = 3 * cells_per_stack
    reductions = reduction_indices(num_cells)
    plan, f = [], filters
    for i in range(num_cells):
        if i in reductions:
            f *= 2
        plan.append(CellPlan(f, i in reductions))
    return plan


def build_cifar_network(
    cell: Cell,
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    cells_per_stack: int = 3,
    filters: int = 24,
    stem_multiplier: float = 3,
    concat: str = "all",
    drop_path: float = 0.0,
    aux_head: bool = False,
    dropout: float = 0.0,
    image_size: int = 32,
    channels_last: bool = True,
) -> CellNetwork:
    """A CIFAR-style network from ``cell``.

    ``forward(x)`` returns logits of shape ``(batch, num_classes)``; with
    ``aux_head=True`` and in training mode it returns ``(logits, aux_logits)``.
    ``image_size`` only sizes the auxiliary head's last conv for the nominal
    input (other sizes still work).
    """
    check_options(
        filters=filters,
        cells_per_stack=cells_per_stack,
        in_channels=in_channels,
        num_classes=num_classes,
        concat=concat,
        drop_path=drop_path,
        dropout=dropout,
    )
    stem_channels = int(stem_multiplier * filters)
    if stem_channels < 1:
        raise ValueError(
            f"stem_multiplier * filters must give at least one stem channel, got {stem_multiplier} * {filters}"
        )
    stem = nn.Sequential(
        nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
        batch_norm(stem_channels),
    )
    plan = cifar_plan(cells_per_stack, filters)
    # Auxiliary head after the cell before the second reduction (reference code);
    # that cell's output has been reduced once.
    second_reduction = reduction_indices(len(plan))[1]
    return CellNetwork(
        cell,
        stem=stem,
        stem_channels=stem_channels,
        plan=plan,
        num_classes=num_classes,
        concat=concat,
        drop_path=drop_path,
        dropout=dropout,
        aux_index=second_reduction - 1 if aux_head else None,
        channels_last=channels_last,
        aux_map_size=-(-image_size // 2),
    )
