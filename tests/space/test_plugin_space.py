"""A space registered under another name (a subclass of NAS-Bench-201's) works wherever the built-in does:
a guided search with the evaluator its capabilities suggest (the table), the report, draw and describe."""

import json

import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.search import default_study_name, run_search
from pnas.space import SPACES, Nb201Space, create_space

NAME = "nb201-copy-test"
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


class CopySpace(Nb201Space):
    """NAS-Bench-201's space under another name."""


@pytest.fixture(autouse=True)
def registered(scratch_registries):
    SPACES.register(NAME, CopySpace, options=SPACES.component("nb201").options, help="NAS-Bench-201, renamed.")


def cli(*args):
    import pnas.cli.describe  # noqa: F401  (until main lists them)
    import pnas.cli.draw  # noqa: F401

    result = CliRunner().invoke(main, [*args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_space_carries_its_registered_name():
    space = create_space(NAME)
    assert space.name == NAME and space.config() == {"name": NAME}
    assert Nb201Space.name == "nb201" and create_space("nb201").name == "nb201"
    assert default_study_name({"space": {"name": NAME}}) == f"{NAME}-table-cifar10-val-pnas"


def test_search_report_draw_and_describe(tmp_path):
    storage = str(tmp_path / "copy.db")
    # what `pnas search --space NAME --strategy guided --budget 20` runs (its --space choices are fixed when
    # the command is built, before this module registers the space; the installed plugin of the acceptance
    # check registers first): no evaluator given, so the space's own suggestion, the table, answers
    layers = [{"space": {"name": NAME}, "strategy": {"name": "guided", "budget": 20}}]
    with run_search(layers=layers, storage=storage, study="copy") as study:
        assert study.config["evaluator"]["name"] == "table" and study.config["space"] == {"name": NAME}
    status = json.loads(cli("status", "--study", "copy", "--storage", storage, "--json"))
    assert status["totals"]["models"] == 20
    cli("report", "--study", "copy", "--storage", storage, "--out", str(tmp_path / "rep"), "--top", "1")
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert "copy" in json.dumps(summary) and (tmp_path / "rep" / "cell_1.png").stat().st_size > 1000

    drawn = json.loads(cli("draw", CELL, "--space", NAME, "--out", str(tmp_path / "c.svg"), "--json"))
    assert drawn["space"] == NAME and drawn["blocks"] == 6 and (tmp_path / "c.svg").stat().st_size > 1000
    described = json.loads(cli("describe", CELL, "--space", NAME, "--json"))
    assert described["space"] == NAME and described["cell"] == CELL and described["params"] > 0


def test_an_unknown_space_is_one_line(tmp_path):
    import pnas.cli.draw  # noqa: F401

    result = CliRunner().invoke(main, ["draw", CELL, "--space", "nope", "--out", str(tmp_path / "c.svg")])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: unknown search space 'nope': choose one of {', '.join(SPACES.names())}"
    ]
