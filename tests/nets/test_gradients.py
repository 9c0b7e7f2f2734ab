"""Forward and backward through networks of random cells: every parameter must learn."""

import random

import pytest
import torch
from torch.nn import functional as F

from pnas.nets import build_cifar_network, build_imagenet_network
from pnas.nets.cell import CellModule
from pnas.space import OPERATORS, PnasSpace


def random_cells(count: int, seed: int = 0):
    """Random 5-block cells that together use every operator on a cell input and on a block."""
    rng = random.Random(seed)
    space = PnasSpace(5)
    cells = [space.random_cell(rng) for _ in range(count)]
    on_inputs = {op for c in cells for b in c.blocks for i, op in zip(b.inputs, b.ops) if i < 2}
    on_blocks = {op for c in cells for b in c.blocks for i, op in zip(b.inputs, b.ops) if i >= 2}
    assert on_inputs == on_blocks == set(OPERATORS), "pick a seed whose cells cover every operator"
    return cells


CELLS = random_cells(6)


def assert_every_parameter_learns(net, outputs, targets):
    loss = sum(F.cross_entropy(o, targets) for o in outputs)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


@pytest.mark.parametrize("index", range(len(CELLS)))
@pytest.mark.parametrize("concat", ["all", "unused"])
def test_cifar_network_of_random_cell_trains_every_parameter(index, concat):
    torch.manual_seed(index)
    cell = CELLS[index]
    net = build_cifar_network(
        cell, in_channels=1, num_classes=5, cells_per_stack=1, filters=6, concat=concat, aux_head=True, image_size=14
    )
    assert [isinstance(c, CellModule) and c.reduction for c in net.cells] == [False, True, True]
    net.train()
    logits, aux = net(torch.randn(4, 1, 14, 14))
    assert logits.shape == aux.shape == (4, 5)
    assert_every_parameter_learns(net, (logits, aux), torch.randint(0, 5, (4,)))


def test_imagenet_network_of_random_cell_trains_every_parameter():
    torch.manual_seed(0)
    net = build_imagenet_network(
        CELLS[0],
        num_classes=3,
        cells_per_stack=1,
        filters=8,
        stem_multiplier=0.25,
        aux_head=True,
        image_size=33,
        drop_path=0.2,
    )
    # torch 2.13's oneDNN corrupts the heap in a convolution's weight gradient of this network on some
    # AVX2-only CPUs with one thread (seen on an AMD EPYC host; fine on AVX-512 hosts); torch's own
    # convolutions check the same gradients.
    with torch.backends.mkldnn.flags(enabled=False):
        logits, aux = net(torch.randn(4, 3, 33, 33))
        assert_every_parameter_learns(net, (logits, aux), torch.randint(0, 3, (4,)))


def test_a_training_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    net = build_cifar_network(CELLS[1], in_channels=1, num_classes=4, cells_per_stack=1, filters=8)
    x, y = torch.randn(16, 1, 14, 14), torch.randint(0, 4, (16,))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(8):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
