"""The LSTM predictor: a cell read as a token sequence (docs/paper.md, section 4).

Each block contributes its input tokens then its operator tokens (I1, I2,
O1, O2 in the PNAS space; source, target, op in NAS-Bench-201). Inputs and
operators have separate embeddings; a one-layer LSTM reads the sequence and
its last hidden state goes through a linear layer and a sigmoid. Any number
of blocks gives one score, so a predictor trained on b-block cells scores
(b+1)-block cells.

Fast ranking (:meth:`LstmPredictor.predict_expansion`): siblings share the
parent's sequence, so the LSTM runs over each parent once; inside the new
block each distinct prefix (see :mod:`pnas.predictors.expansion`) is stepped
once, with the input projection of every token precomputed as a lookup
table of gate pre-activations (:class:`GateTables`). Only the last token is
stepped per child, in chunks spread over threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pnas.predictors.expansion import Expansion
from pnas.predictors.neural import NeuralPredictor
from pnas.predictors.options import LstmConfig
from pnas.predictors.parallel import run_chunks
from pnas.predictors.tokens import TokenBatch
from pnas.space.base import TokenSpec
from pnas.threads import torch_threads

CHUNK = 1024
"""States stepped at once by the fast path: small enough that a chunk's gates
(chunk x 4 x hidden floats) stay in the CPU's L2 cache across the elementwise ops."""


