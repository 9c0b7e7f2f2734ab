"""What the LSTM and MLP predictors share: seeding, the fit loop, batched predict, weights.

Training follows the paper's recipe (docs/paper.md, section 4): L1 loss on accuracies
in [0, 1], Adam, hidden and embedding size 100. Every ``fit`` starts again
from the seed's initial weights, so a predictor refitted on the same data
gives bit-identical predictions however often it was fitted before (a
resumed search relies on that). Randomness comes only from a local
``torch.Generator``; the global RNG is never touched.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import torch
from torch import nn

from pnas.predictors.expansion import Expansion, build_expansion
from pnas.predictors.options import FitConfig
from pnas.predictors.tokens import TokenBatch, encode_cells
from pnas.space.base import SearchSpace
from pnas.threads import torch_threads

PREDICT_BATCH = 8192
"""Cells scored per forward pass by ``predict``."""


def split_options(config_type: type, options: dict[str, Any]) -> Any:
    """Build ``config_type`` from keyword options, naming any unknown one."""
    known = {f.name for f in fields(config_type)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown predictor option(s) {', '.join(unknown)}: accepted are {', '.join(sorted(known))}")
    return config_type(**options)


def check_training_data(cells: Sequence[Any], accuracies: Sequence[float]) -> torch.Tensor:
    """Accuracies as a float tensor, or a ValueError that says what is wrong."""
    if len(cells) != len(accuracies):
        raise ValueError(f"got {len(cells)} cells but {len(accuracies)} accuracies; give one accuracy per cell")
    if len(cells) == 0:
        raise ValueError("cannot fit a predictor on no cells")
    values = np.asarray(accuracies, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError("accuracies must be a flat sequence of numbers, one per cell")
    if not np.all(np.isfinite(values)):
        raise ValueError("accuracies contain NaN or infinity; drop failed cells before fitting")
    if values.min() < 0 or values.max() > 1:
        raise ValueError(
            f"accuracies must be fractions in [0, 1], got values in [{values.min():g}, {values.max():g}]"
            + ("; divide percentages by 100" if values.max() <= 100 else "")
        )
    return torch.from_numpy(values.astype(np.float32))


def seeded_generator(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(int(seed) % (2**63))
    return generator


def init_parameters(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default initialisations, drawn from ``generator``."""
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, generator=generator)
        elif isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.in_features)
            nn.init.uniform_(module.weight, -bound, bound, generator=generator)
            if module.bias is not None:
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        elif isinstance(module, nn.LSTM):
            bound = 1.0 / math.sqrt(module.hidden_size)
            for parameter in module.parameters(recurse=False):
                nn.init.uniform_(parameter, -bound, bound, generator=generator)


class NeuralPredictor(ABC):
    """A single torch model mapping a token batch to one logit per cell.

    Subclasses define the model (:meth:`build_model`), how it scores a batch
    (its ``forward`` returns logits) and, for fast ranking, how it scores an
    :class:`~pnas.predictors.expansion.Expansion` (:meth:`predict_expansion`).
    """

    config_type: type[FitConfig] = FitConfig

    def __init__(self, space: SearchSpace, *, seed: int = 0, **options: Any) -> None:
        self.space = space
        self.seed = int(seed)
        self.config = split_options(self.config_type, options)
        with torch.device("meta"):  # built without drawing from the global RNG
            model = self.build_model()
        self.model = model.to_empty(device="cpu")
        init_parameters(self.model, seeded_generator(self.seed))
        self.fitted = False

    @abstractmethod
    def build_model(self) -> nn.Module: ...

    @abstractmethod
    def predict_expansion(self, expansion: Expansion) -> np.ndarray:
        """Scores of every child of ``expansion``, equal to ``predict`` on them."""

    @property
    def output_layer(self) -> nn.Linear:
        """The last linear layer, whose bias starts at the median accuracy."""
        head = self.model.head
        assert isinstance(head, nn.Linear), "a neural predictor's model ends in a linear layer named head"
        return head

    # --- training -----------------------------------------------------------
    def fit(self, cells: Sequence[Any], accuracies: Sequence[float]) -> None:
        targets = check_training_data(cells, accuracies)
        batch = encode_cells(self.space, cells)
        with torch_threads(self.config.threads):
            self._train(batch, targets)
        self.fitted = True

    def _train(self, batch: TokenBatch, targets: torch.Tensor) -> None:
        generator = seeded_generator(self.seed)
        init_parameters(self.model, generator)
        # Start from the best constant under L1 (the median), so training spends
        # its steps on ranking cells rather than finding the level.
        median = float(targets.median().clamp(1e-4, 1 - 1e-4))
        with torch.no_grad():
            self.output_layer.bias.fill_(math.log(median / (1 - median)))
        config = self.config
        optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.model.train()
        count = len(targets)
        for _ in range(config.epochs):
            order = torch.randperm(count, generator=generator)
            for start in range(0, count, config.batch_size):
                index = order[start : start + config.batch_size]
                scores = torch.sigmoid(self.model(batch.take(index)))
                loss = (scores - targets[index]).abs().mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        self.model.eval()

    # --- scoring ------------------------------------------------------------
    def predict(self, cells: Sequence[Any]) -> np.ndarray:
        self._check_fitted()
        return self.predict_tokens(encode_cells(self.space, cells))

    def predict_tokens(self, batch: TokenBatch) -> np.ndarray:
        """Scores of an encoded batch, ``PREDICT_BATCH`` cells per forward pass."""
        self._check_fitted()
        self.model.eval()
        out = np.empty(len(batch), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(batch), PREDICT_BATCH):
                part = batch.take(slice(start, start + PREDICT_BATCH))
                out[start : start + len(part)] = torch.sigmoid(self.model(part)).numpy()
        return out

    def predict_children(self, space: SearchSpace, parents: Sequence[Any]) -> np.ndarray:
        """Scores of every child of ``parents`` (parent order, then the space's order)."""
        self._check_fitted()
        return self.predict_expansion(build_expansion(space, parents))

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ValueError("the predictor has not been fitted: call fit() or load_state_dict() before predicting")

    # --- weights ------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: value.detach().clone() for name, value in self.model.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        expected = set(self.model.state_dict())
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise ValueError(
                f"weights do not fit this {type(self).__name__}: missing {missing or 'none'}, unexpected {extra or 'none'}"
                " (build the predictor with the same space and options as the one that saved them)"
            )
        try:
            self.model.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"weights do not fit this {type(self).__name__}: {error}") from None
        self.model.eval()
        self.fitted = True
