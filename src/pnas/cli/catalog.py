"""``pnas list``: every registered component and name a command accepts, from the registries themselves."""

from __future__ import annotations

from typing import Any

import click

from pnas.cli.main import main
from pnas.cli.output import emit_json
from pnas.config import OptionSpec, default_text
from pnas.registry import Registry

CATALOG_KEYS = {
    "spaces": "space",
    "strategies": "strategy",
    "predictors": "predictor",
    "evaluators": "evaluator",
    "executors": "executor",
    "pruners": "pruner",
}
"""``pnas list`` key -> the study configuration's section."""


def option_registries() -> dict[str, Registry[Any]]:
    """The registries of components with options, by ``pnas list`` key (every built-in and plugin registered)."""
    from pnas.evaluation.readers import DATASETS
    from pnas.search import load_components
    from pnas.study import REGISTRIES

    load_components()
    return {**{key: REGISTRIES[section] for key, section in CATALOG_KEYS.items()}, "datasets": DATASETS}


def catalog() -> dict[str, list[dict[str, Any]]]:
    """Each registry as a list of ``{"name", "help", ...}`` objects (components also list their options,
    each with its default and range)."""
    from pnas.nets.registry import NETWORKS
    from pnas.space import OPERATORS

    out = {key: [c.to_json() for c in registry.components()] for key, registry in option_registries().items()}
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
    registries = option_registries()
    for kind, entries in names.items():
        click.echo(f"{kind}:")
        for entry in entries:
            click.echo(f"  {entry['name']:<14} {entry['help']}")
            if kind in registries:
                for spec in registries[kind].component(entry["name"]).specs.values():
                    click.echo(f"      {spec.name:<18} {spec.help} {_values(spec)}")


def _values(spec: OptionSpec) -> str:
    """An option's default and range: ``[default: 8; x >= 1]``."""
    shown = [f"default: {default_text(spec.default)}", spec.range_text()]
    return f"[{'; '.join(part for part in shown if part)}]"
