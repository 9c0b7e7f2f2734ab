"""Writing a finished run's network as files other programs can run, each checked against PyTorch.

An export folder holds::

    model.onnx          the network in ONNX (one file, weights inside, dynamic batch size)
    model.pt            the network in TorchScript (torch.jit.load, no pnas needed)
    model.safetensors   the weights, for pnas.load to rebuild the network from model.json
    model.json          what the files take and give: input shape and normalisation, class names, ...

Every file is written under a temporary name, checked (the ONNX and TorchScript files are loaded
back and run on random inputs at two batch sizes, their logits compared with PyTorch's), and only
then renamed into place, model.json last: an export that fails leaves the folder as it was. The
temporary files of an export that was killed are removed by the next export to the folder. A folder
that holds other files, and no earlier export, is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from pnas.export.model import (
    EXPORT_FORMAT,
    EXPORT_KIND,
    MODEL_JSON,
    WEIGHTS,
    ExportError,
    TrainedRun,
    class_names,
    finished_run,
)
from pnas.export.preprocess import describe_steps
from pnas.nets import CellNetwork
from pnas.training.checkpoint import fsync_path
from pnas.training.loop import versions
from pnas.training.run import SPEC

ONNX_OPSET = 18
"""The ONNX opset the exported graph uses: supported by onnxruntime 1.14 and later."""
ONNX_TOLERANCE = 1e-4
"""Largest absolute difference allowed between onnxruntime's logits and PyTorch's (float32, other kernels)."""
TORCHSCRIPT_TOLERANCE = 1e-5
"""Largest absolute difference allowed between TorchScript's logits and PyTorch's (same kernels)."""
TOLERANCES = {"onnx": ONNX_TOLERANCE, "torchscript": TORCHSCRIPT_TOLERANCE}

FILES = {"onnx": "model.onnx", "torchscript": "model.pt", "safetensors": WEIGHTS}
"""The file each format is written to."""
FORMATS = tuple(FILES)
DEFAULT_FORMATS = ("onnx", "torchscript")
CHECK_BATCHES = (1, 5)
"""Batch sizes the exported files are run at after writing: one image, and a batch (the batch axis is dynamic)."""
INPUT_NAME, OUTPUT_NAME = "input", "logits"
INSTALL_HINT = "pip install 'pnas[export]'"


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """The formats to write, in a fixed order; the weights (safetensors) are always among them."""
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    wanted = {str(name).strip().lower() for name in names} - {""}
    unknown = sorted(wanted - set(FORMATS))
    if unknown:
        raise ExportError(
            f"unknown export format {', '.join(map(repr, unknown))}: choose from {', '.join(FORMATS)} "
            f"(comma-separated; {WEIGHTS} and {MODEL_JSON} are always written)"
        )
    if not wanted:
        raise ExportError(f"no export format given: choose from {', '.join(FORMATS)}")
    return tuple(name for name in FORMATS if name in wanted or name == "safetensors")


def onnx_modules() -> tuple[Any, Any]:
    """``onnx`` and ``onnxruntime``, imported only when ONNX is asked for; a missing one says how to install it."""
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401 (torch's ONNX exporter needs it)
    except ImportError as exc:
        missing = exc.name or "a module"
        raise ExportError(
            f"exporting to ONNX needs onnx, onnxruntime and onnxscript, and {missing} is not installed: "
            f"{INSTALL_HINT}, or export with --format torchscript"
        ) from None
    return onnx, onnxruntime


def _check_out(out: Path, run_dir: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file, not a folder: pick a folder for the export")
    if out.resolve() == run_dir.resolve():
        raise ExportError(f"--out {out} is the run folder itself: pick another folder for the export")
    if (out / SPEC).is_file():
        raise ExportError(f"--out {out} holds a training run ({SPEC}): pick another folder for the export")
    if out.is_dir() and not _is_export(out):
        others = sorted(p.name for p in out.iterdir() if _Staging.writer(p) is None)
        if others:
            raise ExportError(
                f"--out {out} holds other files ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}) "
                "and is not a pnas export: pick a new or empty folder, or the folder of an earlier export"
            )


def _is_export(folder: Path) -> bool:
    """Whether ``folder`` holds an export (of any version), whose files an export may replace."""
    try:
        doc = json.loads((folder / MODEL_JSON).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("kind") == EXPORT_KIND


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


class _Staging:
    """Files written under temporary names in the export folder, renamed into place together at the end."""

    PATTERN = re.compile(r"\.(?P<name>{names})\.tmp-(?P<pid>[0-9]+)".format(
        names="|".join(re.escape(name) for name in (*FILES.values(), MODEL_JSON))
    ))  # fmt: skip

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.staged: dict[str, Path] = {}

    @classmethod
    def writer(cls, path: Path) -> int | None:
        """The process id of the export that wrote ``path`` under a temporary name; None for any other file."""
        match = cls.PATTERN.fullmatch(path.name)
        return int(match["pid"]) if match else None

    def remove_stale(self) -> None:
        """Remove the temporary files of exports that were killed: those whose process is gone (this one has
        written none yet, so one named after its id is an earlier process's)."""
        for path in self.folder.iterdir():
            pid = self.writer(path)
            if pid is not None and (pid == os.getpid() or not _alive(pid)):
                path.unlink(missing_ok=True)

    def path(self, name: str) -> Path:
        tmp = self.folder / f".{name}.tmp-{os.getpid()}"
        self.staged[name] = tmp
        return tmp

    def publish(self, stale: Iterable[str] = ()) -> list[Path]:
        """Rename every staged file into place, in the order staged (model.json last), removing ``stale`` files
        of an earlier export before model.json is replaced."""
        done = []
        for name, tmp in self.staged.items():
            if name == MODEL_JSON:
                for old in stale:
                    (self.folder / old).unlink(missing_ok=True)
            fsync_path(tmp)
            os.replace(tmp, self.folder / name)
            done.append(self.folder / name)
        fsync_path(self.folder)
        self.staged = {}
        return done

    def discard(self) -> None:
        for tmp in self.staged.values():
            tmp.unlink(missing_ok=True)
        self.staged = {}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' deprecation notices and progress logs: the checks below judge the result."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def check_inputs(spec_shape: tuple[int, int, int]) -> list[torch.Tensor]:
    """Random inputs (fixed seed) at each of CHECK_BATCHES: normalised images are roughly standard normal."""
    generator = torch.Generator().manual_seed(0)
    return [torch.randn((n, *spec_shape), generator=generator) for n in CHECK_BATCHES]


def _max_diff(outputs: Iterable[Any], references: list[torch.Tensor]) -> float:
    worst = 0.0
    for out, ref in zip(outputs, references):
        out = torch.as_tensor(out)
        if out.shape != ref.shape:
            return float("inf")
        worst = max(worst, float((out.float() - ref).abs().max()))
    return worst


def write_onnx(model: CellNetwork, example: torch.Tensor, path: Path) -> int:
    """Export ``model`` to one self-contained ONNX file with a dynamic batch axis; returns the opset written."""
    onnx, _ = onnx_modules()
    batch = torch.export.Dim("batch", min=1)
    try:
        with _quiet(), torch.no_grad():
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                opset_version=ONNX_OPSET,
                dynamo=True,
                external_data=False,
                dynamic_shapes=({0: batch},),
                optimize=True,
                verbose=False,
            )
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # the exporter and the checker raise many kinds
        raise ExportError(
            f"the ONNX export failed ({_first_line(exc)}): export with --format torchscript instead"
        ) from None
    proto = onnx.load(str(path), load_external_data=False)
    names = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise ExportError(
            f"the ONNX graph has inputs {names[0]} and outputs {names[1]}, not {INPUT_NAME} -> {OUTPUT_NAME}"
        )
    opsets = {o.domain: o.version for o in proto.opset_import}
    return int(opsets.get("", opsets.get("ai.onnx", ONNX_OPSET)))


