"""NAS-Bench-201's network: its published size range, how each edge adds to it, and that it trains."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from pnas.cli.main import main
from pnas.nets import build_nb201_network, count_mult_adds, count_params
from pnas.space.nb201 import NB201_OPS, Nb201Cell

ALL_CONV3 = Nb201Cell(("nor_conv_3x3",) * 6)
ALL_NONE = Nb201Cell(("none",) * 6)
WIDTHS = (16, 32, 64)


def _counts(cell: Nb201Cell) -> tuple[int, int]:
    with torch.device("meta"):
        model = build_nb201_network(cell)
    return count_params(model), count_mult_adds(model, (3, 32, 32))


def test_the_ends_of_the_published_range():
    # all nor_conv_3x3: 1,531,546 parameters by hand (affine BN) and about 220.1M mult-adds at 32 px
    assert _counts(ALL_CONV3) == (1_531_546, 220_119_680)
    # all none: the skeleton alone, the published 0.07M and 7.8M
    assert _counts(ALL_NONE) == (73_306, 7_783_040)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(NB201_OPS), min_size=6, max_size=6))
def test_each_edge_adds_its_own_cost_to_the_skeleton(ops):
    """Five cells per stage at C = 16, 32, 64 (32, 16, 8 px): a conv edge adds its weights and BN to each."""
    per_edge_params = {
        "nor_conv_3x3": sum(5 * (9 * c * c + 2 * c) for c in WIDTHS),
        "nor_conv_1x1": sum(5 * (c * c + 2 * c) for c in WIDTHS),
    }
    per_edge_mult_adds = {
        "nor_conv_3x3": sum(5 * 9 * c * c * s * s for c, s in zip(WIDTHS, (32, 16, 8))),
        "nor_conv_1x1": sum(5 * c * c * s * s for c, s in zip(WIDTHS, (32, 16, 8))),
    }
    params, mult_adds = _counts(Nb201Cell(tuple(ops)))
    assert params == 73_306 + sum(per_edge_params.get(op, 0) for op in ops)
    assert mult_adds == 7_783_040 + sum(per_edge_mult_adds.get(op, 0) for op in ops)


def test_it_trains_every_parameter_on_one_channel_images():
    torch.manual_seed(0)
    net = build_nb201_network("|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                              in_channels=1, num_classes=4, channels=4, cells_per_stage=1)  # fmt: skip
    loss = torch.nn.functional.cross_entropy(net(torch.randn(3, 1, 16, 16)), torch.tensor([0, 1, 3]))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_describe_recognises_a_nb201_cell_and_prints_its_network():
    text = str(ALL_CONV3)
    for args in ([text], ["--space", "nb201", text]):
        result = CliRunner().invoke(main, ["describe", *args, "--json"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.output)
        assert (doc["params"], doc["mult_adds"], doc["space"]) == (1_531_546, 220_119_680, "nb201")
    smaller = json.loads(CliRunner().invoke(main, ["describe", text, "--filters", "8", "--json"]).output)
    assert smaller["params"] < 1_531_546 / 3 and smaller["config"]["channels"] == 8
    refused = CliRunner().invoke(main, ["describe", "--space", "nb201", "sep3x3(h1)+sep3x3(h1)"])
    assert refused.exit_code != 0 and "bad NAS-Bench-201 cell" in refused.output


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.sampled_from(NB201_OPS), min_size=6, max_size=6),
    st.integers(1, 4),  # input channels
    st.integers(1, 12),  # classes
    st.integers(1, 24),  # C
    st.integers(1, 3),  # cells per stage
    st.sampled_from([8, 12, 16, 28, 32, 64]),  # image size (even at every stage: the shortcut needs it)
)
def test_the_analytic_costs_equal_the_counted_network(ops, in_channels, classes, width, cells, size):
    from pnas.nets.nb201 import nb201_costs

    cell = Nb201Cell(tuple(ops))
    settings_ = dict(in_channels=in_channels, num_classes=classes, channels=width, cells_per_stage=cells)
    with torch.device("meta"):
        model = build_nb201_network(cell, **settings_)
    counted = (count_params(model), count_mult_adds(model, (in_channels, size, size)))
    assert nb201_costs(cell, image_size=size, **settings_) == counted
