"""Named networks: one table of default configs and published numbers, thin entry functions.

>>> from pnas.nets.registry import create_network
>>> net = create_network("pnasnet5-mobile")              # 5,064,487 parameters
>>> net = create_network("pnasnet5-cifar", num_classes=100, aux_head=True)

Any field of :class:`NetworkConfig` can be overridden by keyword. The
published counts exclude the auxiliary head, so the named defaults leave it off.
The table and the configs import no torch; building a network does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pnas.limits import MAX_CELLS_PER_STACK, MAX_FILTERS, MAX_IMAGE_SIZE
from pnas.registry import Registry
from pnas.space import PNASNET5_CELL, Cell

if TYPE_CHECKING:
    from pnas.nets.network import CellNetwork

LAYOUTS = ("cifar", "imagenet")
"""Network layouts: ``cifar`` (one stem conv) or ``imagenet`` (stride-2 stem conv + two stem cells)."""

CONCATS = ("all", "unused")
"""Output conventions: ``all`` concatenates every block (PNASNet-5); ``unused``
only the blocks no later block reads (NASNet, ENAS, DARTS)."""


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that determines a network built from a cell."""

    network: str = "cifar"
    """Layout: ``cifar`` (one stem conv) or ``imagenet`` (stride-2 stem conv + two stem cells)."""
    cell: Cell = PNASNET5_CELL
    in_channels: int = 3
    image_size: int = 32
    """Nominal input size: mult-adds are counted at it, the aux head is sized for it."""
    num_classes: int = 10
    cells_per_stack: int = 3
    """N: the network has 3N cells, two of them reductions."""
    filters: int = 48
    """F: block output channels in the first stack (doubled at each reduction)."""
    stem_multiplier: float = 3
    concat: str = "all"
    """``all`` block outputs form a cell's output (PNASNet-5), or only ``unused`` ones."""
    dropout: float = 0.0
    """Dropout before the classifier."""
    drop_path: float = 0.0
    """Drop-path probability of the deepest cell at the end of training."""
    aux_head: bool = False

    def __post_init__(self) -> None:
        if self.network not in LAYOUTS:
            raise ValueError(f"unknown network layout {self.network!r}: choose one of {', '.join(LAYOUTS)}")
        if not isinstance(self.cell, Cell):
            object.__setattr__(
                self, "cell", Cell.parse(self.cell) if isinstance(self.cell, str) else Cell.from_json(self.cell)
            )
        for name, value, top in (
            ("cells_per_stack", self.cells_per_stack, MAX_CELLS_PER_STACK),
            ("filters", self.filters, MAX_FILTERS),
            ("image_size", self.image_size, MAX_IMAGE_SIZE),
        ):
            if not 1 <= value <= top:
                raise ValueError(f"{name} must be between 1 and {top}, got {value}")
        smallest = 3 if self.network == "imagenet" else 1
        if self.image_size < smallest:
            raise ValueError(f"image_size must be >= {smallest} for the {self.network} layout, got {self.image_size}")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.in_channels, self.image_size, self.image_size

    def replace(self, **changes: Any) -> NetworkConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["cell"] = str(self.cell)
        return doc


def build_network(config: NetworkConfig) -> CellNetwork:
    """The network a config describes."""
    from pnas.nets.cifar import build_cifar_network
    from pnas.nets.imagenet import build_imagenet_network

    build = build_imagenet_network if config.network == "imagenet" else build_cifar_network
    return build(
        config.cell,
        in_channels=config.in_channels,
        num_classes=config.num_classes,
        cells_per_stack=config.cells_per_stack,
        filters=config.filters,
        stem_multiplier=config.stem_multiplier,
        concat=config.concat,
        drop_path=config.drop_path,
        dropout=config.dropout,
        aux_head=config.aux_head,
        image_size=config.image_size,
    )


@dataclass(frozen=True)
class Published:
    """Numbers a paper reports for a named network (accuracies as fractions)."""

    params: int
    mult_adds: int | None = None
    top1: float | None = None
    top5: float | None = None
    error: float | None = None
    source: str = ""


@dataclass(frozen=True)
class NamedNetwork:
    config: NetworkConfig
    published: Published
    description: str


NAMED_NETWORKS: dict[str, NamedNetwork] = {
    # Reference code (tensorflow/models pnasnet.py, large_imagenet_config): 12 cells, F = 216,
    # stem multiplier 3, drop-path keep 0.6, dense dropout keep 0.5, 331 px.
    "pnasnet5-large": NamedNetwork(
        NetworkConfig(
            network="imagenet",
            image_size=331,
            num_classes=1000,
            cells_per_stack=4,
            filters=216,
            stem_multiplier=3,
            dropout=0.5,
            drop_path=0.4,
        ),
        Published(
            params=86_100_000,
            mult_adds=25_000_000_000,
            top1=0.829,
            top5=0.962,
            source="Liu et al. 2018, Table 4 (86.1M, 25.0B); 86,057,668 in timm's port",
        ),
        "PNASNet-5 Large, ImageNet at 331 px",
    ),
    # Reference code (mobile_imagenet_config): 9 cells, F = 54, stem multiplier 1, no drop-path.
    "pnasnet5-mobile": NamedNetwork(
        NetworkConfig(
            network="imagenet",
            image_size=224,
            num_classes=1000,
            cells_per_stack=3,
            filters=54,
            stem_multiplier=1,
            dropout=0.5,
            drop_path=0.0,
        ),
        Published(
            params=5_100_000,
            mult_adds=588_000_000,
            top1=0.742,
            top5=0.919,
            source="Liu et al. 2018, Table 3 (5.1M, 588M)",
        ),
        "PNASNet-5 Mobile, ImageNet at 224 px",
    ),
    # 9 cells, F = 48, NASNet CIFAR stem (the paper's first author, in the PyTorch port's
    # issue tracker). Drop-path 0.4 and no dense dropout follow NASNet's CIFAR config [recalled].
    "pnasnet5-cifar": NamedNetwork(
        NetworkConfig(
            network="cifar",
            image_size=32,
            num_classes=10,
            cells_per_stack=3,
            filters=48,
            stem_multiplier=3,
            dropout=0.0,
            drop_path=0.4,
        ),
        Published(params=3_200_000, error=0.0341, source="Liu et al. 2018, Table 1 (3.2M, 3.41% error)"),
        "PNASNet-5 on CIFAR-10, 32 px",
    ),
}
"""Default configs and published numbers of the named networks (counts exclude the aux head)."""

NETWORKS: Registry[CellNetwork] = Registry("network")


def network_config(name: str, **overrides: Any) -> NetworkConfig:
    """The named network's config with ``overrides`` applied."""
    if name not in NAMED_NETWORKS:
        raise ValueError(f"unknown network {name!r}: choose one of {', '.join(NAMED_NETWORKS)}")
    return NAMED_NETWORKS[name].config.replace(**overrides)


def create_network(name: str, **overrides: Any) -> CellNetwork:
    """Build a registered network by name, e.g. ``create_network("pnasnet5-large", num_classes=10)``."""
    return NETWORKS.create(name, **overrides)


def list_networks() -> list[str]:
    return NETWORKS.names()


def _register_named(name: str) -> None:
    def entry(**overrides: Any) -> CellNetwork:
        return build_network(network_config(name, **overrides))

    entry.__name__ = name.replace("-", "_")
    entry.__doc__ = NAMED_NETWORKS[name].description
    NETWORKS.register(name, entry)


for _name in NAMED_NETWORKS:
    _register_named(_name)
