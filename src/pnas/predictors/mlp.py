"""The MLP predictor: embed each block, average over blocks, then an MLP (docs/paper.md, section 4).

A block's feature is the concatenation of its tokens' embeddings (separate
tables for inputs and operators); the cell's feature is the mean over its
blocks, one fixed-size vector whatever the number of blocks, so a predictor
trained on b-block cells scores (b+1)-block cells.

Fast ranking (:meth:`MlpPredictor.predict_expansion`): the first linear
layer applied to a mean of block features is the mean of per-token table
lookups (token -> its share of the first layer's output). A child's
pre-activation is the parent's precomputed sum plus the new block's
lookups, over 1 / (b + 1); only the later layers run per child.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pnas.predictors.expansion import Expansion
from pnas.predictors.neural import NeuralPredictor
from pnas.predictors.options import MlpConfig
from pnas.predictors.parallel import run_chunks
from pnas.predictors.tokens import TokenBatch
from pnas.space.base import TokenSpec
from pnas.threads import torch_threads

CHUNK = 4096
"""Children pushed through the hidden layers at once by the fast path."""


class MlpModel(nn.Module):
    def __init__(self, spec: TokenSpec, hidden: int, embedding: int, layers: int) -> None:
        super().__init__()
        self.spec = spec
        self.embedding = embedding
        self.input_embedding = nn.Embedding(spec.input_vocab, embedding)
        self.op_embedding = nn.Embedding(spec.op_vocab, embedding)
        self.first = nn.Linear(spec.tokens_per_block * embedding, hidden)
        self.hidden = nn.Sequential(*[m for _ in range(layers - 1) for m in (nn.ReLU(), nn.Linear(hidden, hidden))])
        self.head = nn.Linear(hidden, 1)

    def block_mean(self, batch: TokenBatch) -> torch.Tensor:
        """Mean over each cell's real blocks of the concatenated token embeddings.

        The mean of concatenations is the concatenation of per-position means,
        so each token position is one ``embedding_bag`` over the real blocks
        (no padded [cells, blocks, features] tensor is built).
        """
        real = torch.arange(batch.inputs.shape[1]).unsqueeze(0) < batch.blocks.unsqueeze(1)
        offsets = torch.cumsum(batch.blocks, 0) - batch.blocks
        parts = []
        for tokens, table in ((batch.inputs, self.input_embedding), (batch.ops, self.op_embedding)):
            for position in range(tokens.shape[2]):
                parts.append(F.embedding_bag(tokens[:, :, position][real], table.weight, offsets, mode="mean"))
        return torch.cat(parts, dim=1)

    def after_first(self, pre_activation: torch.Tensor) -> torch.Tensor:
        """Logits from the first layer's output (before its ReLU)."""
        logits: torch.Tensor = self.head(self.hidden(torch.relu(pre_activation))).squeeze(1)
        return logits

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        """One logit per cell."""
        return self.after_first(self.first(self.block_mean(batch)))

    def token_tables(self) -> list[torch.Tensor]:
        """For each token position of a block, token -> its term of ``first(feature)`` (no bias)."""
        tables = []
        weight = self.first.weight  # [hidden, tokens_per_block * embedding]
        size = self.embedding
        for position in range(self.spec.tokens_per_block):
            vocab = self.input_embedding if position < self.spec.inputs_per_block else self.op_embedding
            tables.append(vocab.weight @ weight[:, position * size : (position + 1) * size].T)
        return tables


class MlpPredictor(NeuralPredictor):
    """Per-block embeddings averaged over blocks -> MLP -> sigmoid."""

    config_type = MlpConfig

    def build_model(self) -> nn.Module:
        c = self.config
        return MlpModel(self.space.token_spec, c.hidden, c.embedding, c.layers)

    def predict_expansion(self, expansion: Expansion) -> np.ndarray:
        self._check_fitted()
        model = self.model
        assert isinstance(model, MlpModel)
        model.eval()
        out = np.empty(len(expansion), dtype=np.float32)
        workers = torch.get_num_threads()
        with torch.inference_mode(), torch_threads(1):
            tables = model.token_tables()
            parents = expansion.parents
            # sum over each parent's blocks of first(block feature), without bias
            value = (model.block_mean(parents) * parents.blocks.unsqueeze(1)) @ model.first.weight.T
            for position, level in enumerate(expansion.levels):  # distinct prefixes of the new block
                value = value.index_select(0, level.up).add_(tables[position].index_select(0, level.token))
            last = len(expansion.levels)
            inverse_blocks = 1.0 / (parents.blocks + 1).to(value.dtype)

            def score(start: int, stop: int) -> None:
                up = expansion.last_up[start:stop]
                total = value.index_select(0, up).add_(
                    tables[last].index_select(0, expansion.new_tokens[start:stop, last])
                )
                scale = inverse_blocks.index_select(0, expansion.parent_of_child[start:stop]).unsqueeze(1)
                pre = total.mul_(scale).add_(model.first.bias)
                out[start:stop] = torch.sigmoid(model.after_first(pre)).numpy()

            run_chunks(len(expansion), CHUNK, score, workers)
        return out
