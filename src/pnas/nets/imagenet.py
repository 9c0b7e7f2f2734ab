"""The ImageNet-style network of the reference code (PNASNet-5 Mobile and Large).

Stem: 3x3 stride-2 VALID conv to ``32 * stem_multiplier`` channels + BN (no
ReLU), then two stride-2 stem cells with F/4 and F/2 filters (integer parts:
Mobile's F = 54 gives 13 and 27), then ``3 * cells_per_stack`` cells with
reductions at floor(n/3) and floor(2n/3), ReLU, global average pool, dropout,
FC. At 331 px the map sizes are 331 -> 165 (conv) -> 83 -> 42 (stem cells)
-> 21 -> 11 (reductions).
"""

from __future__ import annotations

from torch import nn

from pnas.nets.cell import CellPlan
from pnas.nets.network import CellNetwork, check_options, reduction_indices
from pnas.nets.ops import batch_norm
from pnas.space import Cell

STEM_CELLS = 2


def imagenet_plan(cells_per_stack: int, filters: int) -> list[CellPlan]:
    """The two stem cells, then ``3 * cells_per_stack`` cells."""
    if filters < 8:
        raise ValueError(f"the ImageNet network needs filters >= 8 (its stem cells use F/4 and F/2), got {filters}")
    plan = [CellPlan(int(filters * 0.25), True), CellPlan(int(filters * 0.5), True)]
    num_cells = 3 * cells_per_stack
    reductions = reduction_indices(num_cells)
    f = filters
    for i in range(num_cells):
        if i in reductions:
            f *= 2
        plan.append(CellPlan(f, i in reductions))
    return plan


def _halve(size: int) -> int:
    return -(-size // 2)


def build_imagenet_network(
    cell: Cell,
    *,
    in_channels: int = 3,
    num_classes: int = 1000,
    cells_per_stack: int = 4,
    filters: int = 216,
    stem_multiplier: float = 3,
    concat: str = "all",
    drop_path: float = 0.0,
    dropout: float = 0.5,
    aux_head: bool = False,
    image_size: int = 331,
    channels_last: bool = True,
) -> CellNetwork:
    """An ImageNet-style network from ``cell`` (defaults: PNASNet-5 Large's shape).

    ``forward(x)`` returns logits; with ``aux_head=True`` and in training mode,
    ``(logits, aux_logits)``. ``image_size`` only sizes the auxiliary head.
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
    stem_channels = int(32 * stem_multiplier)
    if stem_channels < 1:
        raise ValueError(f"stem_multiplier must give at least one stem filter, got {stem_multiplier}")
    stem = nn.Sequential(
        nn.Conv2d(in_channels, stem_channels, 3, stride=2, padding=0, bias=False),
        batch_norm(stem_channels),
    )
    plan = imagenet_plan(cells_per_stack, filters)
    aux_index = STEM_CELLS + reduction_indices(3 * cells_per_stack)[1] - 1
    # Map size at the aux cell: VALID stem conv, two stem cells, one reduction.
    map_size = max(1, (image_size - 3) // 2 + 1)
    for _ in range(STEM_CELLS + 1):
        map_size = _halve(map_size)
    return CellNetwork(
        cell,
        stem=stem,
        stem_channels=stem_channels,
        plan=plan,
        num_classes=num_classes,
        concat=concat,
        drop_path=drop_path,
        dropout=dropout,
        aux_index=aux_index if aux_head else None,
        channels_last=channels_last,
        aux_map_size=map_size,
    )
