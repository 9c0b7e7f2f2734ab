"""An export folder's model.json is checked against the network it describes: a description that does not fit
(fewer class names than outputs, a std of 0, another input size) is refused in one line by pnas.load and
pnas predict, before any image is read."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import pnas
from pnas.cli.main import main
from pnas.export import ExportError
from pnas.export.model import MODEL_JSON, WEIGHTS, TrainedRun
from pnas.export.writer import describe, write_weights
from pnas.nets import NetworkConfig, build_network
from pnas.training import TrainConfig
from pnas.training.config import DataInfo
from pnas.training.run import RunSpec

CLASSES = ("ant", "bee", "cat")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An export folder of an untrained 3-class network on 8x8 grayscale images (no training needed to check
    what model.json says)."""
    folder = tmp_path_factory.mktemp("export") / "model"
    folder.mkdir()
    network = NetworkConfig(
        cell="sep3x3(h1)+identity(h2)", in_channels=1, image_size=8, num_classes=3, cells_per_stack=1, filters=4
    )
    data = DataInfo("toy", channels=1, image_size=8, num_classes=3, mean=(0.5,), std=(0.25,), classes=CLASSES)
    model = build_network(network).eval()
    write_weights(model, folder / WEIGHTS, str(network.cell))
    doc = describe(TrainedRun(model, RunSpec(network, TrainConfig(), data), {}, 1), (), None, {})
    (folder / MODEL_JSON).write_text(json.dumps(doc))
    return folder


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "one.png"
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(path)
    return path


def changed(exported, tmp_path, change):
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    doc = json.loads((copy / MODEL_JSON).read_text())
    change(doc)
    (copy / MODEL_JSON).write_text(json.dumps(doc))
    return copy


def fewer_classes(doc):
    doc["classes"] = doc["classes"][:2]


def zero_std(doc):
    doc["input"]["std"] = [0.0]


def huge_height(doc):
    doc["input"]["height"] = 100000


def other_width(doc):
    doc["input"]["width"] = 16


def more_channels(doc):
    doc["input"]["channels"] = 3


def two_means(doc):
    doc["input"]["mean"] = [0.5, 0.5]


def text_std(doc):
    doc["input"]["std"] = ["wide"]


MISFITS = {
    fewer_classes: "it names 2 classes but the network has 3 outputs",
    zero_std: "its std [0.0] has a value that is not a positive number",
    huge_height: "its input is 100000x8 pixels but the network takes 8x8",
    other_width: "its input is 8x16 pixels but the network takes 8x8",
    more_channels: "its input has 3 channels but the network takes 1",
    two_means: "its mean [0.5, 0.5] is not one number per channel (1)",
    text_std: "its std ['wide'] has a value that is not a positive number",
}


def test_an_intact_export_loads_and_predicts(exported, image):
    model = pnas.load(exported)
    assert model.classes == list(CLASSES)
    result = CliRunner().invoke(main, ["predict", str(exported), str(image), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["top"][0]["class"] in CLASSES


@pytest.mark.parametrize("change", MISFITS, ids=lambda f: f.__name__)
def test_a_description_that_does_not_fit_the_network_is_refused(exported, image, tmp_path, change):
    folder = changed(exported, tmp_path, change)
    said = MISFITS[change]
    with pytest.raises(ExportError) as refused:
        pnas.load(folder)
    assert str(refused.value).startswith(f"{folder / MODEL_JSON} does not fit the network it describes: {said}; ")
    result = CliRunner().invoke(main, ["predict", str(folder), str(image)])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and said in lines[0], result.output
    assert "export the run again with pnas export" in lines[0]
