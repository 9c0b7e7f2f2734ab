"""Cells as padded token tensors, the only view of a cell a predictor has.

A space encodes a cell as a list of blocks, each ``(input tokens, operator
tokens)`` (see :class:`pnas.space.base.TokenSpec`). Predictors batch many
cells of different lengths, so the blocks are padded to the longest cell of
the batch and the true number of blocks is kept beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pnas.space.base import EncodedBlock, SearchSpace, TokenSpec


@dataclass(frozen=True)
class TokenBatch:
    """``inputs[n, k]`` / ``ops[n, k]`` are the tokens of block ``k`` of cell ``n``.

    Blocks at ``k >= blocks[n]`` are padding (token 0) and must be ignored.
    """

    inputs: torch.Tensor  # [N, B, inputs_per_block], int64
    ops: torch.Tensor  # [N, B, ops_per_block], int64
    blocks: torch.Tensor  # [N], int64

    def __len__(self) -> int:
        return int(self.blocks.shape[0])

    def take(self, index: torch.Tensor | slice) -> TokenBatch:
        """The sub-batch at ``index``, trimmed to its own longest cell."""
        blocks = self.blocks[index]
        width = int(blocks.max()) if blocks.numel() else 0
        return TokenBatch(self.inputs[index, :width], self.ops[index, :width], blocks)


def encode_blocks(spec: TokenSpec, encoded: Sequence[Sequence[EncodedBlock]]) -> TokenBatch:
    """Pad already encoded cells into one batch, checking every token fits ``spec``."""
    count = len(encoded)
    width = max((len(cell) for cell in encoded), default=0)
    inputs = np.zeros((count, width, spec.inputs_per_block), dtype=np.int64)
    ops = np.zeros((count, width, spec.ops_per_block), dtype=np.int64)
    blocks = np.zeros(count, dtype=np.int64)
    for n, cell in enumerate(encoded):
        blocks[n] = len(cell)
        if cell:
            inputs[n, : len(cell)] = [block[0] for block in cell]
            ops[n, : len(cell)] = [block[1] for block in cell]
    _check_range(inputs, spec.input_vocab, "input")
    _check_range(ops, spec.op_vocab, "operator")
    return TokenBatch(torch.from_numpy(inputs), torch.from_numpy(ops), torch.from_numpy(blocks))


def encode_cells(space: SearchSpace, cells: Sequence[Any]) -> TokenBatch:
    """Encode ``cells`` with ``space.encode`` and pad them into one batch."""
    encoded = [space.encode(cell) for cell in cells]
    spec = space.token_spec
    for cell, blocks in zip(cells, encoded):
        for block in blocks:
            if len(block[0]) != spec.inputs_per_block or len(block[1]) != spec.ops_per_block:
                raise ValueError(
                    f"cell {cell} encodes a block as {block}, but the space's token spec expects "
                    f"{spec.inputs_per_block} input and {spec.ops_per_block} operator tokens per block"
                )
    return encode_blocks(spec, encoded)


def _check_range(tokens: np.ndarray, vocab: int, kind: str) -> None:
    if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab):
        bad = int(tokens.max()) if tokens.max() >= vocab else int(tokens.min())
        raise ValueError(
            f"{kind} token {bad} is outside the space's vocabulary 0..{vocab - 1}: "
            "the cell does not belong to the space the predictor was built for"
        )
