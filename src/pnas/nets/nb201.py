"""NAS-Bench-201's network (Dong and Yang, ICLR 2020), built from any of its cells.

Its fixed skeleton: a 3x3 stem conv with BN to C channels; three stages of five cells
at C = 16, 32 and 64, with a ResNet basic block of stride 2 between stages; then BN,
ReLU, global average pooling and a linear classifier. A cell is a 4-node DAG: node 0
is the cell's input, each later node sums one op per edge from every earlier node, and
node 3 is the output. Each edge's ``nor_conv`` is ReLU-conv-BN, ``avg_pool_3x3`` leaves
padding out of the average, ``none`` contributes zeros.

The benchmark's sizes come from this skeleton: 73,306 parameters with every edge
``none`` up to 1,531,546 with every edge ``nor_conv_3x3`` (CIFAR-10, 32 px; about
0.07M-1.53M as published), which the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from pnas.space.nb201 import NB201_EDGES, Nb201Cell

NB201_CHANNELS = 16
"""C of the first stage (doubled at each of the two reductions)."""

NB201_CELLS_PER_STAGE = 5


class ReluConvBn(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        )


class Zero(nn.Module):
    """The ``none`` edge: zeros of its input's shape (so that a node whose edges are all ``none`` is zero)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


def edge_op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReluConvBn(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReluConvBn(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 operator {name!r}")


INCOMING = {target: [(i, src) for i, (src, dst) in enumerate(NB201_EDGES) if dst == target] for target in (1, 2, 3)}
"""Node -> its incoming edges, as (edge index, source node)."""


class Nb201CellModule(nn.Module):
    def __init__(self, cell: Nb201Cell, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(edge_op(op, channels) for op in cell.ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            terms = [self.edges[i](nodes[src]) for i, src in INCOMING[target]]
            node = terms[0]
            for term in terms[1:]:
                node = node + term
            nodes.append(node)
        return nodes[3]


class ResidualReduction(nn.Module):
    """The ResNet basic block of stride 2 between stages: two ReLU-conv-BN 3x3, and a 2x2 average pool
    then a 1x1 conv on the shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = ReluConvBn(in_channels, out_channels, 3, stride=2)
        self.conv_b = ReluConvBn(out_channels, out_channels, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.shortcut(x) + self.conv_b(self.conv_a(x))
        return out


class Nb201Network(nn.Module):
    def __init__(
        self,
        cell: Nb201Cell,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        channels: int = NB201_CHANNELS,
        cells_per_stage: int = NB201_CELLS_PER_STAGE,
    ) -> None:
        super().__init__()
        if channels < 1 or cells_per_stage < 1 or in_channels < 1 or num_classes < 1:
            raise ValueError("channels, cells_per_stage, in_channels and num_classes must be positive")
        self.cell = cell
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        width = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, width * 2))
                width *= 2
            layers.extend(Nb201CellModule(cell, width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.head(self.cells(self.stem(x))))
        return logits


def check_nb201_image_size(image_size: int) -> None:
    """Refuse an input size NAS-Bench-201's network cannot take: each of its two reductions halves the
    size on two paths (a stride-2 conv and a 2x2 pool) that agree only on an even size, so the input's
    side must be a multiple of 4."""
    if image_size < 4 or image_size % 4:
        raise ValueError(
            f"image size {image_size} does not fit NAS-Bench-201's network: its two reductions halve it twice, "
            "so give a multiple of 4 (the benchmark's: 32, or 16 for ImageNet16-120)"
        )


def build_nb201_network(cell: Nb201Cell | str, **options: int) -> Nb201Network:
    """NAS-Bench-201's network for ``cell`` (a :class:`Nb201Cell` or its string); ``options`` are
    :class:`Nb201Network`'s (``in_channels``, ``num_classes``, ``channels``, ``cells_per_stage``)."""
    return Nb201Network(Nb201Cell.parse(cell) if isinstance(cell, str) else cell, **options)


def nb201_costs(
    cell: Nb201Cell | str,
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    channels: int = NB201_CHANNELS,
    cells_per_stage: int = NB201_CELLS_PER_STAGE,
    image_size: int = 32,
) -> tuple[int, int]:
    """(parameters, mult-adds) of :func:`build_nb201_network`'s network, from the cell alone.

    Only convolutions and the classifier have weights and mult-adds: the skeleton's stem,
    reductions and head, plus each conv edge once per cell of each stage. Equal to counting the
    built network (a property test checks it), at a tiny fraction of the cost.
    """
    check_nb201_image_size(image_size)
    if isinstance(cell, str):
        cell = Nb201Cell.parse(cell)
    kernel = {"nor_conv_3x3": 9, "nor_conv_1x1": 1}
    params = 9 * in_channels * channels + 2 * channels  # stem: conv and BN
    mult_adds = 9 * in_channels * channels * image_size**2
    width, size = channels, image_size
    for stage in range(3):
        if stage > 0:  # the residual reduction: 3x3 (stride 2), 3x3, and the shortcut's 1x1, each to 2w
            size = (size - 1) // 2 + 1
            params += 56 * width * width + 8 * width
            mult_adds += 56 * width * width * size * size
            width *= 2
        for op in cell.ops:
            if op in kernel:
                params += cells_per_stage * (kernel[op] * width * width + 2 * width)
                mult_adds += cells_per_stage * kernel[op] * width * width * size * size
    params += 2 * width + width * num_classes + num_classes  # head BN and classifier
    mult_adds += width * num_classes
    return params, mult_adds


NB201_DATASETS: dict[str, tuple[int, int]] = {"cifar100": (100, 32), "cifar10": (10, 32), "imagenet": (120, 16)}
"""A benchmark column's data set (by prefix) -> (classes, image size) of the networks NAS-Bench-201
trained on it (ImageNet16-120: 120 classes at 16 px; Dong and Yang, 2020, section 3)."""


def nb201_dataset_sizes(column: str) -> tuple[int, int]:
    """(classes, image size) for a table column such as ``cifar10-val``; CIFAR-10's for a column that
    names no NAS-Bench-201 data set."""
    lowered = column.lower()
    for prefix, sizes in NB201_DATASETS.items():  # cifar100 before cifar10
        if lowered.startswith(prefix):
            return sizes
    return NB201_DATASETS["cifar10"]


class Nb201CostModel:
    """:func:`nb201_costs` for many cells at once (every cell's costs computed once and kept: the
    space has 15,625 cells)."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 10, image_size: int = 32, **options: int) -> None:
        self.options = {"in_channels": in_channels, "num_classes": num_classes, "image_size": image_size, **options}
        self._known: dict[Nb201Cell, tuple[int, int]] = {}

    def __call__(self, cell: Nb201Cell) -> tuple[int, int]:
        found = self._known.get(cell)
        if found is None:
            found = self._known[cell] = nb201_costs(cell, **self.options)
        return found

    def costs(self, cells: Sequence[Nb201Cell]) -> np.ndarray:
        return np.array([self(cell) for cell in cells], dtype=np.int64).reshape(len(cells), 2)

    def bound(self, max_level: int) -> tuple[int, int]:
        """Every edge a 3x3 convolution: the largest network of the space in both counts."""
        return self(Nb201Cell(("nor_conv_3x3",) * len(NB201_EDGES)))
