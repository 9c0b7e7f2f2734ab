import pytest
import torch
from torch import nn

from pnas.nets import CellModule, build_cifar_network, concat_blocks, drop_path
from pnas.nets.cell import SkippedCell, live_cells
from pnas.space import PNASNET5_CELL, Cell

CHAIN = Cell.parse("sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1); identity(b2)+avg3x3(h1)")


def make(cell, reduction=False, concat="all", h2_reduced=False, h2_channels=12):
    return CellModule(
        cell,
        channels=8,
        h1_channels=16,
        h2_channels=h2_channels,
        reduction=reduction,
        h2_reduced=h2_reduced,
        concat=concat,
    )


def test_concat_conventions_pick_blocks():
    assert concat_blocks(CHAIN, "all") == (1, 2, 3)
    assert concat_blocks(CHAIN, "unused") == (3,)  # b1 and b2 are read by later blocks
    assert concat_blocks(PNASNET5_CELL, "unused") == (1, 2, 4, 5)
    with pytest.raises(ValueError, match="unknown concat"):
        concat_blocks(CHAIN, "some")


@pytest.mark.parametrize("concat,blocks", [("all", 3), ("unused", 1)])
def test_output_channels_follow_the_convention(concat, blocks):
    module = make(CHAIN, concat=concat)
    out = module(torch.randn(2, 16, 9, 9), torch.randn(2, 12, 9, 9))
    assert module.out_channels == blocks * 8
    assert out.shape == (2, blocks * 8, 9, 9)


def test_network_channels_follow_the_convention():
    for concat, per_cell in [("all", 5), ("unused", 4)]:
        net = build_cifar_network(PNASNET5_CELL, in_channels=1, cells_per_stack=1, filters=8, concat=concat)
        assert net.num_features == per_cell * 32
        assert net.forward_features(torch.randn(2, 1, 28, 28)).shape == (2, per_cell * 32, 7, 7)


def ops_by_half(module):
    """{(input, op): module}, halves in the order the cell module built them."""
    halves = [h for b in module.genotype.blocks for h in ((b.input1, b.op1), (b.input2, b.op2))]
    return dict(zip(halves, module.ops))


def test_reduction_strides_only_ops_reading_cell_inputs():
    module = make(CHAIN, reduction=True)
    ops = ops_by_half(module)
    # identity(h2) becomes ReLU - 1x1 conv at stride 2 - BN; identity(b2) stays free.
    assert isinstance(ops[(3, "identity")], nn.Identity)
    assert ops[(1, "identity")][1].subsample == 2  # strided as a subsample, then a stride-1 conv
    assert ops[(0, "sep3x3")][1][0].stride == (2, 2)  # depthwise conv of the first layer
    assert ops[(0, "sep5x5")][1][0].stride == (2, 2)
    assert ops[(2, "max3x3")][0].stride == 1
    assert ops[(0, "avg3x3")][0].stride == 2
    out = module(torch.randn(2, 16, 9, 9), torch.randn(2, 12, 9, 9))
    assert out.shape == (2, 24, 5, 5)


def test_h2_gets_factorized_reduction_when_larger():
    module = make(CHAIN, h2_reduced=True)
    assert module(torch.randn(2, 16, 7, 7), torch.randn(2, 12, 14, 14)).shape == (2, 24, 7, 7)


def test_first_cell_reads_raw_stem_as_h2():
    module = make(CHAIN, h2_channels=None)
    assert isinstance(module.pre2, nn.Identity)
    x = torch.randn(2, 16, 6, 6)
    assert module(x, x).shape == (2, 24, 6, 6)


def test_unread_inputs_get_no_layers():
    module = make(Cell.parse("sep3x3(h1)+max3x3(h1)"))
    assert module.pre2 is None
    assert module(torch.randn(2, 16, 5, 5), None).shape == (2, 8, 5, 5)


def test_cells_reading_only_h2_skip_dead_cells():
    only_h2 = Cell.parse("sep3x3(h2)+max3x3(h2)")
    assert live_cells(only_h2, 5) == [True, False, True, False, True]
    assert live_cells(only_h2, 5, frozenset({3})) == [True, True, True, True, True]
    net = build_cifar_network(only_h2, in_channels=1, cells_per_stack=2, filters=8)
    # The last cell reads cell 3, which reads cell 1: cells 0, 2 and 4 are never read.
    assert [isinstance(c, SkippedCell) for c in net.cells] == [True, False, True, False, True, False]
    assert net(torch.randn(2, 1, 12, 12)).shape == (2, 10)


def test_drop_path_zeroes_whole_examples_and_rescales():
    torch.manual_seed(0)
    x = torch.ones(2000, 3, 2, 2)
    y = drop_path(x, 0.25)
    per_example = y.flatten(1)
    assert sorted(per_example.unique().tolist()) == pytest.approx([0.0, 1 / 0.75])
    assert (per_example == 0).all(1).float().mean().item() == pytest.approx(0.25, abs=0.04)
    assert y.mean().item() == pytest.approx(1.0, abs=0.05)


def test_drop_path_only_in_training_and_scaled_by_depth_and_progress():
    net = build_cifar_network(PNASNET5_CELL, in_channels=1, cells_per_stack=1, filters=8, drop_path=0.6)
    rates = [c.drop_prob for c in net.cells]
    assert rates == pytest.approx([0.2, 0.4, 0.6])
    net.set_drop_path_progress(0.5)
    assert [c.drop_prob for c in net.cells] == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="progress"):
        net.set_drop_path_progress(1.5)
    net.set_drop_path_progress(1.0)
    x = torch.randn(8, 1, 14, 14)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    torch.manual_seed(1)
    a = net.forward_features(x)
    torch.manual_seed(2)
    b = net.forward_features(x)
    assert not torch.allclose(a, b)
    net.set_drop_path_progress(0.0)  # no drop-path: training forward is deterministic again
    assert torch.allclose(net.forward_features(x), net.forward_features(x))


def test_drop_path_spares_identity():
    cell = Cell.parse("identity(h1)+identity(h1)")
    module = make(cell)
    module.drop_prob = 0.9
    module.train()
    h1 = torch.randn(16, 16, 4, 4)
    expected = 2 * module.pre1(h1)
    assert torch.allclose(module(h1, None), expected)
