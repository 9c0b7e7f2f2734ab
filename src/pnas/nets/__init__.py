"""Networks built from any PNAS cell (torch, imported on first use of a name here): CIFAR- and ImageNet-style,
named PNASNet-5 models; and
NAS-Bench-201's network from any of its cells.

>>> from pnas.space import PNASNET5_CELL
>>> from pnas.nets import build_cifar_network, count_params
>>> net = build_cifar_network(PNASNET5_CELL, in_channels=1, cells_per_stack=1, filters=8)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pnas.lazy import lazy_exports

if TYPE_CHECKING:
    from pnas.nets.cell import CellModule, CellPlan, concat_blocks, drop_path
    from pnas.nets.cifar import build_cifar_network
    from pnas.nets.complexity import count_mult_adds, count_params
    from pnas.nets.imagenet import build_imagenet_network
    from pnas.nets.nb201 import Nb201CostModel, Nb201Network, build_nb201_network, nb201_costs, nb201_dataset_sizes
    from pnas.nets.network import CellNetwork
    from pnas.nets.ops import OPS, create_op
    from pnas.nets.registry import (
        CONCATS,
        NAMED_NETWORKS,
        NETWORKS,
        NamedNetwork,
        NetworkConfig,
        Published,
        build_network,
        create_network,
        list_networks,
        network_config,
    )

_LAZY = {
    **dict.fromkeys(("CellModule", "CellPlan", "concat_blocks", "drop_path"), "pnas.nets.cell"),
    "build_cifar_network": "pnas.nets.cifar",
    **dict.fromkeys(("count_mult_adds", "count_params"), "pnas.nets.complexity"),
    "build_imagenet_network": "pnas.nets.imagenet",
    **dict.fromkeys(
        ("Nb201CostModel", "Nb201Network", "build_nb201_network", "nb201_costs", "nb201_dataset_sizes"),
        "pnas.nets.nb201",
    ),
    "CellNetwork": "pnas.nets.network",
    **dict.fromkeys(("OPS", "create_op"), "pnas.nets.ops"),
    **dict.fromkeys(
        (
            "CONCATS",
            "NAMED_NETWORKS",
            "NETWORKS",
            "NamedNetwork",
            "NetworkConfig",
            "Published",
            "build_network",
            "create_network",
            "list_networks",
            "network_config",
        ),
        "pnas.nets.registry",
    ),
}
"""Where each name lives: imported on first use, so that the named networks' table
(:mod:`pnas.nets.registry`) is read without torch."""

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "CONCATS",
    "CellModule",
    "CellNetwork",
    "CellPlan",
    "OPS",
    "build_cifar_network",
    "build_imagenet_network",
    "build_nb201_network",
    "nb201_costs",
    "nb201_dataset_sizes",
    "Nb201CostModel",
    "Nb201Network",
    "concat_blocks",
    "count_mult_adds",
    "count_params",
    "create_op",
    "drop_path",
    "NAMED_NETWORKS",
    "NETWORKS",
    "NamedNetwork",
    "NetworkConfig",
    "Published",
    "build_network",
    "create_network",
    "list_networks",
    "network_config",
]
