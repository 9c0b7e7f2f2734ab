"""Training-time augmentation on batches of tensors: random crop with padding, horizontal flip, cutout.

The random choices (offsets, flips, cutout centres) are drawn on the CPU from a generator the
caller seeds, then applied where the batch lives, so a batch comes out the same on any device
and in any data-loading worker. Images are already normalised, so padding and cutout fill with
0, the training set's mean colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Each image padded by ``padding`` on every side and cropped back to its size at a random offset."""
    if padding <= 0:
        return x
    dy = torch.randint(0, 2 * padding + 1, (x.shape[0],), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (x.shape[0],), generator=generator)
    return crop(x, padding, torch.stack([dy, dx]).to(x.device))


def crop(x: torch.Tensor, padding: int, offsets: torch.Tensor) -> torch.Tensor:
    """Each image padded by ``padding`` and cropped back at its offsets ``(2, n)``: rows, then columns,
    each in ``[0, 2 * padding]``; on ``x``'s device, without reading anything back to the CPU."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy, dx = offsets[0], offsets[1]
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]  # n, 1, h, 1
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]  # n, 1, 1, w
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image mirrored left to right with probability 1/2."""
    return mirror(x, (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device))


def mirror(x: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
    """The images where ``mirrored`` (a bool per image) is true, mirrored left to right."""
    return torch.where(mirrored[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A ``size`` x ``size`` square (clipped at the borders) set to 0 at a random centre of each image
    (DeVries & Taylor 2017)."""
    if size <= 0:
        return x
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (n,), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = (ys >= (cy - size // 2)[:, None]) & (ys < (cy - size // 2 + size)[:, None])  # n, h
    in_x = (xs >= (cx - size // 2)[:, None]) & (xs < (cx - size // 2 + size)[:, None])  # n, w
    hole = in_y[:, :, None] & in_x[:, None, :]
    return x.masked_fill(hole[:, None], 0.0)


@dataclass(frozen=True)
class Augment:
    """The augmentation of one run, applied to a batch with its own seeded generator."""

    padding: int = 0
    flip: bool = False
    cutout: int = 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_crop(x, self.padding, generator)
        if self.flip:
            x = random_flip(x, generator)
        return cutout(x, self.cutout, generator)

    @property
    def active(self) -> bool:
        return self.padding > 0 or self.flip or self.cutout > 0
