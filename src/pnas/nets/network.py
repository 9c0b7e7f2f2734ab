"""A network as a chain of cells after a stem: what the CIFAR and ImageNet builders share.

Every cell reads the two previous outputs; the first cell reads the stem
output as both (see :mod:`pnas.nets.cell`). The ImageNet network's two stem
cells are simply the first two (reduction) cells of the chain.

Every network has the same surface: ``forward_features``, ``forward_head``,
``reset_classifier``, ``set_drop_path_progress``. ``forward(x)`` returns the
logits, or ``(logits, aux_logits)`` when the network has an auxiliary head and
is in training mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from pnas.nets.aux_head import AuxHead
from pnas.nets.cell import CellModule, CellPlan, SkippedCell, live_cells
from pnas.nets.registry import CONCATS
from pnas.space import Cell


def reduction_indices(num_cells: int) -> tuple[int, int]:
    """Cells floor(n/3) and floor(2n/3) reduce (reference ``calc_reduction_layers``)."""
    return num_cells // 3, 2 * num_cells // 3


def check_options(
    *,
    filters: int,
    cells_per_stack: int,
    in_channels: int,
    num_classes: int,
    concat: str,
    drop_path: float,
    dropout: float,
) -> None:
    """One place for the builders' argument checks, with messages that say what to do."""
    if not isinstance(filters, int) or filters < 1:
        raise ValueError(f"filters must be a positive integer, got {filters!r}")
    if not isinstance(cells_per_stack, int) or cells_per_stack < 1:
        raise ValueError(f"cells_per_stack must be a positive integer, got {cells_per_stack!r}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if num_classes < 0:
        raise ValueError(f"num_classes must be >= 0 (0: no classifier), got {num_classes}")
    if concat not in CONCATS:
        raise ValueError(f"unknown concat convention {concat!r}: choose 'all' (PNASNet-5) or 'unused' (NASNet)")
    if not 0.0 <= drop_path < 1.0:
        raise ValueError(f"drop_path is a probability in [0, 1), got {drop_path}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")


class CellNetwork(nn.Module):
    """Stem, cells built from one genotype following ``plan``, ReLU, global pool, dropout, FC.

    Args:
        cell: the genotype every cell uses.
        stem: maps the image to ``stem_channels`` channels.
        plan: filters and reduction flag of each cell, in order.
        num_classes: classifier outputs (0: no classifier, ``forward`` gives features).
        concat: ``all`` or ``unused`` block outputs form a cell's output.
        drop_path: drop-path probability of the deepest cell at the end of
            training; cell i of n uses ``drop_path * (i + 1) / n`` times the
            training progress (reference code, "v3").
        dropout: dropout before the classifier.
        aux_index: index in ``plan`` of the cell the auxiliary head reads, or None.
        aux_map_size: spatial size of that cell's output for the network's
            nominal input size (sizes the head's last conv).
        channels_last: keep weights and activations in channels-last memory
            layout. Results are the same; on CPU depthwise convs and pools run
            faster in it (measured in docs/networks.md), and cuDNN handles it
            too. The input is converted in ``forward``.
    """

    def __init__(
        self,
        cell: Cell,
        *,
        stem: nn.Module,
        stem_channels: int,
        plan: Sequence[CellPlan],
        num_classes: int,
        concat: str = "all",
        drop_path: float = 0.0,
        dropout: float = 0.0,
        aux_index: int | None = None,
        aux_map_size: int = 1,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise ValueError(f"expected a pnas.space.Cell, got {type(cell).__name__}; parse text with Cell.parse")
        self.genotype = cell
        self.concat = concat
        self.drop_path = drop_path
        self.drop_path_progress = 1.0
        self.stem = stem
        live = live_cells(cell, len(plan), frozenset() if aux_index is None else frozenset({aux_index}))
        cells: list[CellModule | SkippedCell] = []
        c_prev, c_prev_prev = stem_channels, None
        for i, step in enumerate(plan):
            if live[i]:
                module: CellModule | SkippedCell = CellModule(
                    cell,
                    channels=step.filters,
                    h1_channels=c_prev,
                    h2_channels=c_prev_prev,
                    reduction=step.reduction,
                    h2_reduced=i > 0 and plan[i - 1].reduction,
                    concat=concat,
                )
            else:
                module = SkippedCell()
            cells.append(module)
            c_prev_prev, c_prev = c_prev, module.out_channels
        self.cells = nn.ModuleList(cells)
        self._drop_rates = tuple(drop_path * (i + 1) / len(plan) for i in range(len(plan)))
        self.num_features = c_prev
        self.aux_index = aux_index
        self.aux_head = None if aux_index is None else AuxHead(cells[aux_index].out_channels, num_classes, aux_map_size)
        self.head_drop = nn.Dropout(dropout)
        self.classifier: nn.Module = nn.Linear(c_prev, num_classes) if num_classes > 0 else nn.Identity()
        self.set_drop_path_progress(1.0)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit this overload

    # --- training controls ------------------------------------------------
    def set_drop_path_progress(self, progress: float) -> None:
        """Scale drop-path by training progress in [0, 1] (e.g. epoch / epochs).

        The reference code ramps the rate linearly from 0 to its full value
        over training; a network starts at full rate (progress 1) so that a
        trainer that never calls this still gets the drop-path it asked for.
        """
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"drop-path progress is a fraction in [0, 1], got {progress}")
        self.drop_path_progress = progress
        for module, rate in zip(self.cells, self._drop_rates):
            if isinstance(module, CellModule):
                module.drop_prob = rate * progress

    def reset_classifier(self, num_classes: int) -> None:
        """A new (freshly initialised) classifier, and aux classifier, for ``num_classes``."""
        self.classifier = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if self.aux_head is not None:
            self.aux_head.classifier = nn.Linear(768, num_classes) if num_classes > 0 else nn.Identity()

    # --- forward ------------------------------------------------------------
    def _run_cells(self, x: torch.Tensor, aux: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        prev_prev = prev = self.stem(x)
        aux_logits = None
        aux_index = self.aux_index if aux else None
        for i, cell in enumerate(self.cells):
            prev_prev, prev = prev, cell(prev, prev_prev)
            if i == aux_index and self.aux_head is not None:
                aux_logits = self.aux_head(prev)
        return prev, aux_logits

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last cell's output (before the final ReLU)."""
        return self._run_cells(x, aux=False)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """ReLU, global average pool, dropout, classifier (skipped with ``pre_logits``)."""
        x = F.relu(x).mean(dim=(2, 3))
        x = self.head_drop(x)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.aux_head is not None and self.training:
            features, aux_logits = self._run_cells(x, aux=True)
            assert aux_logits is not None, "a network with an aux head gives aux logits in training"
            return self.forward_head(features), aux_logits
        return self.forward_head(self.forward_features(x))
