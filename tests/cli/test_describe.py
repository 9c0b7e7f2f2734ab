import json

import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.space import PNASNET5_CELL


def run(*args):
    return CliRunner().invoke(main, ["describe", *args])


def test_large_json_has_published_counts():
    result = run("pnasnet5-large", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["params"] == 86_057_668
    assert abs(doc["mult_adds"] / 25.0e9 - 1) < 0.03
    assert doc["cell"] == str(PNASNET5_CELL)
    assert doc["config"]["image_size"] == 331
    assert doc["published"]["params"] == 86_100_000


def test_mobile_json():
    doc = json.loads(run("pnasnet5-mobile", "--json").output)
    assert doc["params"] == 5_064_487
    assert abs(doc["mult_adds"] / 588e6 - 1) < 0.03
    assert isinstance(doc["params"], int) and isinstance(doc["mult_adds"], int)


def test_large_text_prints_the_cell():
    result = run("pnasnet5-large")
    assert result.exit_code == 0
    assert str(PNASNET5_CELL) in result.output
    assert "86,057,668" in result.output
    assert "block 5: identity(h1) + sep3x3(h2)" in result.output


def test_cell_text_with_search_options():
    cell = "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)"
    result = run(cell, "--channels", "1", "--image-size", "28", "--cells-per-stack", "2", "--filters", "24", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["config"]["in_channels"] == 1 and doc["config"]["filters"] == 24
    assert doc["num_cells"] == 6
    assert doc["blocks"] == ["sep3x3(h1)+identity(h2)", "sep5x5(h1)+max3x3(b1)"]
    assert doc["params"] > 0 and doc["mult_adds"] > 0
    assert doc["published"] is None


def test_concat_option_changes_the_count():
    cell = "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)"
    all_ = json.loads(run(cell, "--filters", "8", "--json").output)
    unused = json.loads(run(cell, "--filters", "8", "--concat", "unused", "--json").output)
    assert unused["output_blocks"] == [2] and all_["output_blocks"] == [1, 2]
    assert unused["params"] < all_["params"]


def test_overrides_apply_to_named_networks():
    doc = json.loads(run("pnasnet5-mobile", "--classes", "10", "--json").output)
    assert doc["params"] == 5_064_487 - 990 * (5 * 216 + 1)  # 990 fewer rows of the 1080-feature FC
    assert doc["published"] is None


@pytest.mark.parametrize(
    "target,message",
    [
        ("sep3x3(h3)+identity(h2)", "bad cell text"),
        ("conv9x9(h1)+identity(h2)", "unknown operator"),
        ("pnasnet6", "unknown network 'pnasnet6'"),
    ],
)
def test_bad_target_is_one_clear_line(target, message):
    result = run(target, "--json")
    assert result.exit_code != 0
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_impossible_config_is_a_clear_error():
    result = run("pnasnet5-cifar", "--network", "imagenet", "--image-size", "2")
    assert result.exit_code != 0
    assert "image_size" in result.output


@pytest.mark.parametrize("option", ["--cells-per-stack", "--filters", "--image-size"])
def test_sizes_no_machine_can_hold_are_refused_at_once(option):
    result = CliRunner().invoke(main, ["describe", "sep3x3(h1)+identity(h2)", option, "100000"])
    assert result.exit_code == 2 and option in result.output and "Traceback" not in result.output


NB201_CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.mark.parametrize("size", [1, 2, 3, 6, 30])
def test_an_nb201_cell_at_a_size_its_reductions_cannot_halve_is_one_line(size):
    result = run(NB201_CELL, "--image-size", str(size))
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"image size {size}" in lines[0] and "multiple of 4" in lines[0], result.output


@pytest.mark.parametrize("size", [4, 8, 16])
def test_an_nb201_cell_at_a_multiple_of_4_is_described(size):
    result = run(NB201_CELL, "--image-size", str(size), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["config"]["image_size"] == size
