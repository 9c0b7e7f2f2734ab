import pytest
import torch

from pnas.nets import NAMED_NETWORKS, NetworkConfig, build_network, create_network, list_networks, network_config
from pnas.nets.cell import CellModule
from pnas.space import PNASNET5_CELL, Cell


def test_named_networks_are_listed():
    assert {"pnasnet5-large", "pnasnet5-mobile", "pnasnet5-cifar"} <= set(list_networks())


def test_named_configs_follow_the_reference():
    large = network_config("pnasnet5-large")
    assert (large.network, large.cells_per_stack, large.filters, large.stem_multiplier, large.image_size) == (
        "imagenet",
        4,
        216,
        3,
        331,
    )
    mobile = network_config("pnasnet5-mobile")
    assert (mobile.cells_per_stack, mobile.filters, mobile.stem_multiplier, mobile.image_size) == (3, 54, 1, 224)
    assert network_config("pnasnet5-cifar").filters == 48
    assert all(n.config.cell == PNASNET5_CELL and not n.config.aux_head for n in NAMED_NETWORKS.values())


def test_overrides_and_forward():
    net = create_network("pnasnet5-cifar", filters=8, cells_per_stack=1, num_classes=4, in_channels=1)
    assert net(torch.randn(2, 1, 16, 16)).shape == (2, 4)


def test_imagenet_layout_has_two_stem_cells_then_reductions_at_thirds():
    with torch.device("meta"):
        net = create_network("pnasnet5-mobile")
    cells = list(net.cells)
    assert len(cells) == 2 + 9
    assert [c.reduction for c in cells] == [True, True] + [i in (3, 6) for i in range(9)]
    assert [c.out_channels // 5 for c in cells] == [13, 27] + [54] * 3 + [108] * 3 + [216] * 3


def test_unknown_name_and_bad_config_are_clear_errors():
    with pytest.raises(ValueError, match="unknown network 'pnasnet6'"):
        create_network("pnasnet6")
    with pytest.raises(ValueError, match="layout"):
        NetworkConfig(network="mnist")
    with pytest.raises(ValueError, match="image_size"):
        NetworkConfig(network="imagenet", image_size=2)
    with pytest.raises(ValueError, match="concat"):
        create_network("pnasnet5-cifar", concat="some")
    with pytest.raises(ValueError, match="filters"):
        create_network("pnasnet5-cifar", filters=0)


def test_config_round_trips_through_json():
    config = NetworkConfig(cell=Cell.parse("sep3x3(h1)+max3x3(h2)"), filters=8)
    doc = config.to_json()
    assert doc["cell"] == "sep3x3(h1)+max3x3(h2)"
    assert NetworkConfig(**doc) == config
    assert isinstance(build_network(config).cells[0], CellModule)


def test_network_surface():
    net = create_network("pnasnet5-cifar", filters=8, cells_per_stack=1, in_channels=1)
    x = torch.randn(2, 1, 12, 12)
    features = net.forward_features(x)
    assert features.shape == (2, net.num_features, 3, 3)
    assert net.forward_head(features, pre_logits=True).shape == (2, net.num_features)
    net.reset_classifier(7)
    assert net(x).shape == (2, 7)
    net.reset_classifier(0)
    assert net(x).shape == (2, net.num_features)
