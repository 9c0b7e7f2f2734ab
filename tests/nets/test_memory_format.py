"""Networks never run a strided 1x1 conv on fewer channels than oneDNN's vector block, whose CPU backward corrupts
memory in channels-last (docs/networks.md); wider ones stay the plain strided conv every study computed with."""

import ctypes.util
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from pnas.nets import build_cifar_network, build_imagenet_network, build_nb201_network, create_op
from pnas.nets.ops import SAFE_STRIDED_CHANNELS, PointwiseConv
from pnas.space import OPERATORS, Cell

# The cell of the report: identity(h1) in the reduction cells is the 1x1 stride-2 conv.
CELL = Cell.parse("identity(h1)+sep5x5(h2); sep7x7(b1)+identity(b1); avg3x3(h1)+dil3x3(h1)")

TRAIN_FEW_CHANNELS = """
import torch
from pnas.nets import build_cifar_network
from pnas.space import Cell

torch.set_num_threads(1)
torch.manual_seed(0)
cell = Cell.parse("identity(h1)+sep5x5(h2); sep7x7(b1)+identity(b1); avg3x3(h1)+dil3x3(h1)")
for filters in (1, 2, 3):  # the strided identity of the first reduction cell reads 2, 4 and 6 channels
    net = build_cifar_network(cell, in_channels=1, cells_per_stack=1, filters=filters, image_size=16)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.randn(16, 1, 16, 16), torch.randint(0, 10, (16,))
    torch.nn.functional.cross_entropy(net(x), y).backward()
    optimizer.step()
print("trained")
"""


def strided_pointwise(model: nn.Module) -> list[str]:
    """Names of the modules torch would run as a 1x1 conv with a stride above 1 on too few channels."""
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
        and m.kernel_size == (1, 1)
        and m.stride != (1, 1)
        and m.in_channels < SAFE_STRIDED_CHANNELS
    ]


def test_few_channel_network_trains_without_a_signal_on_one_thread():
    # Capping oneDNN at AVX2 gives the 8-channel vector block every x86 CPU since 2013 has, and
    # glibc's checking malloc turns a write past a buffer into an abort at its free.
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", MALLOC_CHECK_="3", MALLOC_PERTURB_="165", OMP_NUM_THREADS="1")
    debug = ctypes.util.find_library("c_malloc_debug")
    if debug:
        env["LD_PRELOAD"] = " ".join(p for p in (env.get("LD_PRELOAD", ""), debug) if p)
    result = subprocess.run(
        [sys.executable, "-c", TRAIN_FEW_CHANNELS], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-500:]}"
    assert result.stdout.strip() == "trained"


@pytest.mark.parametrize("filters", [2, 3, 4, 6, 8, 12])
def test_no_network_builds_a_strided_pointwise_conv(filters):
    for op in OPERATORS:  # every op reading a cell input, so every op runs at stride 2 in reduction cells
        cell = Cell.parse(f"{op}(h1)+{op}(h2)")
        assert strided_pointwise(build_cifar_network(cell, cells_per_stack=1, filters=filters, aux_head=True)) == []
    assert strided_pointwise(build_imagenet_network(CELL, cells_per_stack=1, filters=max(filters, 8))) == []
    nb201 = "|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|"
    assert strided_pointwise(build_nb201_network(nb201, channels=filters, cells_per_stage=1)) == []


def test_a_wide_strided_identity_is_the_plain_strided_conv_studies_computed_with():
    conv = create_op("identity", SAFE_STRIDED_CHANNELS, 8, 2)[1]
    assert type(conv) is nn.Conv2d and conv.stride == (2, 2) and conv.kernel_size == (1, 1)
    assert isinstance(create_op("identity", SAFE_STRIDED_CHANNELS - 1, 8, 2)[1], PointwiseConv)


@pytest.mark.parametrize("size", [1, 4, 7, 8])
def test_strided_identity_computes_what_a_strided_conv_does(size):
    op = create_op("identity", 3, 5, 2).double()
    conv = op[1]
    assert isinstance(conv, PointwiseConv) and conv.stride == (1, 1) and conv.subsample == 2
    reference = nn.Conv2d(3, 5, 1, 2, bias=False).double()
    reference.weight.data.copy_(conv.weight.data)
    x = torch.randn(4, 3, size, size, dtype=torch.double, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    out, expected = conv(x), reference(x_ref)
    assert torch.allclose(out, expected)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    assert conv.weight.grad is not None and reference.weight.grad is not None and x.grad is not None
    assert torch.allclose(conv.weight.grad, reference.weight.grad) and torch.allclose(x.grad, x_ref.grad)
