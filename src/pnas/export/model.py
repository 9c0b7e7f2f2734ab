"""The deployed network of a finished run or of an export folder: built, weights loaded, ready to predict.

A run trains with an auxiliary head, drop-path and dropout; none of them changes the logits in
eval mode, so the deployed network is built without them (``exported_network``) and the trained
weights of the auxiliary head are left out. Everything else must match exactly (strict loading),
so a checkpoint from another network fails loudly instead of predicting nonsense.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pnas.export.preprocess import Preprocess
from pnas.nets import CellNetwork, NetworkConfig, build_network
from pnas.nets.cell import SkippedCell
from pnas.training.config import DataInfo
from pnas.training.loop import exported_network
from pnas.training.run import CHECKPOINT, SPEC, RunError, RunFolder, RunSpec

EXPORT_FORMAT = 1
"""The model.json format this version writes and reads; a newer one is refused."""
EXPORT_KIND = "pnas-export"
MODEL_JSON = "model.json"
WEIGHTS = "model.safetensors"


class ExportError(ValueError):
    """A model that cannot be exported or loaded; the message says why and what to do."""


@dataclass(frozen=True)
class TrainedRun:
    """A finished run's deployed network and what is known about it."""

    model: CellNetwork
    spec: RunSpec
    """The run's spec with the deployed network (no auxiliary head, drop-path or dropout)."""
    result: dict[str, Any]
    epoch: int


def class_names(data: DataInfo) -> list[str]:
    """Names of the network's outputs, in order (the index as text where the data set names none)."""
    return [data.class_name(i) for i in range(data.num_classes)]


def deployable_state(model: CellNetwork, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The trained weights the deployed ``model`` uses: without the auxiliary head's, and without those of
    cells that only the auxiliary head read (the deployed network does not build them)."""
    skipped = tuple(f"cells.{i}." for i, cell in enumerate(model.cells) if isinstance(cell, SkippedCell))
    return {k: v for k, v in state.items() if not k.startswith("aux_head.") and not (skipped and k.startswith(skipped))}


def load_weights(model: CellNetwork, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model`` strictly; a mismatch is an ExportError naming ``source``."""
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:300]
        raise ExportError(f"{source} does not fit the network it describes ({first})") from None


def finished_run(path: str | Path) -> TrainedRun:
    """The deployed network of the finished run in ``path``, in eval mode.

    Raises RunError for a folder that is not a run or a run that has not finished, and
    CheckpointError for a checkpoint of another network or a newer format.
    """
    folder = RunFolder(path)
    folder.require_run()
    spec = folder.read_spec()
    result = folder.read_result()
    state = folder.load_checkpoint(spec)
    epoch = 0 if state is None else int(state.get("epoch", 0))
    if result is None:
        raise RunError(
            f"run {folder.path} has not finished (epoch {epoch} of {spec.training.epochs}): "
            "run the same pnas train command to finish it"
        )
    if state is None:
        raise RunError(f"run {folder.path} has a result but no {CHECKPOINT}: train it again to get its weights")
    deployed = exported_network(spec)
    model = build_network(deployed.network)
    load_weights(model, deployable_state(model, state["model"]), str(folder.checkpoint_path))
    model.eval()
    return TrainedRun(model, deployed, result, epoch)


def read_export_json(folder: Path) -> dict[str, Any]:
    """The export's model.json, checked to be one this version reads."""
    path = folder / MODEL_JSON
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path} cannot be read ({exc}): export the run again with pnas export") from None
    if not isinstance(doc, dict) or doc.get("kind") != EXPORT_KIND or not isinstance(doc.get("format"), int):
        raise ExportError(f"{path} is not a pnas export description: export the run again with pnas export")
    if doc["format"] > EXPORT_FORMAT:
        raise ExportError(
            f"{path} has export format {doc['format']}, newer than the format {EXPORT_FORMAT} this version of pnas "
            "reads: upgrade pnas"
        )
    return doc


