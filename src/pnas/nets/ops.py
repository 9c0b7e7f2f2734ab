"""The 8 PNAS operators as torch modules, and the layers cells are made of.

Every operator factory has the same signature ``(in_channels, out_channels,
stride) -> nn.Module`` and maps ``in_channels`` to ``out_channels`` at
``stride``. Recipes follow the reference code (tensorflow/models
``research/slim/nets/nasnet/pnasnet.py`` and ``nasnet_utils.py``):

- ``sepKxK``: two stacked ReLU - depthwise-separable KxK conv - BN, stride in
  the first only.
- ``identity``: nothing, unless the stride is 2 or the channels differ; then
  ReLU - 1x1 conv (stride) - BN, the strided 1x1 conv run as a subsample and a
  stride-1 conv (:class:`PointwiseConv`) when it reads fewer than
  :data:`SAFE_STRIDED_CHANNELS` channels.
- ``avg3x3`` / ``max3x3``: the pool (padding excluded from averages), then a
  1x1 conv + BN only when the channels differ.
- ``conv1x7_7x1`` and ``dil3x3`` are not in PNASNet-5, so the reference has no
  recipe; we use the NASNet-style ReLU - conv1x7 - conv7x1 - BN and
  ReLU - conv3x3 (dilation 2) - BN.

All convolutions pad so that a stride-2 layer maps size ``s`` to
``ceil(s / 2)`` (TensorFlow's SAME), which keeps every path of a cell the same
size for any input, odd or tiny.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from pnas.space import OPERATORS

BN_EPS = 1e-3
"""Batch-norm epsilon of the reference code's arg scope."""


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


SAFE_STRIDED_CHANNELS = 16
"""oneDNN's widest float32 vector block on x86 (AVX-512; AVX2's is 8): a strided 1x1 conv reading at least this
many channels is outside the fault below and stays a plain strided conv (the numbers every study computed);
a narrower one is a :class:`PointwiseConv`."""


class PointwiseConv(nn.Conv2d):
    """A 1x1 convolution (no bias) at ``stride``, run as a subsample then a stride-1 1x1 conv.

    The numbers, parameters and mult-adds are those of ``nn.Conv2d(in, out, 1, stride)``, but torch
    never sees a strided 1x1 conv: on CPU, oneDNN's backward of one on a channels-last input with fewer
    input channels than its vector block (8 with AVX2, 16 with AVX-512) writes past its workspace,
    corrupting the heap with one thread and giving wrong weight gradients with several
    (docs/networks.md, "Memory format and strided 1x1 convolutions").
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, 1, bias=False)
        self.subsample = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.subsample > 1:
            x = x[:, :, :: self.subsample, :: self.subsample]
        return super().forward(x)


class ReluConvBn(nn.Sequential):
    """ReLU - conv - BN: how the reference code brings a tensor to ``out`` channels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1) -> None:
        conv = (
            PointwiseConv(in_channels, out_channels, stride)
            if kernel_size == 1 and stride > 1 and in_channels < SAFE_STRIDED_CHANNELS
            else nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False)
        )
        super().__init__(nn.ReLU(), conv, batch_norm(out_channels))


class SeparableConv(nn.Sequential):
    """Depthwise KxK (``stride``) then pointwise 1x1: one depthwise-separable conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels, in_channels, kernel_size, stride, padding=kernel_size // 2, groups=in_channels, bias=False
            ),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )


class StackedSeparable(nn.Sequential):
    """The reference ``separable_KxK_2`` op: (ReLU - SepConv - BN) twice, stride only in the first."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, kernel_size: int) -> None:
        super().__init__(
            nn.ReLU(),
            SeparableConv(in_channels, out_channels, kernel_size, stride),
            batch_norm(out_channels),
            nn.ReLU(),
            SeparableConv(out_channels, out_channels, kernel_size, 1),
            batch_norm(out_channels),
        )


class Pool(nn.Sequential):
    """3x3 max or average pool; a 1x1 conv + BN follows only when the channels must change."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, kind: str) -> None:
        if kind == "max":
            pool: nn.Module = nn.MaxPool2d(3, stride, padding=1)
        else:
            pool = nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
        layers = [pool]
        if in_channels != out_channels:
            layers += [nn.Conv2d(in_channels, out_channels, 1, bias=False), batch_norm(out_channels)]
        super().__init__(*layers)


def identity(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return ReluConvBn(in_channels, out_channels, 1, stride)


def conv1x7_7x1(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, (1, 7), (1, stride), padding=(0, 3), bias=False),
        nn.Conv2d(out_channels, out_channels, (7, 1), (stride, 1), padding=(3, 0), bias=False),
        batch_norm(out_channels),
    )


def dil3x3(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, 3, stride, padding=2, dilation=2, bias=False),
        batch_norm(out_channels),
    )


OpFactory = Callable[[int, int, int], nn.Module]

OPS: dict[str, OpFactory] = {
    "sep3x3": lambda i, o, s: StackedSeparable(i, o, s, 3),
    "sep5x5": lambda i, o, s: StackedSeparable(i, o, s, 5),
    "sep7x7": lambda i, o, s: StackedSeparable(i, o, s, 7),
    "conv1x7_7x1": conv1x7_7x1,
    "identity": identity,
    "avg3x3": lambda i, o, s: Pool(i, o, s, "avg"),
    "max3x3": lambda i, o, s: Pool(i, o, s, "max"),
    "dil3x3": dil3x3,
}
"""Operator name (as in :data:`pnas.space.OPERATORS`) -> factory ``(in, out, stride)``."""

assert tuple(OPS) == OPERATORS, "every operator of the space needs a factory, in the same order"


def create_op(name: str, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    try:
        factory = OPS[name]
    except KeyError:
        raise ValueError(f"unknown operator {name!r}: choose one of {', '.join(OPS)}") from None
    return factory(in_channels, out_channels, stride)


class FactorizedReduction(nn.Module):
    """Halve the spatial size without losing half the pixels (NASNet's factorized reduction).

    Two paths, each a stride-2 subsample (the reference's 1x1 average pool)
    then a 1x1 conv; the second path is shifted by one pixel. Their outputs are
    concatenated and batch-normed. With an odd ``out_channels`` the second path
    gets the extra filter, as in the reference (PNASNet-5 Mobile's 27).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        if out_channels < 2:
            raise ValueError(f"a factorized reduction needs at least 2 output channels, got {out_channels}")
        self.relu = nn.ReLU()
        self.path1 = nn.Conv2d(in_channels, out_channels // 2, 1, bias=False)
        self.path2 = nn.Conv2d(in_channels, out_channels - out_channels // 2, 1, bias=False)
        self.bn = batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        a = self.path1(x[:, :, ::2, ::2])
        # The path shifted by one pixel. The reference pads a zero row and column
        # at the bottom/right first; only odd sizes ever read that padding, so
        # pad the (4x smaller) subsampled map instead, where it is needed.
        shifted = x[:, :, 1::2, 1::2]
        missing_h, missing_w = a.shape[-2] - shifted.shape[-2], a.shape[-1] - shifted.shape[-1]
        if missing_h or missing_w:
            shifted = nn.functional.pad(shifted, (0, missing_w, 0, missing_h))
        b = self.path2(shifted)
        out: torch.Tensor = self.bn(torch.cat([a, b], dim=1))
        return out
