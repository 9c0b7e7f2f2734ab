import pytest
import torch

from pnas.nets import build_cifar_network, count_params
from pnas.space import PNASNET5_CELL, Cell


@pytest.mark.parametrize(
    "channels,size,cells_per_stack",
    [(1, 28, 1), (1, 14, 1), (3, 32, 1), (1, 7, 1), (1, 28, 2), (3, 5, 1), (1, 1, 1)],
)
def test_output_shape_for_any_input(channels, size, cells_per_stack):
    net = build_cifar_network(
        PNASNET5_CELL, in_channels=channels, num_classes=7, cells_per_stack=cells_per_stack, filters=8
    )
    assert net(torch.randn(2, channels, size, size)).shape == (2, 7)


def test_reductions_are_among_the_cells():
    net = build_cifar_network(PNASNET5_CELL, cells_per_stack=3, filters=8)
    assert len(net.cells) == 9
    assert [c.reduction for c in net.cells] == [i in (3, 6) for i in range(9)]


def test_one_cell_per_stack_has_two_reductions_of_three_cells():
    net = build_cifar_network(PNASNET5_CELL, in_channels=1, cells_per_stack=1, filters=8)
    assert [c.reduction for c in net.cells] == [False, True, True]
    assert net.forward_features(torch.randn(1, 1, 28, 28)).shape == (1, 5 * 32, 7, 7)


def test_aux_head_in_training_only():
    net = build_cifar_network(
        Cell.parse("sep3x3(h1)+max3x3(h2)"), in_channels=1, cells_per_stack=1, filters=8, aux_head=True
    )
    logits, aux = net(torch.randn(2, 1, 28, 28))
    assert logits.shape == aux.shape == (2, 10)
    net.eval()
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_pnasnet5_cifar_params():
    # 3.2M parameters (PNAS paper, Table 1); 3,189,082 from the reference layout.
    net = build_cifar_network(PNASNET5_CELL, cells_per_stack=3, filters=48)
    assert abs(count_params(net) / 3.2e6 - 1) < 0.03


def test_channels_last_changes_nothing_but_layout():
    cell = Cell.parse("sep5x5(h1)+max3x3(h2); dil3x3(b1)+conv1x7_7x1(h2)")
    torch.manual_seed(0)
    fast = build_cifar_network(cell, in_channels=1, cells_per_stack=1, filters=8).eval()
    torch.manual_seed(0)
    plain = build_cifar_network(cell, in_channels=1, cells_per_stack=1, filters=8, channels_last=False).eval()
    x = torch.randn(3, 1, 15, 15)
    assert torch.allclose(fast(x), plain(x), atol=1e-5)


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="cells_per_stack"):
        build_cifar_network(PNASNET5_CELL, cells_per_stack=0)
    with pytest.raises(ValueError, match="drop_path"):
        build_cifar_network(PNASNET5_CELL, drop_path=1.0)
    with pytest.raises(ValueError, match="Cell.parse"):
        build_cifar_network("sep3x3(h1)+max3x3(h2)")
