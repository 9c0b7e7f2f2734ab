"""``pnas list``: every registered component and name a command accepts, from the registries themselves."""

from __future__ import annotations

from typing import Any

import click

from pnas.cli.main import main
from pnas.cli.output import emit_json

CATALOG_KEYS = {
    "spaces": "space",
    "strategies": "strategy",
    "predictors": "predictor",
    "evaluators": "evaluator",
    "executors": "executor",
    "pruners": "pruner",
}
"""``pnas list`` key -> the study configuration's section."""


def catalog() -> dict[str, list[dict[str, Any]]]:
    """Each registry as a list of ``{"name", "help", ...}`` objects (components also list their options)."""
    from pnas.evaluation.data import DATASETS
    from pnas.nets import NETWORKS
    from pnas.search import load_components
    from pnas.space import OPERATORS
    from pnas.study import REGISTRIES

    load_components()
    out: dict[str, list[dict[str, Any]]] = {
        key: [c.to_json() for c in REGISTRIES[section].components()] for key, section in CATALOG_KEYS.items()
    }
    out["datasets"] = [c.to_json() for c in DATASETS.components()]
    out["networks"] = [{"name": c.name, "help": c.help} for c in NETWORKS.components()]
    out["operators"] = [{"name": op, "help": OPERATOR_HELP.get(op, "")} for op in OPERATORS]
    return out


OPERATOR_HELP = {
    "sep3x3": "depthwise-separable 3x3 convolution (applied twice)",
    "sep5x5": "depthwise-separable 5x5 convolution (applied twice)",
    "sep7x7": "depthwise-separable 7x7 convolution (applied twice)",
    "conv1x7_7x1": "1x7 then 7x1 convolution",
    "identity": "the input itself (a 1x1 convolution where shapes differ)",
    "avg3x3": "3x3 average pooling",
    "max3x3": "3x3 max pooling",
    "dil3x3": "3x3 dilated convolution (dilation 2)",
}


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def list_names(as_json: bool) -> None:
    """Spaces, strategies, predictors, evaluators, executors, pruners, data sets, networks and operators."""
    names = catalog()
    if as_json:
        emit_json(names)
        return
    for kind, entries in names.items():
        click.echo(f"{kind}:")
        for entry in entries:
            click.echo(f"  {entry['name']:<14} {entry['help']}")
            for spec in entry.get("options", []):
                click.echo(f"      {spec['name']:<18} {spec['help']}")
