"""Turning an image into the tensor a trained network expects, outside the network.

The network's ``forward`` takes normalised float tensors, exactly as it saw them in training;
decoding, resizing and normalising stay outside it so that the ONNX and TorchScript files hold
only the network, and any runtime can do these few steps itself (``model.json`` spells them out).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pnas.training.config import DataInfo

PREPROCESS_STEPS = (
    "decode the image; convert it to {mode} ({channels} channel{s}); resize it to {size}x{size} pixels with "
    "bilinear filtering (PIL's Image.resize with BILINEAR) when its size differs; scale the 0..255 values to "
    "0..1 (x / 255); normalise each channel c as (x - mean[c]) / std[c]; lay it out as float32 1 x C x H x W "
    "(NCHW), and stack images along the first axis for a batch"
)
"""How to prepare an image, in words, for model.json (formatted per network)."""

MAX_IMAGE_PIXELS = 1 << 26
"""Larger images are refused from their header, before they are decoded (64 Mpx, as for data sets)."""


class ImageError(ValueError):
    """An image that cannot be read or used; the message names it and says why."""


def describe_steps(data: DataInfo) -> str:
    """The preprocessing of ``data``'s network as one sentence, for people and for other runtimes."""
    return PREPROCESS_STEPS.format(
        mode=_mode(data.channels) or f"{data.channels} channels",
        channels=data.channels,
        s="" if data.channels == 1 else "s",
        size=data.image_size,
    )


def _mode(channels: int) -> str | None:
    return {1: "L", 3: "RGB"}.get(channels)


class Preprocess:
    """Image (PIL image, file path, or uint8 array HxW / HxWxC) -> normalised float32 tensor 1 x C x H x W.

    The steps repeat what the training data went through: the same channel conversion, the
    same resize filter as the image-folder reader, the training set's mean and std.
    """

    def __init__(self, data: DataInfo) -> None:
        if len(data.mean) != data.channels or len(data.std) != data.channels:
            raise ValueError(f"{data.channels} channels but {len(data.mean)} means and {len(data.std)} stds")
        self.data = data
        self.mode = _mode(data.channels)
        self.size = data.image_size
        self.mean = torch.tensor(data.mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(data.std, dtype=torch.float32).view(-1, 1, 1)

    def __repr__(self) -> str:
        return f"Preprocess(mode={self.mode!r}, size={self.size}, mean={self.data.mean}, std={self.data.std})"

    def describe(self) -> str:
        return describe_steps(self.data)

    def __call__(self, image: Any) -> torch.Tensor:
        if self.mode is None:
            raise ImageError(
                f"the network takes {self.data.channels}-channel images, which no image file holds: "
                "prepare the tensor yourself (model.json says how)"
            )
        from PIL import Image

        if isinstance(image, (str, Path)):
            return self._from_file(Path(image))
        if isinstance(image, np.ndarray):
            return self._from_pil(_array_image(image))
        if isinstance(image, Image.Image):
            return self._from_pil(image)
        raise ImageError(
            f"cannot preprocess a {type(image).__name__}: give a PIL image, an image file's path, "
            "or a uint8 array HxW or HxWxC"
        )

    def _from_file(self, path: Path) -> torch.Tensor:
        from PIL import Image

        if not path.is_file():
            raise ImageError(f"{path}: no such image file" if not path.exists() else f"{path}: not a file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, by size
                with Image.open(path) as image:
                    width, height = image.size
                    if width * height > MAX_IMAGE_PIXELS:
                        raise ImageError(
                            f"{path}: image of {width}x{height} pixels is larger than the {MAX_IMAGE_PIXELS:,} "
                            "pixels accepted; shrink it first"
                        )
                    image.load()
                    return self._from_pil(image)
        except ImageError:
            raise
        except Exception as exc:  # PIL raises many kinds (OSError, SyntaxError, ValueError, ...) for a bad file
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ImageError(f"{path}: not a readable image ({first})") from None

    def _from_pil(self, image: Any) -> torch.Tensor:
        from PIL import Image

        assert self.mode is not None
        image = image.convert(self.mode)
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.Resampling.BILINEAR, reducing_gap=3.0)
        array = np.asarray(image, dtype=np.uint8)
        chw = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        x = torch.from_numpy(np.array(chw)).float().div_(255.0)  # a writable copy
        return ((x - self.mean) / self.std).unsqueeze(0).contiguous()


def _array_image(array: np.ndarray) -> Any:
    """A PIL image from a uint8 array HxW, HxWx1, HxWx3 or HxWx4 (RGBA)."""
    from PIL import Image

    if array.dtype != np.uint8:
        raise ImageError(f"an image array must be uint8 (0..255), got {array.dtype}: convert it first")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)):
        return Image.fromarray(np.ascontiguousarray(array))  # L, RGB or RGBA from the shape
    raise ImageError(f"an image array must be HxW or HxWxC with C in 1, 3, 4; got shape {array.shape}")
