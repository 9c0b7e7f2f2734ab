"""A whole expansion (every child of a set of parents) laid out for fast scoring.

When a space's children are its parent plus one block appended at the end of
the encoding (``space.children_append_one_block``), siblings share the
parent's tokens, and within the new block they share prefixes: in the PNAS
space the 1176 children of a 4-block cell start with one of only 6 first
tokens, 21 first pairs and 168 first triples. An :class:`Expansion` stores
the parents once and the new blocks as a trie of those shared prefixes, so a
sequence model computes each distinct prefix state once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pnas.predictors.tokens import TokenBatch, encode_blocks
from pnas.space.base import EncodedBlock, SearchSpace


@dataclass(frozen=True)
class TrieLevel:
    """The distinct prefixes of length ``k`` of the new blocks.

    ``up[j]`` is the node of level ``k - 1`` this prefix extends (level 0 is the
    parents themselves) and ``token[j]`` its ``k``-th token.
    """

    up: torch.Tensor  # [n_k], int64
    token: torch.Tensor  # [n_k], int64


@dataclass(frozen=True)
class Expansion:
    """Parents, their children's appended blocks, and the prefix trie over them.

    Children are ordered parent by parent, each parent's children in the
    space's order. A child's new-block tokens are the block's input tokens
    followed by its operator tokens, the order a sequence model reads them.
    """

    parents: TokenBatch
    parent_of_child: torch.Tensor  # [N], int64
    new_tokens: torch.Tensor  # [N, tokens_per_block], int64
    levels: tuple[TrieLevel, ...]  # prefixes of length 1 .. tokens_per_block - 1
    last_up: torch.Tensor  # [N]: node of the last level each child extends
    inputs_per_block: int

    def __len__(self) -> int:
        return int(self.parent_of_child.shape[0])

    def is_input_position(self, position: int) -> bool:
        """Whether token ``position`` (0-based) of a block is an input token."""
        return position < self.inputs_per_block


def appended_blocks(space: SearchSpace, parent: Any) -> list[EncodedBlock]:
    """The encoded block each child of ``parent`` appends, in ``space.children`` order
    (:meth:`pnas.space.base.SearchSpace.appended_blocks`; only meaningful when
    ``space.children_append_one_block``)."""
    return list(space.appended_blocks(parent))


def build_expansion(space: SearchSpace, parents: Sequence[Any]) -> Expansion:
    """Lay out every child of ``parents`` as parent index + appended block + trie."""
    if not space.children_append_one_block:
        raise ValueError(
            f"the {space.name} space does not build children by appending one block; "
            "score its children with predict() instead"
        )
    spec = space.token_spec
    parent_batch = encode_blocks(spec, [space.encode(parent) for parent in parents])
    per_parent: list[np.ndarray] = []
    counts = []
    for parent in parents:
        blocks = appended_blocks(space, parent)
        counts.append(len(blocks))
        if blocks:
            per_parent.append(np.array([tuple(block[0]) + tuple(block[1]) for block in blocks], dtype=np.int64))
    width = spec.tokens_per_block
    new_tokens = np.concatenate(per_parent) if per_parent else np.zeros((0, width), dtype=np.int64)
    if new_tokens.shape[1] != width:
        raise ValueError(f"appended blocks have {new_tokens.shape[1]} tokens, the space's token spec says {width}")
    parent_of_child = np.repeat(np.arange(len(parents), dtype=np.int64), counts)
    _check_vocab(new_tokens, spec.inputs_per_block, spec.input_vocab, spec.op_vocab)

    vocab = max(spec.input_vocab, spec.op_vocab)
    node = parent_of_child
    levels = []
    for position in range(width - 1):
        key = node * vocab + new_tokens[:, position]
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        levels.append(TrieLevel(torch.from_numpy(node[first]), torch.from_numpy(new_tokens[first, position])))
        node = inverse.reshape(-1).astype(np.int64)
    return Expansion(
        parents=parent_batch,
        parent_of_child=torch.from_numpy(parent_of_child),
        new_tokens=torch.from_numpy(new_tokens),
        levels=tuple(levels),
        last_up=torch.from_numpy(node),
        inputs_per_block=spec.inputs_per_block,
    )


def _check_vocab(tokens: np.ndarray, inputs_per_block: int, input_vocab: int, op_vocab: int) -> None:
    inputs, ops = tokens[:, :inputs_per_block], tokens[:, inputs_per_block:]
    if tokens.size and (tokens.min() < 0 or inputs.max(initial=0) >= input_vocab or ops.max(initial=0) >= op_vocab):
        raise ValueError("a child's new block has a token outside the space's vocabulary")
