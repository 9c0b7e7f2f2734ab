"""``pnas describe``: a cell or a named network, its blocks, parameters and mult-adds."""

from __future__ import annotations

from typing import Any

import click

from pnas.cli.main import main
from pnas.cli.output import emit_json, fail
from pnas.limits import MAX_CELLS_PER_STACK, MAX_FILTERS, MAX_IMAGE_SIZE

CELL_EXAMPLE = "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)"


def _human(n: int) -> str:
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


@main.command()
@click.argument("target")
@click.option(
    "--network",
    type=click.Choice(["cifar", "imagenet"]),
    help="Layout. Default: the named network's, or cifar for a cell's text.",
)
@click.option("--channels", type=click.IntRange(min=1), help="Input channels (e.g. 1 for Fashion-MNIST).")
@click.option("--image-size", type=click.IntRange(1, MAX_IMAGE_SIZE), help="Input height and width, in pixels.")
@click.option(
    "--cells-per-stack", type=click.IntRange(1, MAX_CELLS_PER_STACK), help="N: 3N cells in all, two of them reductions."
)
@click.option("--filters", type=click.IntRange(1, MAX_FILTERS), help="F: filters of the first stack.")
@click.option("--classes", type=click.IntRange(min=0), help="Classifier outputs.")
@click.option(
    "--concat",
    type=click.Choice(["all", "unused"]),
    help="Cell output: all blocks (PNASNet-5) or only unused ones (NASNet).",
)
@click.option(
    "--space",
    metavar="NAME",
    help="The registered space that reads the cell (pnas, nb201, a plugin's). "
    "Default: nb201 for a NAS-Bench-201 cell string (|op~0|+...), else pnas.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def describe(
    target: str,
    network: str | None,
    channels: int | None,
    image_size: int | None,
    cells_per_stack: int | None,
    filters: int | None,
    classes: int | None,
    concat: str | None,
    space: str | None,
    as_json: bool,
) -> None:
    """Describe TARGET: a named network (pnasnet5-large, pnasnet5-mobile, pnasnet5-cifar)
    or a cell's text, e.g. "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)".

    A cell is shown in the pnasnet5-cifar network (3x32x32, N=3, F=48, 10 classes),
    or in pnasnet5-mobile's with --network imagenet; the options change any of it.
    A NAS-Bench-201 cell (--space nb201) is shown in that benchmark's network
    (3x32x32, C=16, five cells per stage, 10 classes); --filters sets C and
    --cells-per-stack the cells per stage.
    """
    import torch

    from pnas.nets import NAMED_NETWORKS, build_network, count_mult_adds, count_params, network_config
    from pnas.nets.cell import concat_blocks
    from pnas.space import Cell, Nb201Cell, create_space

    given: Any = None  # the cell read by the space named (or by NAS-Bench-201's, for its string)
    if target.strip() not in NAMED_NETWORKS and (space is not None or target.strip().startswith("|")):
        try:
            reader = create_space(space or "nb201")
        except ValueError as exc:
            fail(str(exc))
        try:
            given = reader.parse(target)
        except ValueError as exc:
            fail(f"bad {reader.title or reader.name} cell: {exc}")
        if isinstance(given, Nb201Cell):
            if network is not None or concat is not None:
                fail("--network and --concat are options of PNAS cells; a NAS-Bench-201 network has one layout")
            _describe_nb201(
                given, reader.name, target, channels, image_size, cells_per_stack, filters, classes, as_json
            )
            return
        if not isinstance(given, Cell):
            fail(
                f"the {reader.name} space's cells ({type(given).__name__}) have no network to describe: "
                "pnas describe builds PNAS and NAS-Bench-201 cells"
            )

    overrides: dict[str, Any] = {
        key: value
        for key, value in dict(
            network=network,
            in_channels=channels,
            image_size=image_size,
            cells_per_stack=cells_per_stack,
            filters=filters,
            num_classes=classes,
            concat=concat,
        ).items()
        if value is not None
    }
    name = target.strip() if target.strip() in NAMED_NETWORKS else None
    try:
        if name is None:
            if "(" not in target:
                fail(
                    f"unknown network {target!r}: choose one of {', '.join(NAMED_NETWORKS)}, "
                    f"or give a cell's text such as {CELL_EXAMPLE!r}"
                )
            try:
                cell = given or Cell.parse(target)
            except ValueError as exc:
                fail(f"bad cell text: {exc}")
            base = "pnasnet5-mobile" if network == "imagenet" else "pnasnet5-cifar"
            overrides["cell"] = cell
            config = network_config(base, **overrides)
        else:
            config = network_config(name, **overrides)
        # Shapes only: the meta device builds even PNASNet-5 Large without allocating it.
        with torch.device("meta"):
            model = build_network(config)
        params = count_params(model)
        mult_adds = count_mult_adds(model, config.input_shape)
    except ValueError as exc:
        fail(str(exc))

    blocks = concat_blocks(config.cell, config.concat)
    doc: dict[str, Any] = {
        "target": target,
        "name": name,
        "cell": str(config.cell),
        "blocks": [str(b) for b in config.cell.blocks],
        "output_blocks": list(blocks),
        "config": config.to_json(),
        "num_cells": 3 * config.cells_per_stack,
        "params": params,
        "mult_adds": mult_adds,
        "published": None,
    }
    if name is not None and not overrides:
        numbers = NAMED_NETWORKS[name].published
        doc["published"] = {k: v for k, v in vars(numbers).items() if v is not None}
    if as_json:
        emit_json(doc)
        return

    c = config
    title = name or "cell"
    click.echo(
        f"{title}: {c.network} layout, {3 * c.cells_per_stack} cells"
        + (" after 2 stem cells" if c.network == "imagenet" else "")
        + f", F={c.filters}, input {c.in_channels}x{c.image_size}x{c.image_size}, {c.num_classes} classes"
    )
    click.echo(f"cell: {config.cell}")
    for i, block in enumerate(config.cell.blocks, start=1):
        click.echo(f"  block {i}: {block.op1}({_input(block.input1)}) + {block.op2}({_input(block.input2)})")
    click.echo(f"  output: concat of blocks {', '.join(map(str, blocks))} ({c.concat}), {len(blocks)}F channels")
    published = doc["published"]
    line = f"parameters: {params:,} ({_human(params)})"
    if published:
        line += f"   published: {_human(published['params'])}"
    click.echo(line)
    line = f"mult-adds:  {mult_adds:,} ({_human(mult_adds)})"
    if published and published.get("mult_adds"):
        line += f"   published: {_human(published['mult_adds'])}"
    click.echo(line)