def misfit(doc: dict[str, Any], network: NetworkConfig) -> str | None:
    """What an export's model.json says of the input and outputs that the network it describes does not
    take or give (None when it fits): class names for each output, the input's channels and size, one mean
    and one positive std per channel."""
    shape = doc["input"]
    classes, channels, size = doc["classes"], network.in_channels, network.image_size
    if not isinstance(classes, list) or len(classes) != network.num_classes:
        named = len(classes) if isinstance(classes, list) else "no list of"
        return f"it names {named} classes but the network has {network.num_classes} outputs"
    if shape["channels"] != channels:
        return f"its input has {shape['channels']!r} channels but the network takes {channels}"
    if (shape["height"], shape["width"]) != (size, size):
        return f"its input is {shape['height']!r}x{shape['width']!r} pixels but the network takes {size}x{size}"
    for name, low in (("mean", -math.inf), ("std", 0.0)):
        values = shape[name]
        if not isinstance(values, list) or len(values) != channels:
            return f"its {name} {values!r} is not one number per channel ({channels})"
        if not all(isinstance(v, int | float) and low < v < math.inf for v in values):
            kind = "a positive number" if low == 0.0 else "a number"
            return f"its {name} {values!r} has a value that is not {kind}"
    return None


def data_info_of(doc: dict[str, Any]) -> DataInfo:
    """The DataInfo an export's model.json records."""
    shape = doc["input"]
    return DataInfo(
        dataset=str(doc["dataset"]),
        channels=int(shape["channels"]),
        image_size=int(shape["height"]),
        num_classes=len(doc["classes"]),
        mean=tuple(float(v) for v in shape["mean"]),
        std=tuple(float(v) for v in shape["std"]),
        classes=tuple(str(c) for c in doc["classes"]),
    )


def exported_model(path: str | Path) -> tuple[CellNetwork, DataInfo]:
    """The network of an export folder, rebuilt from model.json and model.safetensors (no run needed)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(path)
    doc = read_export_json(folder)
    try:
        config = NetworkConfig(**doc["network"])
        problem = misfit(doc, config)
        if problem is not None:
            raise ExportError(
                f"{folder / MODEL_JSON} does not fit the network it describes: {problem}; "
                "export the run again with pnas export"
            )
        data = data_info_of(doc)
    except ExportError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"{folder / MODEL_JSON} is damaged ({type(exc).__name__}: {exc})") from None
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ExportError(f"{folder} has no {WEIGHTS}: export the run again with pnas export")
    try:
        state = load_file(str(weights), device="cpu")
    except (OSError, SafetensorError) as exc:
        raise ExportError(f"{weights} cannot be read ({exc}): export the run again with pnas export") from None
    model = build_network(config)
    load_weights(model, state, str(weights))
    model.eval()
    return model, data


def attach(model: CellNetwork, data: DataInfo) -> CellNetwork:
    """Give ``model`` what a caller needs around it: ``preprocess``, ``classes``, ``data_info``."""
    setattr(model, "preprocess", Preprocess(data))  # noqa: B010 (nn.Module's __setattr__ is typed for tensors)
    setattr(model, "classes", class_names(data))  # noqa: B010
    setattr(model, "data_info", data)  # noqa: B010
    return model


def load(path: str | Path) -> CellNetwork:
    """The trained network of a finished run folder or an export folder, in eval mode, ready to predict.

    The returned network has ``preprocess`` (image -> input tensor 1xCxHxW), ``classes`` (output
    names, in order) and ``data_info``. Preprocessing is not part of ``forward``::

        model = pnas.load("runs/mine")
        probabilities = model(model.preprocess("shoe.png")).softmax(1)
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ExportError(f"{folder} does not exist: give a pnas export folder or a finished pnas train run")
    if (folder / MODEL_JSON).is_file():
        model, data = exported_model(folder)
    elif (folder / SPEC).is_file():
        run = finished_run(folder)
        model, data = run.model, run.spec.data
    else:
        raise ExportError(
            f"{folder} is neither a pnas export (no {MODEL_JSON}) nor a training run (no {SPEC}): "
            "give the --out folder of pnas export or of pnas train"
        )
    return attach(model, data)
