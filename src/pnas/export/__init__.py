"""A trained network outside the trainer: ``load`` it to predict, or export it for other runtimes.

>>> import pnas
>>> model = pnas.load("runs/mine")                    # a finished run folder, or an export folder
>>> model(model.preprocess("shoe.png")).softmax(1)    # preprocessing is not part of forward
>>> from pnas.export import export_run
>>> summary = export_run("runs/mine", "exported")     # model.onnx, model.pt, model.safetensors, model.json

See docs/export.md for the files, the input convention and the tolerances.
"""

from pnas.export.model import EXPORT_FORMAT, ExportError, load
from pnas.export.preprocess import ImageError, Preprocess
from pnas.export.writer import (
    DEFAULT_FORMATS,
    FORMATS,
    ONNX_OPSET,
    ONNX_TOLERANCE,
    TORCHSCRIPT_TOLERANCE,
    export_run,
    parse_formats,
)

__all__ = [
    "DEFAULT_FORMATS",
    "EXPORT_FORMAT",
    "FORMATS",
    "ONNX_OPSET",
    "ONNX_TOLERANCE",
    "TORCHSCRIPT_TOLERANCE",
    "ExportError",
    "ImageError",
    "Preprocess",
    "export_run",
    "load",
    "parse_formats",
]