def check_onnx(path: Path, inputs: list[torch.Tensor], references: list[torch.Tensor]) -> float:
    """Largest absolute difference between onnxruntime's logits for the file at ``path`` and ``references``."""
    _, ort = onnx_modules()
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return _max_diff((session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0] for x in inputs), references)


def write_torchscript(model: CellNetwork, example: torch.Tensor, path: Path) -> None:
    """Trace ``model`` (eval mode: one path through it, the input size fixed, the batch size free) and save it."""
    try:
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(model, example, check_trace=False)
            torch.jit.save(traced, str(path))
    except Exception as exc:  # tracing raises many kinds
        raise ExportError(
            f"the TorchScript export failed ({_first_line(exc)}): export with --format onnx instead"
        ) from None


def check_torchscript(path: Path, inputs: list[torch.Tensor], references: list[torch.Tensor]) -> float:
    """Largest absolute difference between the saved TorchScript module's logits and ``references``."""
    with _quiet():
        loaded = torch.jit.load(str(path), map_location="cpu")
    loaded.eval()
    with torch.inference_mode():
        return _max_diff((loaded(x) for x in inputs), references)


def write_weights(model: CellNetwork, path: Path, cell: str) -> None:
    """The weights as safetensors (written through Python so the file gets the usual permissions)."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path.write_bytes(save(state, metadata={"format": EXPORT_KIND, "cell": cell}))


def _within(name: str, diff: float) -> None:
    tolerance = TOLERANCES[name]
    if not diff <= tolerance:  # also catches NaN
        raise ExportError(
            f"the {name} model's logits differ from PyTorch's by up to {diff:.3g}, more than the tolerance "
            f"{tolerance:g}: nothing was written; export with the other format, or report the cell and versions"
        )


def describe(run: TrainedRun, formats: tuple[str, ...], opset: int | None, diffs: dict[str, float]) -> dict[str, Any]:
    """The model.json document: what the files take and give, and where they came from."""
    spec, data = run.spec, run.spec.data
    extra: dict[str, str] = {}
    if "onnx" in formats:
        onnx, ort = onnx_modules()
        extra = {"onnx": onnx.__version__, "onnxruntime": ort.__version__}
    return {
        "kind": EXPORT_KIND,
        "format": EXPORT_FORMAT,
        "cell": str(spec.network.cell),
        "network": spec.network.to_json(),
        "dataset": data.dataset,
        "input": {
            "name": INPUT_NAME,
            "channels": data.channels,
            "height": data.image_size,
            "width": data.image_size,
            "layout": "NCHW",
            "dtype": "float32",
            "mean": list(data.mean),
            "std": list(data.std),
            "preprocess": describe_steps(data),
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", data.num_classes],
            "meaning": "class scores (logits) in the order of classes; softmax over axis 1 gives probabilities",
        },
        "classes": class_names(data),
        "formats": list(formats),
        "files": {name: FILES[name] for name in formats},
        "opset": opset,
        "tolerance": {name: TOLERANCES[name] for name in formats if name in TOLERANCES},
        "max_abs_diff": diffs,
        "checked_batch_sizes": list(CHECK_BATCHES),
        "test_accuracy": run.result.get("test_accuracy"),
        "epochs": run.epoch,
        "params": run.result.get("params"),
        "mult_adds": run.result.get("mult_adds"),
        "versions": {**versions(), **extra},
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    formats: str | Iterable[str] = DEFAULT_FORMATS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Export the finished run in ``run_dir`` to ``out_dir`` (see the module docstring); returns a summary.

    Everything that can be refused is refused before ``out_dir`` is touched: a folder that is
    not a run, an unfinished run, a checkpoint of another network or a newer format, an unknown
    format, ONNX asked for without onnx installed, an ``out_dir`` that holds other files and no
    export. A file that fails its check is not written.
    ``progress`` is told what is being written, once the checks have passed (an export takes
    seconds to minutes).
    """
    chosen = parse_formats(formats)
    run_path, out = Path(run_dir).expanduser(), Path(out_dir).expanduser()
    if (run_path / MODEL_JSON).is_file() and not (run_path / SPEC).is_file():
        raise ExportError(f"{run_path} is an export already: pnas export reads the folder a pnas train run wrote")
    run = finished_run(run_path)
    _check_out(out, run_path)
    if "onnx" in chosen:
        onnx_modules()
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    had_export = (out / MODEL_JSON).is_file()
    staging = _Staging(out)
    staging.remove_stale()
    try:
        summary = _write(run, chosen, staging, progress or (lambda message: None))
        stale = [FILES[name] for name in FORMATS if name not in chosen] if had_export else []
        files = staging.publish(stale)
    except BaseException:
        staging.discard()
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    return {**summary, "out": str(out), "files": [str(p) for p in files]}


