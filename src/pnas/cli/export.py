"""``pnas export`` and ``pnas predict``: a finished run's network as ONNX / TorchScript files, and using it."""

from __future__ import annotations

from typing import Any, cast

import click

from pnas.cli.main import main
from pnas.cli.output import emit_json, err_console, fail

FORMAT_NAMES = {"onnx": "ONNX", "torchscript": "TorchScript", "safetensors": "weights (safetensors)"}


@main.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option(
    "--out", required=True, help="Folder to write the exported files into: new, empty, or an earlier export's."
)
@click.option(
    "--format",
    "formats",
    default="onnx,torchscript",
    show_default=True,
    help="Comma-separated: onnx, torchscript, safetensors. The weights and model.json are always written.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: files, opset, differences, tolerances.")
def export(run_dir: str, out: str, formats: str, as_json: bool) -> None:
    """Export the finished training run RUN_DIR (the --out of pnas train) for deployment.

    Writes model.onnx (one file, dynamic batch size), model.pt (TorchScript), model.safetensors
    (the weights) and model.json (input shape, normalisation, class names). Each file is loaded
    back and run on random inputs; an export whose logits differ from PyTorch's by more than the
    stated tolerance is refused, and the folder is left as it was.
    """
    from pnas.export import export_run

    try:
        summary = export_run(run_dir, out, formats, progress=None if as_json else err_console.print)
    except ValueError as exc:  # RunError, CheckpointError, ExportError: one line that says what to do
        fail(str(exc))
        return
    except OSError as exc:
        fail(f"cannot write the export to {out}: {exc}")
        return
    if as_json:
        emit_json(summary)
        return
    for path in summary["files"]:
        click.echo(f"wrote {path}  {_what(path, summary)}")
    click.echo(f"predict with: pnas predict {summary['out']} IMAGE")


def _what(path: str, summary: dict[str, Any]) -> str:
    """One file's line: its format and, for a runnable one, the measured difference from PyTorch."""
    from pnas.export.writer import FILES

    name = next((fmt for fmt, file in FILES.items() if path.endswith(file)), None)
    if name is None:
        return "(description: input, normalisation, classes)"
    text = FORMAT_NAMES[name]
    if name == "onnx":
        text += f", opset {summary['opset']}, dynamic batch size"
    if name in summary["max_abs_diff"]:
        text += (
            f", max |logit difference| {summary['max_abs_diff'][name]:.2g} (tolerance {summary['tolerance'][name]:g})"
        )
    return text


@main.command()
@click.argument("model_dir", metavar="DIR")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE [IMAGE ...]")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True, help="Classes shown per image.")
@click.option("--json", "as_json", is_flag=True, help='Print a JSON list: {"image", "top": [{"class", "index", "probability"}]}.')  # fmt: skip
def predict(model_dir: str, images: tuple[str, ...], top: int, as_json: bool) -> None:
    """Classify IMAGE files with the network in DIR: a pnas export folder or a finished pnas train run.

    Each image is converted, resized and normalised as the network was trained; the most likely
    classes are shown with their softmax probabilities.
    """
    import torch

    from pnas.export import Preprocess, load

    try:
        model = load(model_dir)
        # load() sets these beside the network's modules, where nn.Module's typing cannot see them.
        preprocess, classes = cast(Preprocess, model.preprocess), cast(list[str], model.classes)
        batch = torch.cat([preprocess(image) for image in images])
    except ValueError as exc:  # ExportError, RunError, CheckpointError, ImageError
        fail(str(exc))
        return
    except OSError as exc:
        fail(f"cannot read {model_dir}: {exc}")
        return
    with torch.inference_mode():
        probabilities = model(batch).softmax(dim=1)
    k = min(top, probabilities.shape[1])
    values, indices = probabilities.topk(k, dim=1)
    results: list[dict[str, Any]] = [
        {
            "image": image,
            "top": [
                {"class": classes[int(i)], "index": int(i), "probability": float(p)}
                for p, i in zip(row_values, row_indices)
            ],
        }
        for image, row_values, row_indices in zip(images, values, indices)
    ]
    if as_json:
        emit_json(results)
        return
    for result in results:
        click.echo(result["image"])
        for rank, entry in enumerate(result["top"], 1):
            click.echo(f"  {rank}. {entry['class']:<24} {entry['probability']:.4f}")
