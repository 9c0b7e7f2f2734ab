"""``pnas draw``: a cell's drawing as PNG, SVG or PDF."""

from __future__ import annotations

from pathlib import Path

import click

from pnas.cli.main import main
from pnas.cli.output import emit_json, fail

CELL_EXAMPLE = "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)"
NB201_EXAMPLE = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"


@main.command()
@click.argument("cell")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False),
    help="File to write: .png, .svg or .pdf (folders are made).",
)
@click.option(
    "--space",
    metavar="NAME",
    help="The registered space that reads and draws CELL (pnas, nb201, a plugin's). "
    "Default: NB201 for strings like '|nor_conv_3x3~0|+|...', else PNAS.",
)
@click.option(
    "--concat",
    type=click.Choice(["all", "unused"]),
    help="Blocks feeding the output: all (PNASNet-5, the default) or only unused ones (NASNet). PNAS cells only.",
)
@click.option("--title", help="A title above the drawing.")
@click.option("--dpi", type=click.IntRange(30, 1200), default=150, show_default=True, help="PNG resolution.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object: path, format, blocks (an NB201 cell: its edges that are not none), space, cell.",
)
def draw(
    cell: str, out: str, space: str | None, concat: str | None, title: str | None, dpi: int, as_json: bool
) -> None:
    """Draw CELL: a PNAS cell's text, e.g. "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)",
    or a NAS-Bench-201 string, e.g. "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|...|".

    A PNAS cell is drawn as a graph: the inputs H(c-1) (h1) and H(c-2) (h2) on the
    left, one "+" node per block with its two operators on the incoming edges, and
    the output (the concat of the blocks) on the right; an NB201 cell as its nodes
    0 to 3, none edges dashed. Prints the file written.
    """
    from pnas.report.drawing import FORMATS, read_cell, save_cell

    try:
        reader, parsed = read_cell(cell, space)
    except ValueError as exc:
        if "unknown search space" in str(exc):
            fail(str(exc))
        hint = NB201_EXAMPLE if "NAS-Bench-201" in str(exc) else CELL_EXAMPLE
        fail(f"{exc} (a cell looks like {hint!r})")
    if concat is not None and "concat" not in reader.draw_options:
        fail(f"--concat applies to PNAS cells only: the {reader.name} space's drawing has no such option")
    fmt = Path(out).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        fail(f"cannot write {out!r}: --out must end in " + ", ".join("." + f for f in FORMATS))
    try:
        path = save_cell(parsed, out, dpi=dpi, title=title, concat=concat or "all", space=reader)
    except (OSError, ValueError) as exc:
        fail(f"cannot write {out!r}: {exc}")
    if as_json:
        emit_json(
            {
                "path": str(path),
                "format": fmt,
                "blocks": reader.level(parsed),
                "space": reader.name,
                "cell": reader.format(parsed),
            }
        )
        return
    click.echo(str(path))