def _write(
    run: TrainedRun, formats: tuple[str, ...], staging: _Staging, progress: Callable[[str], None]
) -> dict[str, Any]:
    model = run.model
    model.eval()
    shape = run.spec.network.input_shape
    inputs = check_inputs(shape)
    with torch.inference_mode():
        references = [model(x) for x in inputs]
    example = torch.randn((2, *shape), generator=torch.Generator().manual_seed(1))
    diffs: dict[str, float] = {}
    opset = None
    if "onnx" in formats:
        progress(f"exporting to ONNX (opset {ONNX_OPSET}) and checking it with onnxruntime ...")
        path = staging.path(FILES["onnx"])
        opset = write_onnx(model, example, path)
        diffs["onnx"] = check_onnx(path, inputs, references)
        _within("onnx", diffs["onnx"])
    if "torchscript" in formats:
        progress("exporting to TorchScript and checking it ...")
        path = staging.path(FILES["torchscript"])
        write_torchscript(model, example, path)
        diffs["torchscript"] = check_torchscript(path, inputs, references)
        _within("torchscript", diffs["torchscript"])
    write_weights(model, staging.path(WEIGHTS), str(run.spec.network.cell))
    doc = describe(run, formats, opset, diffs)
    json_path = staging.path(MODEL_JSON)
    json_path.write_text(json.dumps(doc, indent=2) + "\n")
    return {
        "formats": list(formats),
        "opset": opset,
        "max_abs_diff": diffs,
        "tolerance": doc["tolerance"],
        "test_accuracy": doc["test_accuracy"],
    }
