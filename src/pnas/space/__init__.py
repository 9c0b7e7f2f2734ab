"""Search spaces: genotypes and their structure. Nothing here imports torch."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pnas.config import GROWS, option
from pnas.registry import Registry, load_plugins
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


class SpaceRegistry(Registry[SearchSpace]):
    """The space registry: a space it builds carries the name it was registered under, so a plugin's
    subclass of a built-in space is a space of its own in studies, messages and reports."""

    def create(self, name: str, *args: Any, **kwargs: Any) -> SearchSpace:
        space = super().create(name, *args, **kwargs)
        space.name = name
        return space


SPACES: SpaceRegistry = SpaceRegistry("search space", "pnas.spaces")


@dataclass(frozen=True)
class PnasSpaceOptions:
    max_level: int = option(
        3, "Blocks per cell (B; the paper: 5); a study may grow to more.", low=1, high=10, decides=GROWS
    )


SPACES.register("pnas", PnasSpace, options=PnasSpaceOptions, help="The PNAS cell space: B blocks over 8 operators.")
SPACES.register("nb201", Nb201Space, help="NAS-Bench-201's cell: 6 edges over 5 operators (15,625 cells).")


def create_space(name: str, **options: Any) -> SearchSpace:
    """Build a registered space by name (``pnas`` takes ``max_level``, its blocks per cell); a name
    nobody registered yet loads the installed plugins of ``pnas.spaces`` first."""
    if "blocks" in options:  # the name the rest of the project used first
        options["max_level"] = options.pop("blocks")
    if name not in SPACES:
        load_plugins([SPACES])
    return SPACES.create(name, **options)


def space_from_config(section: Mapping[str, Any]) -> SearchSpace:
    """The space a study's stored ``space`` section names, with the options it recorded that the
    space still declares (NAS-Bench-201 once recorded its fixed size)."""
    name = str(section.get("name", "pnas"))
    if name not in SPACES:
        load_plugins([SPACES])
    declared = SPACES.component(name).specs
    return SPACES.create(name, **{k: v for k, v in section.items() if k in declared})


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
    "SpaceRegistry",
    "create_space",
    "space_from_config",
]
