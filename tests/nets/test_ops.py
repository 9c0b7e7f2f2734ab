import pytest
import torch
from torch import nn

from pnas.nets import OPS, count_params, create_op
from pnas.nets.ops import FactorizedReduction, PointwiseConv
from pnas.space import OPERATORS


@pytest.mark.parametrize("name", OPERATORS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [1, 4, 7, 14])
def test_every_op_maps_size_to_ceil_half_under_stride_2(name, stride, size):
    op = create_op(name, 6, 10, stride)
    out = op(torch.randn(2, 6, size, size))
    expected = -(-size // stride)
    assert out.shape == (2, 10, expected, expected)


def test_registry_covers_the_space_in_order():
    assert tuple(OPS) == OPERATORS


def test_unknown_op_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown operator 'conv9x9'"):
        create_op("conv9x9", 4, 4, 1)


def test_identity_is_free_only_at_stride_1_with_matching_channels():
    assert isinstance(create_op("identity", 8, 8, 1), nn.Identity)
    strided = create_op("identity", 8, 8, 2)
    # ReLU - 1x1 stride-2 conv - BN: 8*8 weights + 2*8 BN parameters; the conv subsamples, then runs at stride 1.
    assert count_params(strided) == 8 * 8 + 16
    assert isinstance(strided[1], PointwiseConv) and strided[1].subsample == 2


@pytest.mark.parametrize("name", ["max3x3", "avg3x3"])
def test_pools_have_parameters_only_when_channels_change(name):
    assert count_params(create_op(name, 8, 8, 2)) == 0
    assert count_params(create_op(name, 12, 8, 1)) == 12 * 8 + 16


def test_separable_op_is_two_stacked_separable_convs_stride_in_first():
    op = create_op("sep5x5", 6, 10, 2)
    convs = [m for m in op.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5), (1, 1), (5, 5), (1, 1)]
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1), (1, 1)]
    assert [c.groups for c in convs] == [6, 1, 10, 1]
    # Depthwise 6*25 + pointwise 6*10 + BN 20, then depthwise 10*25 + pointwise 10*10 + BN 20.
    assert count_params(op) == 150 + 60 + 20 + 250 + 100 + 20


def test_avg_pool_excludes_padding():
    out = create_op("avg3x3", 1, 1, 1)(torch.ones(1, 1, 3, 3))
    assert torch.allclose(out, torch.ones_like(out))


def test_factorized_reduction_gives_the_odd_filter_to_the_second_path():
    fr = FactorizedReduction(65, 27)  # PNASNet-5 Mobile's second stem cell
    assert fr.path1.out_channels == 13 and fr.path2.out_channels == 14
    assert fr(torch.randn(2, 65, 83, 83)).shape == (2, 27, 42, 42)


def test_factorized_reduction_needs_two_channels():
    with pytest.raises(ValueError, match="at least 2 output channels"):
        FactorizedReduction(4, 1)


@pytest.mark.parametrize("size", [1, 2, 3, 8, 9])
def test_factorized_reduction_equals_the_reference_padding(size):
    torch.manual_seed(size)
    fr = FactorizedReduction(5, 7).eval()
    x = torch.randn(2, 5, size, size)
    # Reference: pad a zero row and column at the bottom/right, drop the first, subsample.
    r = torch.relu(x)
    shifted = nn.functional.pad(r, (0, 1, 0, 1))[:, :, 1:, 1:]
    expected = fr.bn(torch.cat([fr.path1(r[:, :, ::2, ::2]), fr.path2(shifted[:, :, ::2, ::2])], 1))
    assert torch.allclose(fr(x), expected, atol=1e-6)