def _input(index: int) -> str:
    from pnas.space.pnas_cell import input_name

    return input_name(index)


def _describe_nb201(
    cell: Any,
    space: str,
    target: str,
    channels: int | None,
    image_size: int | None,
    cells_per_stage: int | None,
    width: int | None,
    classes: int | None,
    as_json: bool,
) -> None:
    import torch

    from pnas.nets import count_mult_adds, count_params
    from pnas.nets.nb201 import NB201_CELLS_PER_STAGE, NB201_CHANNELS, build_nb201_network, check_nb201_image_size
    from pnas.space.nb201 import NB201_EDGES

    config = {
        "in_channels": channels or 3,
        "image_size": image_size or 32,
        "channels": width or NB201_CHANNELS,
        "cells_per_stage": cells_per_stage or NB201_CELLS_PER_STAGE,
        "num_classes": classes if classes is not None else 10,
    }
    try:
        check_nb201_image_size(config["image_size"])
        with torch.device("meta"):
            model = build_nb201_network(cell, **{k: v for k, v in config.items() if k != "image_size"})
        params = count_params(model)
        mult_adds = count_mult_adds(model, (config["in_channels"], config["image_size"], config["image_size"]))
    except ValueError as exc:
        fail(str(exc))
    edges = [f"{op}: node {src} -> node {dst}" for (src, dst), op in zip(NB201_EDGES, cell.ops)]
    doc = {"target": target, "space": space, "cell": str(cell), "edges": edges, "config": config,
           "num_cells": 3 * config["cells_per_stage"], "params": params, "mult_adds": mult_adds}  # fmt: skip
    if as_json:
        emit_json(doc)
        return
    c = config
    click.echo(
        f"NAS-Bench-201 cell: {3 * c['cells_per_stage']} cells in 3 stages, C={c['channels']}, "
        f"input {c['in_channels']}x{c['image_size']}x{c['image_size']}, {c['num_classes']} classes"
    )
    click.echo(f"cell: {cell}")
    for edge in edges:
        click.echo(f"  {edge}")
    click.echo(f"parameters: {params:,} ({_human(params)})")
    click.echo(f"mult-adds:  {mult_adds:,} ({_human(mult_adds)})")
