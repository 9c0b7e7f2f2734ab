"""Search spaces: genotypes and their structure. Nothing here imports torch."""

from dataclasses import dataclass
from typing import Any

from pnas.config import GROWS, option
from pnas.registry import Registry
from pnas.space.base import EncodedBlock, SearchSpace, TokenSpec
from pnas.space.nb201 import NB201_OPS, Nb201Cell, Nb201Space
from pnas.space.pnas_cell import (
    OPERATORS,
    PNASNET5_CELL,
    Block,
    Cell,
    PnasSpace,
    children,
    children_per_cell,
    initial_cells,
    space_size,
)

SPACES: Registry[SearchSpace] = Registry("search space", "pnas.spaces")


@dataclass(frozen=True)
class PnasSpaceOptions:
    max_level: int = option(
        3, "Blocks per cell (B; the paper: 5); a study may grow to more.", low=1, high=10, decides=GROWS
    )


SPACES.register("pnas", PnasSpace, options=PnasSpaceOptions, help="The PNAS cell space: B blocks over 8 operators.")
SPACES.register("nb201", Nb201Space, help="NAS-Bench-201's cell: 6 edges over 5 operators (15,625 cells).")


def create_space(name: str, **options: Any) -> SearchSpace:
    """Build a registered space by name (``pnas`` takes ``max_level``, its blocks per cell)."""
    if "blocks" in options:  # the name the rest of the project used first
        options["max_level"] = options.pop("blocks")
    return SPACES.create(name, **options)


__all__ = [
    "OPERATORS",
    "PNASNET5_CELL",
    "Block",
    "Cell",
    "PnasSpace",
    "children",
    "children_per_cell",
    "initial_cells",
    "space_size",
    "EncodedBlock",
    "SearchSpace",
    "TokenSpec",
    "NB201_OPS",
    "Nb201Cell",
    "Nb201Space",
    "SPACES",
    "create_space",
]
