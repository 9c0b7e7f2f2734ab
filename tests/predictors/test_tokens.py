import pytest
import torch

from pnas.predictors.tokens import encode_cells
from pnas.space import PNASNET5_CELL, Cell, Nb201Space, PnasSpace


def test_pnas_cells_pad_to_the_longest_and_keep_their_lengths():
    space = PnasSpace(5)
    short = Cell.parse("sep3x3(h1)+identity(h2)")
    batch = encode_cells(space, [short, PNASNET5_CELL])
    assert batch.inputs.shape == (2, 5, 2) and batch.ops.shape == (2, 5, 2)
    assert batch.blocks.tolist() == [1, 5]
    assert batch.inputs[0, 0].tolist() == [0, 1]
    assert batch.inputs[0, 1:].abs().sum() == 0  # padding
    assert batch.inputs[1, 3].tolist() == [0, 4]  # PNASNet-5 block 4 reads h1 and b3


def test_take_trims_padding_to_the_sub_batch():
    space = PnasSpace(5)
    cells = [Cell.parse("sep3x3(h1)+identity(h2)"), PNASNET5_CELL]
    batch = encode_cells(space, cells).take(torch.tensor([0]))
    assert batch.inputs.shape == (1, 1, 2) and len(batch) == 1


def test_nb201_cells_have_one_op_token_per_block_and_may_be_empty():
    space = Nb201Space()
    empty = space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    one = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    batch = encode_cells(space, [empty, one])
    assert batch.ops.shape == (2, 1, 1) and batch.blocks.tolist() == [0, 1]
    assert batch.inputs[1, 0].tolist() == [0, 1] and batch.ops[1, 0].tolist() == [3]


def test_a_cell_outside_the_space_vocabulary_is_refused():
    small = PnasSpace(2)
    with pytest.raises(ValueError, match="outside the space's vocabulary"):
        encode_cells(small, [PNASNET5_CELL])