class LstmModel(nn.Module):
    def __init__(self, spec: TokenSpec, hidden: int, embedding: int) -> None:
        super().__init__()
        self.spec = spec
        self.input_embedding = nn.Embedding(spec.input_vocab, embedding)
        self.op_embedding = nn.Embedding(spec.op_vocab, embedding)
        self.lstm = nn.LSTM(embedding, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def sequence(self, batch: TokenBatch) -> torch.Tensor:
        """Token embeddings in reading order: [N, blocks x tokens_per_block, embedding]."""
        per_block = torch.cat([self.input_embedding(batch.inputs), self.op_embedding(batch.ops)], dim=2)
        return per_block.flatten(1, 2)

    def final_state(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, c) after each cell's last real token; zeros for a cell with no blocks.

        Cells are grouped by length so padding never enters the LSTM.
        """
        count, hidden = len(batch), self.lstm.hidden_size
        sequence = self.sequence(batch)
        per_block = self.spec.tokens_per_block
        lengths = torch.unique(batch.blocks)
        if len(lengths) == 1 and int(lengths[0]) > 0:
            _, (h, c) = self.lstm(sequence[:, : int(lengths[0]) * per_block])
            return h[-1], c[-1]
        h_all = sequence.new_zeros(count, hidden)
        c_all = sequence.new_zeros(count, hidden)
        for length in lengths.tolist():
            if length == 0:
                continue
            index = torch.nonzero(batch.blocks == length).squeeze(1)
            _, (h, c) = self.lstm(sequence[index, : length * per_block])
            h_all = h_all.index_copy(0, index, h[-1])
            c_all = c_all.index_copy(0, index, c[-1])
        return h_all, c_all

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        """One logit per cell."""
        h, _ = self.final_state(batch)
        logits: torch.Tensor = self.head(h).squeeze(1)
        return logits


@dataclass(frozen=True)
class GateTables:
    """An LSTM's weights rearranged for stepping many states from lookup tables.

    Gate columns are reordered to (i, f, o, g) and the g columns doubled, so a
    single sigmoid over all four gates gives i, f, o and, through
    tanh(x) = 2 sigmoid(2x) - 1, g (sigmoid is much cheaper than tanh on CPU).
    """

    inputs: torch.Tensor  # [input_vocab, 4H]: input token -> gate pre-activations, biases included
    ops: torch.Tensor  # [op_vocab, 4H]: the same for operator tokens
    recurrent: torch.Tensor  # [H, 4H]: h -> gate pre-activations

    @classmethod
    def from_model(cls, model: LstmModel) -> GateTables:
        lstm = model.lstm
        hidden = lstm.hidden_size
        order = torch.cat(
            [torch.arange(0, 2 * hidden), torch.arange(3 * hidden, 4 * hidden), torch.arange(2 * hidden, 3 * hidden)]
        )
        scale = torch.ones(4 * hidden)
        scale[3 * hidden :] = 2.0

        def arrange(matrix: torch.Tensor) -> torch.Tensor:
            return (matrix[:, order] * scale).contiguous()

        weights = dict(lstm.named_parameters())  # weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0
        bias = weights["bias_ih_l0"] + weights["bias_hh_l0"]
        return cls(
            inputs=arrange(model.input_embedding.weight @ weights["weight_ih_l0"].T + bias),
            ops=arrange(model.op_embedding.weight @ weights["weight_ih_l0"].T + bias),
            recurrent=arrange(weights["weight_hh_l0"].T),
        )


def gate_step(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step from :class:`GateTables` pre-activations; overwrites ``gates``."""
    i, f, o, g = gates.sigmoid_().chunk(4, dim=1)
    g = g.mul(2).sub_(1)  # tanh of the original pre-activation
    c_new = torch.addcmul(f * c, i, g)
    h_new = (c_new * 2).sigmoid_().mul_(2).sub_(1).mul_(o)  # o * tanh(c_new)
    return h_new, c_new


class LstmPredictor(NeuralPredictor):
    """LSTM over the cell's tokens -> linear -> sigmoid."""

    config_type = LstmConfig

    def build_model(self) -> nn.Module:
        return LstmModel(self.space.token_spec, self.config.hidden, self.config.embedding)

    def predict_expansion(self, expansion: Expansion) -> np.ndarray:
        self._check_fitted()
        model = self.model
        assert isinstance(model, LstmModel)
        model.eval()
        out = np.empty(len(expansion), dtype=np.float32)
        workers = torch.get_num_threads()
        with torch.inference_mode(), torch_threads(1):
            tables = GateTables.from_model(model)
            head_weight, head_bias = model.head.weight.squeeze(0), model.head.bias
            h, c = model.final_state(expansion.parents)
            # Distinct prefixes of the new block, one trie level per token.
            for position, level in enumerate(expansion.levels):
                table = tables.inputs if expansion.is_input_position(position) else tables.ops
                from_prefix = _recurrent_part(h, tables.recurrent, workers)
                h_next = h.new_empty(len(level.up), h.shape[1])
                c_next = torch.empty_like(h_next)

                def step_level(start: int, stop: int) -> None:
                    up = level.up[start:stop]
                    gates = from_prefix.index_select(0, up).add_(table.index_select(0, level.token[start:stop]))
                    h_next[start:stop], c_next[start:stop] = gate_step(gates, c.index_select(0, up))

                run_chunks(len(level.up), CHUNK, step_level, workers)
                h, c = h_next, c_next
            # The last token: one step per child, straight to its score.
            last = len(expansion.levels)
            table = tables.inputs if expansion.is_input_position(last) else tables.ops
            from_prefix = _recurrent_part(h, tables.recurrent, workers)

            def score(start: int, stop: int) -> None:
                up = expansion.last_up[start:stop]
                gates = from_prefix.index_select(0, up).add_(
                    table.index_select(0, expansion.new_tokens[start:stop, last])
                )
                h_leaf, _ = gate_step(gates, c.index_select(0, up))
                out[start:stop] = torch.sigmoid(h_leaf @ head_weight + head_bias).numpy()

            run_chunks(len(expansion), CHUNK, score, workers)
        return out


def _recurrent_part(h: torch.Tensor, recurrent: torch.Tensor, workers: int) -> torch.Tensor:
    """``h @ recurrent`` computed in chunks on ``workers`` threads."""
    out = h.new_empty(h.shape[0], recurrent.shape[1])

    def multiply(start: int, stop: int) -> None:
        torch.mm(h[start:stop], recurrent, out=out[start:stop])

    run_chunks(h.shape[0], 4 * CHUNK, multiply, workers)
    return out
