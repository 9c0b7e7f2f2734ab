"""Parameters and mult-adds of a network.

Mult-adds are measured with ``torch.utils.flop_counter`` (convolutions and
matrix products; a multiply-add counted once, i.e. half its FLOPs), the way
published PNASNet-5 counts are compared (docs/paper.md, section 2.3). The
model runs on the ``meta`` device, where tensors have shapes but no data, so
even PNASNet-5 Large at 331 px is counted quickly and without allocating its
activations; the model itself is left untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Trainable and frozen parameters (buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_mult_adds(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-adds of one forward pass in eval mode, per example.

    ``input_shape`` is ``(channels, height, width)`` or ``(batch, channels,
    height, width)``; the result is divided by the batch size.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1,) + shape
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W) or (N, C, H, W) with positive sizes, got {tuple(input_shape)}")
    state = {name: torch.empty_like(t, device="meta") for name, t in model.named_parameters()}
    state.update({name: torch.empty_like(t, device="meta") for name, t in model.named_buffers()})
    x = torch.empty(shape, device="meta")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            torch.func.functional_call(model, state, (x,))
    finally:
        model.train(was_training)
    flops: int = counter.get_total_flops()
    return flops // 2 // shape[0]
