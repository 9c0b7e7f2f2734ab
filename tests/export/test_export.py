"""Export round trip: ONNX and TorchScript files agree with PyTorch, pnas.load reads runs and exports alike,
pnas predict classifies images, and every bad input is one clear error line that writes nothing."""

import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import pnas
from pnas.cli.main import main
from pnas.evaluation.data import FASHION_MNIST_CLASSES, load_fashion_mnist, load_test
from pnas.export import ONNX_OPSET, ONNX_TOLERANCE, TORCHSCRIPT_TOLERANCE, ExportError, ImageError, export_run, writer
from pnas.export.model import deployable_state, load_weights
from pnas.nets import NetworkConfig, build_network
from pnas.nets.cell import SkippedCell
from pnas.space import Cell
from pnas.training import CheckpointError, NetworkChoices, RunError, RunFolder, TrainConfig, make_spec, train_run

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

CELL = Cell.parse("sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)")
TINY = TrainConfig(epochs=1, train_subset=256, batch_size=64, lr=0.05, device="cpu", aux_weight=0.4, threads=1)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two cores shared with other work: more threads make each step many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train") / "run"
    spec = make_spec(CELL, TINY, NetworkChoices(cells_per_stack=1, filters=8))
    assert spec.network.aux_head  # the exported network must leave the trained aux head out
    train_run(spec, RunFolder(folder))
    return folder


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    """The run exported through the CLI in both formats; returns the folder and the --json summary."""
    out = tmp_path_factory.mktemp("export") / "model"
    result = cli("export", str(run_dir), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Two Fashion-MNIST test images as PNG files, their raw pixels and labels."""
    raw = load_fashion_mnist()
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(2):
        paths.append(folder / f"test{i}.png")
        Image.fromarray(raw.test_images[i, 0]).save(paths[-1])
    return paths, raw.test_images[:2, 0], raw.test_labels[:2]


def cli(*args):
    return CliRunner().invoke(main, list(args))


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def script(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream, still supported
        return torch.jit.load(str(path))


def pytorch_logits(model, x):
    with torch.inference_mode():
        return model(x)


def max_diff(a, b):
    return float((torch.as_tensor(a) - torch.as_tensor(b)).abs().max())


def assert_one_error_line(result):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output and result.stdout == ""
    return lines[0]


# --- the files ------------------------------------------------------------------------------------


def test_export_writes_three_checked_files_and_a_description(exported, run_dir):
    out, summary = exported
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.onnx", "model.pt", "model.safetensors"]
    assert summary["opset"] == ONNX_OPSET and summary["formats"] == ["onnx", "torchscript", "safetensors"]
    assert summary["max_abs_diff"]["onnx"] <= ONNX_TOLERANCE
    assert summary["max_abs_diff"]["torchscript"] <= TORCHSCRIPT_TOLERANCE
    assert summary["tolerance"] == {"onnx": ONNX_TOLERANCE, "torchscript": TORCHSCRIPT_TOLERANCE}
    doc = json.loads((out / "model.json").read_text())
    assert doc["input"] | {"preprocess": None, "mean": None, "std": None} == {
        "name": "input", "channels": 1, "height": 28, "width": 28, "layout": "NCHW", "dtype": "float32",
        "preprocess": None, "mean": None, "std": None,
    }  # fmt: skip
    assert len(doc["input"]["mean"]) == len(doc["input"]["std"]) == 1 and "bilinear" in doc["input"]["preprocess"]
    assert doc["classes"] == list(FASHION_MNIST_CLASSES) and doc["dataset"] == "fashion-mnist"
    assert doc["cell"] == str(CELL) and doc["network"]["aux_head"] is False and doc["network"]["drop_path"] == 0
    assert doc["opset"] == ONNX_OPSET and doc["tolerance"]["onnx"] == ONNX_TOLERANCE
    assert doc["test_accuracy"] == json.loads((run_dir / "result.json").read_text())["test_accuracy"]
    assert {"pnas", "torch", "onnx", "onnxruntime"} <= set(doc["versions"])


def test_onnx_file_is_self_contained_with_a_dynamic_batch(exported):
    out, _ = exported
    onnx.checker.check_model(str(out / "model.onnx"), full_check=True)
    proto = onnx.load(str(out / "model.onnx"), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    (given,) = proto.graph.input
    dims = given.type.tensor_type.shape.dim
    assert given.name == "input" and given.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 28, 28]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert {o.domain: o.version for o in proto.opset_import}.get("", ONNX_OPSET) == ONNX_OPSET


@pytest.mark.parametrize("batch", [1, 7])
def test_onnx_and_torchscript_match_pytorch_on_random_inputs(exported, run_dir, batch):
    out, _ = exported
    model = pnas.load(run_dir)
    x = torch.randn((batch, 1, 28, 28), generator=torch.Generator().manual_seed(batch))
    reference = pytorch_logits(model, x)
    (from_onnx,) = session(out / "model.onnx").run(["logits"], {"input": x.numpy()})
    from_script = script(out / "model.pt")(x)
    assert from_onnx.shape == from_script.shape == (batch, 10)
    assert max_diff(from_onnx, reference) <= ONNX_TOLERANCE
    assert max_diff(from_script.detach(), reference) <= TORCHSCRIPT_TOLERANCE


def test_a_real_image_gives_the_same_answer_everywhere(exported, run_dir, images):
    out, _ = exported
    paths, pixels, _ = images
    model = pnas.load(run_dir)
    x = model.preprocess(paths[0])
    test_x, _ = load_test("fashion-mnist")
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert max_diff(x, test_x[:1]) <= 1e-6  # the same normalisation as the test set the run was scored on
    assert torch.equal(model.preprocess(pixels[0]), x) and torch.equal(model.preprocess(Image.open(paths[0])), x)
    reference = pytorch_logits(model, x)
    (from_onnx,) = session(out / "model.onnx").run(["logits"], {"input": x.numpy()})
    assert max_diff(from_onnx, reference) <= ONNX_TOLERANCE
    assert max_diff(script(out / "model.pt")(x).detach(), reference) <= TORCHSCRIPT_TOLERANCE


def test_load_reads_a_run_and_its_export_alike(exported, run_dir, images):
    out, _ = exported
    from_run, from_export = pnas.load(run_dir), pnas.load(out)
    for model in (from_run, from_export):
        assert not model.training and model.aux_head is None
        assert model.classes == list(FASHION_MNIST_CLASSES)
    assert from_run.data_info == from_export.data_info
    x = torch.cat([from_run.preprocess(p) for p in images[0]] + [torch.randn(3, 1, 28, 28)])
    assert torch.equal(pytorch_logits(from_run, x), pytorch_logits(from_export, x))


def test_preprocess_converts_and_resizes_any_image(run_dir):
    preprocess = pnas.load(run_dir).preprocess
    colour = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    assert preprocess(colour).shape == (1, 1, 28, 28)
    assert preprocess(colour[:, :, :1]).shape == (1, 1, 28, 28)
    with pytest.raises(ImageError, match="uint8"):
        preprocess(colour.astype(np.float32))
    with pytest.raises(ImageError, match="shape"):
        preprocess(np.zeros((4, 4, 2), dtype=np.uint8))


def test_a_cell_only_the_aux_head_read_is_left_out():
    config = NetworkConfig(cell="sep3x3(h2)+identity(h2)", in_channels=1, image_size=28, cells_per_stack=1, filters=8)
    torch.manual_seed(0)
    trained = build_network(config.replace(aux_head=True)).eval()
    deployed = build_network(config)
    assert any(isinstance(c, SkippedCell) for c in deployed.cells)
    assert not any(isinstance(c, SkippedCell) for c in trained.cells)
    load_weights(deployed, deployable_state(deployed, trained.state_dict()), "trained")
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(pytorch_logits(deployed.eval(), x), pytorch_logits(trained, x))


# --- the commands ---------------------------------------------------------------------------------


def test_predict_classifies_two_images(exported, run_dir, images):
    out, _ = exported
    paths, _, _ = images
    result = cli("predict", str(out), *map(str, paths), "--top", "3", "--json")
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    assert [a["image"] for a in answers] == [str(p) for p in paths]
    model = pnas.load(run_dir)
    for answer, path in zip(answers, paths):
        probabilities = pytorch_logits(model, model.preprocess(path)).softmax(1)[0]
        top = answer["top"]
        assert len(top) == 3 and [t["probability"] for t in top] == sorted(
            (t["probability"] for t in top), reverse=True
        )
        assert (
            top[0]["index"] == int(probabilities.argmax()) and top[0]["class"] == FASHION_MNIST_CLASSES[top[0]["index"]]
        )
        assert abs(top[0]["probability"] - float(probabilities.max())) < 1e-6
    text = cli("predict", str(run_dir), *map(str, paths), "--top", "2")
    assert text.exit_code == 0 and str(paths[1]) in text.stdout and text.stdout.count("  1. ") == 2


def test_export_text_output_and_a_second_export_replacing_the_first(exported, run_dir, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(exported[0], out)
    result = cli("export", str(run_dir), "--out", str(out), "--format", "torchscript")
    assert result.exit_code == 0, result.output
    assert "model.pt" in result.stdout and "tolerance 1e-05" in result.stdout and "pnas predict" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.pt", "model.safetensors"]  # no stale ONNX
    assert json.loads((out / "model.json").read_text())["opset"] is None


def test_an_export_removes_what_a_killed_export_left_and_keeps_a_running_ones(exported, run_dir, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(exported[0], out)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = int(gone.stdout), os.getppid()
    for name in ("model.onnx", "model.json"):
        (out / f".{name}.tmp-{dead}").write_bytes(b"half an export")  # killed (kill -9) while writing
    (out / f".model.pt.tmp-{alive}").write_bytes(b"an export still running")
    result = cli("export", str(run_dir), "--out", str(out), "--format", "safetensors")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f".model.pt.tmp-{alive}", "model.json", "model.safetensors"]


def test_a_folder_holding_other_files_is_refused_and_left_as_it_was(run_dir, tmp_path):
    for files in ({"model.json": '{"mine": true}'}, {"notes.txt": "mine", "model.onnx": "not ours"}):
        out = tmp_path / f"out{len(files)}"
        out.mkdir()
        for name, text in files.items():
            (out / name).write_text(text)
        line = assert_one_error_line(cli("export", str(run_dir), "--out", str(out), "--format", "safetensors"))
        assert f"--out {out} holds other files" in line and "not a pnas export" in line
        assert {p.name: p.read_text() for p in out.iterdir()} == files


# --- refusals -------------------------------------------------------------------------------------


def copy_run(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    return copy


def not_a_run(run_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty", "is not a pnas training run"


def missing(run_dir, tmp_path):
    return tmp_path / "nowhere", "does not exist"


def unfinished(run_dir, tmp_path):
    copy = copy_run(run_dir, tmp_path)
    (copy / "result.json").unlink()
    return copy, f"run {copy} has not finished (epoch 1 of 1): run the same pnas train command to finish it"


def other_network(run_dir, tmp_path):
    copy = copy_run(run_dir, tmp_path)
    doc = json.loads((copy / "train.json").read_text())
    doc["network"]["filters"] = 16
    (copy / "train.json").write_text(json.dumps(doc))
    return copy, "was written for another network"


def newer_checkpoint(run_dir, tmp_path):
    copy = copy_run(run_dir, tmp_path)
    state = torch.load(copy / "checkpoint.pt", weights_only=True)
    torch.save({**state, "format": 99}, copy / "checkpoint.pt")
    return copy, "checkpoint format 99, newer than"


REFUSALS = [not_a_run, missing, unfinished, other_network, newer_checkpoint]


@pytest.mark.parametrize("make", REFUSALS, ids=lambda f: f.__name__)
def test_export_refuses_a_bad_run_and_writes_nothing(make, run_dir, tmp_path):
    folder, message = make(run_dir, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    line = assert_one_error_line(cli("export", str(folder), "--out", str(out)))
    assert message in line
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("make", [unfinished, other_network, newer_checkpoint, missing], ids=lambda f: f.__name__)
def test_load_refuses_a_bad_run(make, run_dir, tmp_path):
    folder, message = make(run_dir, tmp_path)
    with pytest.raises((RunError, CheckpointError, ExportError), match=re.escape(message)):
        pnas.load(folder)


def test_load_refuses_a_folder_that_is_neither(tmp_path):
    with pytest.raises(ExportError, match="neither a pnas export .* nor a training run"):
        pnas.load(tmp_path)


def test_export_refuses_an_unknown_format_and_a_missing_onnx(run_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    line = assert_one_error_line(cli("export", str(run_dir), "--out", str(out), "--format", "onnx,tflite"))
    assert "unknown export format 'tflite'" in line
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    line = assert_one_error_line(cli("export", str(run_dir), "--out", str(out)))
    assert "onnxruntime is not installed" in line and "pip install 'pnas[export]'" in line
    assert not out.exists()


def test_a_file_that_fails_its_check_is_not_written(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(writer.TOLERANCES, "torchscript", -1.0)
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="differ from PyTorch's"):
        export_run(run_dir, out, "torchscript")
    assert not out.exists()
    out.mkdir()
    line = assert_one_error_line(cli("export", str(run_dir), "--out", str(out), "--format", "torchscript", "--json"))
    assert "tolerance" in line and list(out.iterdir()) == []


def test_predict_refuses_a_missing_or_unreadable_image(exported, tmp_path, images):
    out, _ = exported
    line = assert_one_error_line(cli("predict", str(out), str(images[0][0]), str(tmp_path / "gone.png")))
    assert line == f"error: {tmp_path / 'gone.png'}: no such image file"
    (tmp_path / "notes.png").write_text("not an image")
    line = assert_one_error_line(cli("predict", str(out), str(tmp_path / "notes.png")))
    assert "not a readable image" in line
    line = assert_one_error_line(cli("predict", str(tmp_path), str(images[0][0])))
    assert "neither a pnas export" in line
