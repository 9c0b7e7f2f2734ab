"""``pnas list``: every name a command accepts, from the registries themselves."""

from __future__ import annotations

import click

from pnas.cli.main import main
from pnas.cli.output import emit_json


def catalog() -> dict[str, list[str]]:
    import pnas.evaluation  # noqa: F401  (registers the evaluators)
    from pnas.evaluation.base import EVALUATORS
    from pnas.evaluation.data import DATASETS
    from pnas.nets import NETWORKS
    from pnas.predictors import PREDICTORS
    from pnas.space import OPERATORS, SPACES
    from pnas.strategies import STRATEGIES

    return {
        "networks": NETWORKS.names(),
        "spaces": sorted(SPACES),
        "operators": list(OPERATORS),
        "strategies": STRATEGIES.names(),
        "predictors": PREDICTORS.names(),
        "evaluators": EVALUATORS.names(),
        "datasets": DATASETS.names(),
    }


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def list_names(as_json: bool) -> None:
    """Named networks, spaces, operators, strategies, predictors, evaluators and data sets."""
    names = catalog()
    if as_json:
        emit_json(names)
        return
    for kind, entries in names.items():
        click.echo(f"{kind}: {', '.join(entries)}")
