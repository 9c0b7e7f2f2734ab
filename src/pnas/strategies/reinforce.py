"""An RL controller trained with REINFORCE: the NAS baseline of the paper (Zoph and Le, ICLR 2017).

An LSTM emits one token per decision of the space (``space.decision_sizes()``:
per block two inputs and two operators in the PNAS space, one operator per
edge in NAS-Bench-201); each token is fed back as the next step's input, and
each step has its own softmax head since steps have different numbers of
choices. The decisions build a cell with ``space.from_decisions``.

After every batch of ``batch`` told cells the controller takes one Adam step on
the REINFORCE loss ``-(reward - baseline) * log p(decisions)``, averaged over
the batch, where the reward is the validation accuracy and the baseline an
exponential moving average of past rewards. Failed children are left out of
the update.

Every proposal trains a new model: a sampled cell already proposed in the study
is resampled (up to ``RESAMPLE_ROUNDS`` rounds of draws). A policy that has
converged on cells already trained is helped out by mutations of its recent
samples (or, failing that, a uniform random cell); such off-policy cells are
trained but left out of the update and the baseline, which stay on-policy. The
controller's weights are initialised and sampled from its own seeded
generators, so a replay with the same seed and outcomes proposes the same cells.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pnas.evaluation.base import EvalResult
from pnas.space.base import SearchSpace
from pnas.strategies.options import ReinforceOptions
from pnas.strategies.random_search import BudgetedStrategy, draw_unseen
from pnas.threads import torch_threads

RESAMPLE_ROUNDS = 8
"""Rounds of controller draws tried for unseen cells before falling back to mutations."""

MUTATION_ATTEMPTS = 100
"""Mutations of the policy's recent samples tried for an unseen cell before a uniform one."""

INIT_SCALE = 0.08
"""Weights start uniform in [-0.08, 0.08] (Zoph and Le's initialisation [recalled])."""


class Controller(nn.Module):
    """LSTM policy over a fixed sequence of categorical decisions of sizes ``sizes``."""

    offsets: torch.Tensor  # a buffer: where each decision's token ids start

    def __init__(self, sizes: list[int], hidden: int, layers: int, generator: torch.Generator) -> None:
        super().__init__()
        self.sizes = list(sizes)
        # Token id of choice c at step t: 1 + offsets[t] + c; id 0 is the start token.
        offsets = [0]
        for size in self.sizes[:-1]:
            offsets.append(offsets[-1] + size)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.embed = nn.Embedding(1 + sum(self.sizes), hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(hidden, size) for size in self.sizes)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.uniform_(-INIT_SCALE, INIT_SCALE, generator=generator)

    def _tokens(self, choices: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        return 1 + self.offsets[steps] + choices

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` decision sequences, shape (n, steps)."""
        x = self.embed(torch.zeros(n, 1, dtype=torch.long))
        state = None
        columns = []
        for t, head in enumerate(self.heads):
            out, state = self.lstm(x, state)
            probs = torch.softmax(head(out[:, 0]), dim=-1)
            choice = torch.multinomial(probs, 1, generator=generator)[:, 0]
            columns.append(choice)
            x = self.embed(self._tokens(choice, torch.full_like(choice, t)))[:, None]
        return torch.stack(columns, dim=1)

    def log_prob(self, choices: torch.Tensor) -> torch.Tensor:
        """Log-probability of each decision sequence in ``choices`` (n, steps), with gradients."""
        n, steps = choices.shape
        previous = self._tokens(choices[:, :-1], torch.arange(steps - 1).expand(n, -1))
        inputs = torch.cat([torch.zeros(n, 1, dtype=torch.long), previous], dim=1)
        out, _ = self.lstm(self.embed(inputs))
        total = torch.zeros(n)
        for t, head in enumerate(self.heads):
            logits = torch.log_softmax(head(out[:, t]), dim=-1)
            total = total + logits.gather(1, choices[:, t : t + 1])[:, 0]
        return total


class Reinforce(BudgetedStrategy):
    """REINFORCE with an exponential moving-average baseline, over ``budget`` trained models."""

    name = "reinforce"
    options_class = ReinforceOptions
    options: ReinforceOptions

    def __init__(self, space: SearchSpace, options: ReinforceOptions | None = None, **values: Any) -> None:
        super().__init__(space, options, **values)
        seed = self.options.seed
        self.lr, self.baseline_decay = self.options.lr, self.options.baseline_decay
        self.hidden, self.layers = self.options.hidden, self.options.layers
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):  # torch's default init draws from the global RNG: restore it
            self.controller = Controller(space.decision_sizes(), self.hidden, self.layers, generator)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=self.lr)
        self.sampler = torch.Generator().manual_seed(seed + 1)
        self.baseline: float | None = None
        self._decisions: dict[Any, list[int] | None] = {}
        """Decisions of each proposed cell not told yet; None for off-policy (fallback) cells."""
        self._batch: list[tuple[list[int], float]] = []

    def propose(self, n: int) -> list[Any]:
        with torch_threads(1):  # tiny tensors: more threads only add overhead, badly so on a busy CPU
            return self._propose(n)

    def _propose(self, n: int) -> list[Any]:
        cells: list[Any] = []
        batch_seen: set[Any] = set()
        recent: list[Any] = []
        for _ in range(RESAMPLE_ROUNDS):
            for row in self.controller.sample(max(16, 2 * n), self.sampler).tolist():
                cell = self.space.from_decisions(row)
                recent.append(cell)
                if self.excluded(cell, batch_seen):
                    continue
                cells.append(cell)
                batch_seen.add(cell)
                self._decisions[cell] = row
                if len(cells) == n:
                    return cells
        # The policy keeps proposing known cells: explore next to what it proposes.
        while len(cells) < n:
            cell = draw_unseen(
                lambda: self.space.mutate(self.rng.choice(recent), self.rng),
                lambda c: self.excluded(c, batch_seen),
                MUTATION_ATTEMPTS,
            )
            if cell is None:
                cell = self.random_unseen(batch_seen)
            if cell is None:
                break
            cells.append(cell)
            batch_seen.add(cell)
            self._decisions[cell] = None
        return cells

    accepts_enqueued = False  # the policy learns from the cells it sampled itself

    def warm_start(self, cell: Any, result: EvalResult | None) -> None:
        """Never proposed; the policy gradient learns only from cells it sampled, so nothing else is learnt."""
        self.seen.add(cell)

    def observe(self, cell: Any, result: EvalResult | None, batch_done: bool) -> None:
        row = self._decisions.pop(cell)
        if result is not None and row is not None:
            self._batch.append((row, result.accuracy))
        if batch_done:
            with torch_threads(1):
                self._update()

    def _update(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        rewards = [reward for _, reward in batch]
        if self.baseline is None:
            self.baseline = sum(rewards) / len(rewards)
        advantages = torch.tensor([reward - self.baseline for reward in rewards])
        log_probs = self.controller.log_prob(torch.tensor([row for row, _ in batch], dtype=torch.long))
        loss = -(advantages * log_probs).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        for reward in rewards:
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
