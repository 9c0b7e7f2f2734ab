"""Networks built from any PNAS cell (torch): CIFAR- and ImageNet-style, named PNASNet-5 models; and
NAS-Bench-201's network from any of its cells.

>>> from pnas.space import PNASNET5_CELL
>>> from pnas.nets import build_cifar_network, count_params
>>> net = build_cifar_network(PNASNET5_CELL, in_channels=1, cells_per_stack=1, filters=8)
"""

from pnas.nets.cell import CONCATS, CellModule, CellPlan, concat_blocks, drop_path
from pnas.nets.cifar import build_cifar_network
from pnas.nets.complexity import count_mult_adds, count_params
from pnas.nets.imagenet import build_imagenet_network
from pnas.nets.nb201 import Nb201CostModel, Nb201Network, build_nb201_network, nb201_costs, nb201_dataset_sizes
from pnas.nets.network import CellNetwork
from pnas.nets.ops import OPS, create_op
from pnas.nets.registry import (
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
