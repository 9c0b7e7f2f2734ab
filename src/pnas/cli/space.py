"""``pnas space``: the size of the cell space, level by level."""

from __future__ import annotations

from typing import Any

import click

from pnas.cli.main import main
from pnas.cli.output import emit_json
from pnas.space import OPERATORS, children_per_cell, initial_cells, space_size


@main.command()
@click.option("--blocks", "-B", default=5, show_default=True, type=click.IntRange(1, 20), help="Blocks per cell (B).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def space(blocks: int, as_json: bool) -> None:
    """Counts of the PNAS cell space: 1-block cells, children per cell, cells of B blocks."""
    doc: dict[str, Any] = {
        "blocks": blocks,
        "operators": list(OPERATORS),
        "initial_cells": len(initial_cells()),
        "children_per_cell": [children_per_cell(b) for b in range(1, blocks)],
        "space_size": space_size(blocks),
        "space_size_raw": space_size(blocks, symmetric=False),
        "cells_per_level": [space_size(b) for b in range(1, blocks + 1)],
    }
    if as_json:
        emit_json(doc)
        return
    click.echo(f"operators ({len(OPERATORS)}): {', '.join(OPERATORS)}")
    click.echo(f"1-block cells: {doc['initial_cells']}")
    for b, n in enumerate(doc["children_per_cell"], start=1):
        click.echo(f"children of a {b}-block cell: {n}")
    click.echo(
        f"cells of exactly {blocks} blocks: {doc['space_size']:,} (pair symmetry removed), "
        f"{doc['space_size_raw']:,} (ordered halves)"
    )
