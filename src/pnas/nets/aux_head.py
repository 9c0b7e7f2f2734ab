"""The auxiliary classifier (reference code: ``_build_aux_head`` in nasnet.py).

ReLU, 5x5 average pool stride 3 (VALID), 1x1 conv to 128, BN, ReLU, a conv to
768 that covers the whole remaining map, BN, ReLU, FC. The size of that
"whole map" conv is fixed at construction from the feature-map size the
network expects; for inputs of another size the pooled map is resized to it
(adaptive average pool), so any input size still works. Maps smaller than
5x5 are pooled with a window as large as the map.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from pnas.nets.ops import batch_norm


def pooled_size(map_size: int) -> int:
    """Spatial size after the 5x5 stride-3 VALID pool (at least 1)."""
    return (map_size - 5) // 3 + 1 if map_size >= 5 else 1


class AuxHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, map_size: int) -> None:
        super().__init__()
        self.pooled = pooled_size(map_size)
        self.proj = nn.Sequential(nn.Conv2d(in_channels, 128, 1, bias=False), batch_norm(128), nn.ReLU())
        self.whole = nn.Sequential(nn.Conv2d(128, 768, self.pooled, bias=False), batch_norm(768), nn.ReLU())
        self.classifier = nn.Linear(768, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        window = min(5, x.shape[-2], x.shape[-1])
        x = F.avg_pool2d(x, window, stride=3)
        x = self.proj(x)
        if x.shape[-2:] != (self.pooled, self.pooled):
            x = F.adaptive_avg_pool2d(x, self.pooled)
        logits: torch.Tensor = self.classifier(self.whole(x).flatten(1))
        return logits
