"""Zero-cost proxies: SynFlow and NASWOT against hand computations on tiny networks, the caller's
model left untouched, and finite, distinct features on small real networks."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pnas.nets import build_cifar_network, build_nb201_network
from pnas.nets.zero_cost import naswot, relu_kernel, synflow, zero_cost_features
from pnas.space import Cell, Nb201Cell


def seeded(seed: int = 0) -> None:
    torch.manual_seed(seed)


def images(n: int, size: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def snapshot(model: nn.Module):
    return (
        {k: v.detach().clone() for k, v in model.state_dict().items()},
        [m.training for m in model.modules()],
        [p.grad for p in model.parameters()],
        [p.requires_grad for p in model.parameters()],
    )


def assert_same(model: nn.Module, before) -> None:
    state, modes, grads, requires = before
    after = model.state_dict()
    assert state.keys() == after.keys()
    for key, value in state.items():
        assert after[key].dtype == value.dtype
        torch.testing.assert_close(after[key], value, rtol=0, atol=0)
    assert [m.training for m in model.modules()] == modes
    assert [p.grad for p in model.parameters()] == grads
    assert [p.requires_grad for p in model.parameters()] == requires


# --- SynFlow ---------------------------------------------------------------------------------------


def test_synflow_two_linear_layers_by_hand():
    seeded()
    model = nn.Sequential(nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False))
    w1 = model[0].weight.detach().double().abs().numpy()  # (2, 3)
    w2 = model[1].weight.detach().double().abs().numpy()[0]  # (2,)
    assert (model[0].weight < 0).any()  # the absolute values matter
    # R = w2 . (w1 @ 1): dR/dw1[i, j] = w2[i]; dR/dw2[i] = sum_j w1[i, j].
    hidden = w1 @ np.ones(3)
    score = sum(w1[i, j] * w2[i] for i in range(2) for j in range(3)) + sum(w2[i] * hidden[i] for i in range(2))
    assert synflow(model, (3,)) == pytest.approx(math.log1p(score), rel=1e-12)


def test_synflow_one_channel_conv_by_hand():
    seeded()
    conv = nn.Conv2d(1, 1, 3, padding=0, bias=True)
    model = nn.Sequential(conv, nn.Flatten(), nn.Linear(4, 1, bias=False))
    k = conv.weight.detach().double().abs().numpy()[0, 0]
    b = abs(float(conv.bias.detach()))
    v = model[2].weight.detach().double().abs().numpy()[0]
    # A 4x4 all-ones image: each of the 4 outputs is sum(k) + b; R = sum(v) * (sum(k) + b).
    flow = v.sum()
    score = (k * flow).sum() + b * flow + (v * (k.sum() + b)).sum()
    assert synflow(model, (1, 4, 4)) == pytest.approx(math.log1p(score), rel=1e-12)


def test_synflow_ignores_batch_norm():
    seeded()
    with_bn = nn.Sequential(
        nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1, bias=False)
    )
    with_bn[1].running_mean.fill_(3.0)  # whatever statistics it holds
    with_bn[1].weight.data.fill_(5.0)
    without = nn.Sequential(with_bn[0], nn.ReLU(), nn.Flatten(), with_bn[4])
    assert synflow(with_bn, (1, 4, 4)) == synflow(without, (1, 4, 4))


def test_synflow_leaves_the_model_untouched_and_is_deterministic():
    seeded()
    model = build_nb201_network(Nb201Cell(("nor_conv_3x3",) * 6), channels=4, cells_per_stage=1)
    model.train()
    before = snapshot(model)
    first = synflow(model, (3, 8, 8))
    assert_same(model, before)
    assert synflow(model, (3, 8, 8)) == first
    model.eval()
    before = snapshot(model)
    assert synflow(model, (3, 8, 8)) == first
    assert_same(model, before)


def test_synflow_rejects_bad_shapes():
    with pytest.raises(ValueError, match="input_shape"):
        synflow(nn.Linear(2, 1), (0, 2))


# --- NASWOT ----------------------------------------------------------------------------------------


class TwoRelus(nn.Module):
    """One nn.ReLU module, one functional relu: both must count, once each."""

    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(2, 3, bias=False)
        self.relu = nn.ReLU()
        self.lin2 = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.lin1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]))
            self.lin2.weight.copy_(torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.lin2(self.relu(self.lin1(x))))


def test_naswot_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # Layer 1 pre-activations: (1, 0, 1), (0, 1, -1), (1, 1, 0); after ReLU, layer 2: (1, 1), (-1, 0), (0, 0).
    codes = np.array(
        [
            [1, 0, 1, 1, 1],
            [0, 1, 0, 0, 0],
            [1, 1, 0, 0, 0],
        ],
        dtype=np.float64,
    )
    expected = codes @ codes.T + (1 - codes) @ (1 - codes).T  # units on which two images agree
    np.testing.assert_array_equal(expected, [[5, 0, 1], [0, 5, 4], [1, 4, 5]])
    kernel, units = relu_kernel(TwoRelus(), x)
    assert units == 5
    np.testing.assert_array_equal(kernel.numpy(), expected)
    sign, logdet = np.linalg.slogdet(expected)
    assert sign == 1 and logdet == pytest.approx(math.log(40))
    assert naswot(TwoRelus(), x) == pytest.approx(logdet, rel=1e-12)


def test_naswot_singular_kernel_gets_the_floor():
    x = torch.tensor([[0.0, 1.0], [-1.0, 2.0]])  # the same codes (0, 1, 0, 0, 0)
    kernel, _ = relu_kernel(TwoRelus(), x)
    np.testing.assert_array_equal(kernel.numpy(), [[5, 5], [5, 5]])
    assert naswot(TwoRelus(), x) == 0.0
    assert naswot(nn.Linear(2, 2), x) == 0.0  # no ReLU at all


def test_naswot_leaves_the_model_untouched_and_is_deterministic():
    seeded()
    model = build_cifar_network(Cell.parse("sep3x3(h1)+max3x3(h2)"), filters=4, cells_per_stack=1, drop_path=0.3)
    model.train()
    batch = images(6, 8)
    before = snapshot(model)
    first = naswot(model, batch)
    assert_same(model, before)  # BN running statistics included
    assert naswot(model, batch) == first
    assert math.isfinite(first) and first > 0


# --- real networks ---------------------------------------------------------------------------------


def features_of(model: nn.Module, size: int) -> dict[str, float]:
    features = zero_cost_features(model, (3, size, size), images(8, size))
    assert set(features) == {"synflow", "params", "mult_adds", "naswot"}
    assert all(math.isfinite(v) for v in features.values()), features
    return features


def test_nb201_features():
    seeded()
    options = {"channels": 4, "cells_per_stage": 1}
    sparse = build_nb201_network(Nb201Cell(("none", "none", "none", "skip_connect", "none", "none")), **options)
    dense = build_nb201_network(Nb201Cell(("nor_conv_3x3",) * 6), **options)
    before = snapshot(dense)
    a, b = features_of(sparse, 8), features_of(dense, 8)
    assert_same(dense, before)
    assert a["params"] < b["params"] and a["mult_adds"] < b["mult_adds"]
    assert a["synflow"] < b["synflow"]
    assert a["naswot"] != b["naswot"]
    assert zero_cost_features(sparse, (3, 8, 8)).keys() == {"synflow", "params", "mult_adds"}


def test_cifar_features():
    seeded()
    options = {"filters": 4, "cells_per_stack": 1}
    sparse = build_cifar_network(Cell.parse("identity(h1)+identity(h1)"), **options)
    dense = build_cifar_network(Cell.parse("sep3x3(h1)+sep5x5(h2); sep3x3(b1)+dil3x3(h1)"), **options)
    a, b = features_of(sparse, 12), features_of(dense, 12)
    assert a["params"] < b["params"] and a["mult_adds"] < b["mult_adds"]
    assert a["synflow"] != b["synflow"] and a["naswot"] != b["naswot"]
