"""pnas: Progressive Neural Architecture Search (Liu et al., ECCV 2018) as a tool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__version__ = "0.1.0"


def load(path: str | Path) -> Any:
    """The trained network (a ``torch.nn.Module``) of a finished ``pnas train`` run folder or a
    ``pnas export`` folder, in eval mode.

    It carries ``preprocess`` (an image, its path or a uint8 array -> input tensor 1xCxHxW),
    ``classes`` and ``data_info``; see :func:`pnas.export.load`. Imported on first use, so that
    ``import pnas`` stays free of torch (and type checks of the package free of torch's types).
    """
    from pnas.export import load as load_model

    return load_model(path)
