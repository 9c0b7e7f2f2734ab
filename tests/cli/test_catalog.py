"""``pnas list``: each option with its default and range."""

import json

from click.testing import CliRunner

from pnas.cli.main import main


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def _option_lines(output: str, kind: str, component: str) -> dict[str, str]:
    """The option lines of one component in ``pnas list``'s output, by option name."""
    lines = output.splitlines()
    start = lines.index(f"{kind}:")
    at = next(i for i in range(start + 1, len(lines)) if lines[i].split()[:1] == [component])
    options = {}
    for line in lines[at + 1 :]:
        if not line.startswith("      "):
            break
        options[line.split()[0]] = line
    return options


def test_list_shows_each_options_default_and_range():
    result = invoke("list")
    assert result.exit_code == 0, result.output
    pnas = _option_lines(result.output, "strategies", "pnas")
    assert pnas["acquisition"].endswith("[default: mean; one of mean, ucb, ei, thompson]")
    assert pnas["beam"].endswith("[default: 8; x >= 1]")
    assert pnas["kappa"].endswith("[default: 1; x >= 0]")
    assert _option_lines(result.output, "strategies", "guided")["acquisition"].endswith(
        "[default: ei; one of mean, ucb, ei, thompson]"
    )
    train = _option_lines(result.output, "evaluators", "train")
    assert train["momentum"].endswith("[default: 0.9; 0 <= x < 1]")
    assert train["lr"].endswith("[default: 0.1; x > 0]")
    assert train["channels_last"].endswith("[default: true]")
    assert _option_lines(result.output, "spaces", "pnas")["max_level"].endswith("[default: 3; 1 <= x <= 10]")


def test_list_json_gives_each_option_as_an_object_with_its_default_and_range():
    doc = json.loads(invoke("list", "--json").stdout)
    pnas = next(c for c in doc["strategies"] if c["name"] == "pnas")
    options = {o["name"]: o for o in pnas["options"]}
    assert options["acquisition"]["default"] == "mean" and options["acquisition"]["choices"] == [
        "mean",
        "ucb",
        "ei",
        "thompson",
    ]
    assert (options["beam"]["default"], options["beam"]["low"], options["beam"]["high"]) == (8, 1, None)
    for key in ("spaces", "strategies", "predictors", "evaluators", "executors", "datasets"):
        for component in doc[key]:
            for option in component["options"]:
                assert {"name", "type", "default", "help", "low", "high", "above", "below", "choices"} <= set(option)
