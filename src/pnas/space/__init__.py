"""Search spaces: genotypes and their structure. Nothing here imports torch."""

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

SPACES = {"pnas": PnasSpace, "nb201": Nb201Space}


def create_space(name: str, **options) -> SearchSpace:
    """Build a space by name (``pnas`` takes ``blocks``)."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}: choose one of {', '.join(SPACES)}")
    if name == "pnas":
        return PnasSpace(**options)
    return SPACES[name]()


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
