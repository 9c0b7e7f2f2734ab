"""Published sizes of PNASNet-5 (SPEC section 2), and the counting functions themselves."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from pnas.nets import build_cifar_network, count_mult_adds, count_params, create_network, network_config
from pnas.space import PNASNET5_CELL, Cell


def on_meta(name, **overrides):
    with torch.device("meta"):
        return create_network(name, **overrides)


def test_large_params_match_timm_port():
    # 86.1M in the paper; timm's port has exactly 86,057,668 with a 1000-class head.
    params = count_params(on_meta("pnasnet5-large"))
    assert abs(params / 86_057_668 - 1) < 0.005
    assert params == 86_057_668


def test_mobile_params():
    # 5.1M in the paper; 5,064,487 from the reference config.
    params = count_params(on_meta("pnasnet5-mobile"))
    assert abs(params / 5.1e6 - 1) < 0.02
    assert params == 5_064_487


def test_cifar_params():
    # 3.2M in the paper (9 cells, F = 48); 3,189,082 from the reference layout.
    params = count_params(on_meta("pnasnet5-cifar"))
    assert abs(params / 3.2e6 - 1) < 0.03
    assert params == 3_189_082


def test_mobile_mult_adds():
    # 588M in the paper.
    mult_adds = count_mult_adds(on_meta("pnasnet5-mobile"), (3, 224, 224))
    assert abs(mult_adds / 588e6 - 1) < 0.03


def test_large_mult_adds():
    # 25.0B in the paper; timm's port measures 24.94B with the same counter.
    mult_adds = count_mult_adds(on_meta("pnasnet5-large"), network_config("pnasnet5-large").input_shape)
    assert abs(mult_adds / 25.0e9 - 1) < 0.03


def test_aux_head_is_extra():
    with_aux = count_params(on_meta("pnasnet5-cifar", aux_head=True))
    assert with_aux > 3_189_082


def test_meta_count_equals_flop_counter_on_real_tensors():
    torch.manual_seed(0)
    net = build_cifar_network(
        Cell.parse("sep3x3(h1)+dil3x3(h2); conv1x7_7x1(b1)+avg3x3(h1)"), in_channels=1, cells_per_stack=1, filters=8
    )
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.randn(2, 1, 20, 20))
    assert count_mult_adds(net, (2, 1, 20, 20)) == counter.get_total_flops() // 4
    assert count_mult_adds(net, (1, 20, 20)) == counter.get_total_flops() // 4
    assert net.training is False


def test_counting_leaves_the_model_as_it_was():
    net = build_cifar_network(PNASNET5_CELL, in_channels=1, cells_per_stack=1, filters=8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    count_mult_adds(net, (1, 14, 14))
    assert net.training
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_mult_adds_by_hand_for_a_tiny_network():
    # Three cells of two identities each, F = 1, 2, 4; the last two reduce. Stem: 3x3 conv
    # 1 -> 3 channels on 4x4: 3*9*16 = 432.
    net = build_cifar_network(
        Cell.parse("identity(h1)+identity(h1)"),
        in_channels=1,
        num_classes=2,
        cells_per_stack=1,
        filters=1,
        stem_multiplier=3,
    )
    # cell 0 (4x4, F=1): pre1 1x1 conv 3 -> 1: 16*3. cell 1 (reduction, F=2): pre1 1x1 1 -> 2 on 4x4: 32,
    # two identities under stride 2 (1x1 conv 2 -> 2 on 2x2): 2*16. cell 2 (F=4): pre1 2 -> 4 on 2x2: 32,
    # two strided identities 4 -> 4 on 1x1: 2*16. Classifier 4 -> 2: 8.
    expected = 432 + 48 + 32 + 32 + 32 + 32 + 8
    assert count_mult_adds(net, (1, 4, 4)) == expected


def test_bad_input_shape_is_a_clear_error():
    net = build_cifar_network(PNASNET5_CELL, in_channels=1, cells_per_stack=1, filters=8)
    with pytest.raises(ValueError, match="input_shape"):
        count_mult_adds(net, (14, 14))
