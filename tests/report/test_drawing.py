"""Cell drawings: PNAS and NB201 cells to PNG, SVG and PDF, errors, and ``pnas draw``."""

import importlib
import json

import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure
from PIL import Image

from pnas.report.drawing import draw_cell, save_cell
from pnas.space import PNASNET5_CELL, Cell
from pnas.space.nb201 import Nb201Cell

PNASNET5_TEXT = "sep5x5(h2)+max3x3(h2); sep7x7(h1)+max3x3(h1); sep3x3(h1)+sep5x5(h1); max3x3(h1)+sep3x3(b3); identity(h1)+sep3x3(h2)"
NB201_TEXT = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"


def test_the_pnasnet5_text_is_the_projects_cell():
    assert Cell.parse(PNASNET5_TEXT) == PNASNET5_CELL


@pytest.fixture(scope="module")
def pnasnet5_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drawings")
    return {fmt: save_cell(PNASNET5_TEXT, folder / f"cell.{fmt}") for fmt in ("png", "svg", "pdf")}


def test_pnasnet5_in_each_format(pnasnet5_files):
    for fmt, path in pnasnet5_files.items():
        assert path.suffix == f".{fmt}" and path.stat().st_size > 1000
    assert pnasnet5_files["pdf"].read_bytes().startswith(b"%PDF")
    with Image.open(pnasnet5_files["png"]) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert width >= 300 and height >= 200
    assert 800 <= width <= 2000  # about 1200 x 700


def test_svg_holds_every_label(pnasnet5_files):
    svg = pnasnet5_files["svg"].read_text()
    for label in (
        "H(c-1)",
        "H(c-2)",
        "h1",
        "h2",
        "concat",
        "H(c)",
        "sep 3x3",
        "sep 5x5",
        "sep 7x7",
        "max 3x3",
        "identity",
    ):
        assert f">{label}<" in svg, label
    for block in range(1, 6):
        assert f">b{block}<" in svg


def test_svg_and_pdf_are_the_same_each_time(tmp_path):
    for fmt in ("svg", "pdf"):
        a = save_cell(PNASNET5_CELL, tmp_path / f"a.{fmt}").read_bytes()
        b = save_cell(PNASNET5_CELL, tmp_path / f"b.{fmt}").read_bytes()
        assert a == b


def overlapping_texts(figure):
    """Pairs of texts (labels with their boxes) that overlap by more than a pixel in the rendered figure."""
    renderer = figure.canvas.get_renderer()
    figure.draw(renderer)
    boxes = [(t.get_text(), (t.get_bbox_patch() or t).get_window_extent(renderer)) for t in figure.axes[0].texts]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0) > 1
        and min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0) > 1
    ]


@pytest.mark.parametrize(
    "cell",
    [
        PNASNET5_TEXT,
        "max3x3(h1)+avg3x3(h2); conv1x7_7x1(b1)+dil3x3(b1); sep3x3(b1)+sep3x3(b2); sep3x3(h1)+dil3x3(b2); sep5x5(h2)+avg3x3(b1)",
        NB201_TEXT,
    ],
)
def test_no_labels_overlap(cell):
    assert overlapping_texts(draw_cell(cell)) == []


def test_every_operator_has_a_label(tmp_path):
    cell = "dil3x3(h1)+conv1x7_7x1(h2); avg3x3(b1)+sep3x3(h1)"
    svg = save_cell(cell, tmp_path / "ops.svg", concat="unused", title="every family").read_text()
    for label in ("dil 3x3", "conv 1x7/7x1", "avg 3x3", "sep 3x3", "every family", "(unused)"):
        assert f">{label}<" in svg, label


def test_one_block_cell(tmp_path):
    figure = draw_cell(Cell.parse("sep3x3(h1)+identity(h2)"), title="one block")
    assert isinstance(figure, Figure)
    path = save_cell("sep3x3(h1)+identity(h2)", tmp_path / "one.png")
    with Image.open(path) as image:
        assert image.size[0] >= 300 and image.size[1] >= 200


def test_nb201_cell(tmp_path):
    svg = save_cell(NB201_TEXT, tmp_path / "nb201.svg").read_text()
    for label in ("conv 3x3", "conv 1x1", "avg 3x3", "identity", "none", "0", "3", "input", "output"):
        assert f">{label}<" in svg, label
    assert isinstance(draw_cell(Nb201Cell.parse(NB201_TEXT)), Figure)
    assert isinstance(draw_cell(Nb201Cell(("none",) * 6)), Figure)


def test_drawing_into_given_axes():
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    assert draw_cell(PNASNET5_CELL, ax=left) is figure
    assert draw_cell(NB201_TEXT, ax=right, title="nb201") is figure


@pytest.mark.parametrize(
    "text, words",
    [
        ("sep3x3(h1)+nope(h2)", "unknown operator 'nope'"),
        ("sep3x3(h1)+identity(b2)", "block 1 reads b2"),
        ("sep3x3(h1)", "two halves"),
        ("", "empty cell text"),
        ("|nor_conv_3x3~0|+|none~0|", "NAS-Bench-201"),
        ("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown NAS-Bench-201 operator"),
    ],
)
def test_bad_text_is_a_clear_error(text, words):
    with pytest.raises(ValueError, match="bad .*cell text|empty cell text") as info:
        draw_cell(text)
    assert words in str(info.value)


def test_bad_suffix_and_options(tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf"):
        save_cell(PNASNET5_CELL, tmp_path / "cell.jpg")
    assert not (tmp_path / "cell.jpg").exists()
    with pytest.raises(ValueError, match="concat"):
        draw_cell(PNASNET5_CELL, concat="some")
    with pytest.raises(ValueError, match="space"):
        draw_cell(PNASNET5_CELL, space="nb201")


def run_draw(*args):
    from pnas.cli.main import main

    importlib.import_module("pnas.cli.draw")  # until main lists it
    return CliRunner().invoke(main, ["draw", *args])


def test_cli_writes_the_file(tmp_path):
    out = tmp_path / "sub" / "cell.png"
    result = run_draw(PNASNET5_TEXT, "--out", str(out), "--title", "PNASNet-5")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    assert out.stat().st_size > 1000


def test_cli_json_is_one_document(tmp_path):
    out = tmp_path / "cell.svg"
    result = run_draw(PNASNET5_TEXT, "--out", str(out), "--concat", "unused", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["path"] == str(out) and doc["format"] == "svg" and doc["blocks"] == 5
    assert doc["space"] == "pnas" and doc["cell"] == str(PNASNET5_CELL)
    doc = json.loads(run_draw(NB201_TEXT, "--out", str(tmp_path / "nb.pdf"), "--json").output)
    assert doc["format"] == "pdf" and doc["space"] == "nb201" and doc["blocks"] == 4


@pytest.mark.parametrize(
    "args, words",
    [
        (["sep3x3(h1)+nope(h2)", "--out", "x.png"], "unknown operator 'nope'"),
        (["sep3x3(h1)+identity(h2)", "--out", "x.gif"], ".png, .svg, .pdf"),
        ([NB201_TEXT, "--out", "x.png", "--concat", "all"], "PNAS cells only"),
        (["sep3x3(h1)+identity(h2)", "--space", "nb201", "--out", "x.png"], "NAS-Bench-201"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, args, words):
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = run_draw(*args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())
