"""Ensembles: N members, each fitted on a different 4/5 of the data, predictions averaged.

The paper fits 5 predictors on the 5 ways of holding out one fifth of the
data (k-fold style) and averages them (docs/paper.md, section 4). Here member ``i``
leaves out fold ``i mod 5`` of a seeded shuffle (a fresh shuffle for every
further group of 5 members), so 5 members reproduce the paper's split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from pnas.predictors.base import ScoresExpansion
from pnas.predictors.expansion import Expansion, build_expansion
from pnas.predictors.neural import check_training_data
from pnas.space.base import SearchSpace
from pnas.threads import torch_threads

FOLDS = 5
"""Each member is fitted without one fold of this many: 4/5 of the data."""


def member_seed(seed: int, member: int) -> int:
    """A member's own seed, derived from the ensemble's seed and its position."""
    state = np.random.SeedSequence([int(seed) % (2**63), member]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def fold_indices(count: int, members: int, seed: int) -> list[np.ndarray]:
    """Training indices of each member: all but one fold of a seeded shuffle.

    With fewer than ``FOLDS`` cells some folds are empty, so a member may see
    everything; every member sees at least one cell.
    """
    rng = np.random.default_rng([int(seed) % (2**63), 0xF01D])
    out = []
    for member in range(members):
        if member % FOLDS == 0:
            folds = np.array_split(rng.permutation(count), FOLDS)
        keep = np.concatenate([f for k, f in enumerate(folds) if k != member % FOLDS])
        out.append(np.sort(keep) if keep.size else np.arange(count))
    return out


class Ensemble:
    """Averages members built by ``make_member(seed)``; fits each on its own 4/5."""

    def __init__(self, make_member: Callable[[int], Any], members: int, *, seed: int = 0) -> None:
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise ValueError(f"ensemble size must be a positive integer, got {members!r}")
        self.seed = int(seed)
        self.members = [make_member(member_seed(self.seed, i)) for i in range(members)]

    def fit(self, cells: Sequence[Any], accuracies: Sequence[float]) -> None:
        check_training_data(cells, accuracies)
        cells, values = list(cells), list(accuracies)
        jobs = [
            (member, [cells[i] for i in keep], [values[i] for i in keep])
            for member, keep in zip(self.members, fold_indices(len(cells), len(self.members), self.seed))
        ]
        workers = self._fit_workers()
        if workers == 1:
            for member, member_cells, member_values in jobs:
                member.fit(member_cells, member_values)
            return
        # Members are independent and torch releases the GIL inside its ops, so
        # threads fit them side by side; each member still sees only its own
        # seed and data, so the result is the same as fitting one by one. (Each
        # member's own torch_threads(1) then only ever sets the value already set.)
        with torch_threads(1), ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda job: job[0].fit(job[1], job[2]), jobs))

    def _fit_workers(self) -> int:
        """As many threads as torch may use, when every member fits on one thread."""
        single = all(getattr(getattr(m, "config", None), "threads", None) == 1 for m in self.members)
        return min(len(self.members), torch.get_num_threads()) if single else 1

    def predict(self, cells: Sequence[Any]) -> np.ndarray:
        return np.asarray(
            np.mean([member.predict(cells) for member in self.members], axis=0, dtype=np.float64), np.float32
        )

    def predict_children(self, space: SearchSpace, parents: Sequence[Any]) -> np.ndarray:
        """Scores of every child of ``parents``; the expansion is laid out once for all members."""
        if all(isinstance(member, ScoresExpansion) for member in self.members):
            return self.predict_expansion(build_expansion(space, parents))
        scores = [member.predict_children(space, parents) for member in self.members]
        return np.asarray(np.mean(scores, axis=0, dtype=np.float64), np.float32)

    def predict_expansion(self, expansion: Expansion) -> np.ndarray:
        scores = [member.predict_expansion(expansion) for member in self.members]
        return np.asarray(np.mean(scores, axis=0, dtype=np.float64), np.float32)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"member{i}.{key}": value for i, m in enumerate(self.members) for key, value in m.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        parts: list[dict[str, torch.Tensor]] = [{} for _ in self.members]
        for key, value in state.items():
            head, _, rest = key.partition(".")
            index = int(head[len("member") :]) if head.startswith("member") and head[6:].isdigit() else -1
            if not 0 <= index < len(self.members):
                raise ValueError(f"weight {key!r} does not belong to a {len(self.members)}-member ensemble")
            parts[index][rest] = value
        for member, part in zip(self.members, parts):
            member.load_state_dict(part)
