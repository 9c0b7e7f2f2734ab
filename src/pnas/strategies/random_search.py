"""Random search: the baseline every search strategy must beat (docs/paper.md, section 6).

Cells of the whole space (``space.max_level``: 5-block cells in the PNAS space,
all 6 edges in NAS-Bench-201) are drawn by uniform independent decisions
(``space.random_cell``), never the same cell twice in a study. By default the
whole budget is one batch, so any number of workers can train it at once.

Also home of the bookkeeping the budgeted baselines share (:class:`BudgetedStrategy`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from typing import Any

from pnas.config import build_options
from pnas.evaluation.base import EvalResult
from pnas.space.base import SearchSpace
from pnas.strategies.base import Proposal, Strategy, derived
from pnas.strategies.options import BudgetOptions as BudgetOptions  # re-exported: the baselines' options
from pnas.strategies.options import WorkerBatchOptions as WorkerBatchOptions  # re-exported

DRAW_ATTEMPTS = 1000
"""Draws tried for one unseen cell before the space is taken as exhausted."""

LAZY_CHUNK = 1024
"""Cells proposed per ask when a strategy whose proposals do not depend on results has no batch
size: the whole budget stays one round, but any budget starts training at once."""


def draw_unseen(
    draw: Callable[[], Hashable], seen: Callable[[Hashable], bool], attempts: int = DRAW_ATTEMPTS
) -> Any | None:
    """The first of up to ``attempts`` draws for which ``seen`` is false; None if all were seen."""
    for _ in range(attempts):
        cell = draw()
        if not seen(cell):
            return cell
    return None


class BudgetedStrategy(Strategy):
    """A strategy that proposes at most ``budget`` distinct cells, in batches.

    Subclasses implement :meth:`propose` (the next batch's cells, at most ``n``)
    and :meth:`observe` (one told outcome). This class checks the ask/tell
    contract, counts the budget (failed and pruned children count: they were
    paid for) and the training compute spent (``budget_compute``: no batch is
    asked once it is reached), and keeps the set of cells already proposed so
    none is proposed twice.

    Built from its :attr:`options_class` (``RandomSearch(space, BudgetOptions(budget=20))``) or its
    fields as keywords (``RandomSearch(space, budget=20)``); unset derived defaults are filled as the
    search fills them, for one worker (a budget: the progressive search's model count at the default K).
    """

    options_class: type[BudgetOptions] = BudgetOptions
    options: BudgetOptions

    def __init__(self, space: SearchSpace, options: BudgetOptions | None = None, **values: Any) -> None:
        options = derived(build_options(self.options_class, options, values), space)
        super().__init__(space, seed=options.seed, goal=options.goal())
        self.options = options
        assert options.budget is not None  # derived
        self.budget = options.budget
        self.budget_compute = options.budget_compute
        self.compute = 0
        """Training compute of the children told so far (see :meth:`spent`)."""
        self.batch = options.batch
        self.rng = random.Random(options.seed)
        self.seen: set[Any] = set()
        self.told = 0
        self.round = 0
        self._pending: list[Any] = []
        self._finished = False
        self.queue: list[Any] = []
        """Cells enqueued by the user, asked before the strategy's own (see :meth:`enqueue`)."""
        self.predicted: dict[Any, float | None] = {}
        """Scores a predictor gave the cells :meth:`propose` just returned, where one chose them (kept as
        each proposal's ``predicted``)."""

    @property
    def remaining(self) -> int:
        return self.budget - self.told - len(self._pending)

    proposals_depend_on_results = True
    """False where :meth:`propose` ignores what was told: then ``batch=None`` (the whole budget as one
    round) is proposed lazily, in chunks of :data:`LAZY_CHUNK`, which gives the same cells."""

    def ask(self) -> list[Proposal]:
        if self._pending:
            raise RuntimeError(
                f"{len(self._pending)} proposal(s) of the last batch were not told yet: tell every one before asking again"
            )
        if self._finished or self.remaining <= 0:
            return []
        if self.budget_compute is not None and self.compute >= self.budget_compute:
            return []
        lazy = self.batch is None and not self.proposals_depend_on_results
        if self.batch is not None:
            n = min(self.batch, self.remaining)
        else:
            n = min(LAZY_CHUNK, self.remaining) if lazy else self.remaining
        self.predicted = {}
        cells = self._dequeue(n)
        cells += self.propose(n - len(cells)) if n > len(cells) else []
        if not cells:  # the space holds no cell this study has not proposed yet
            self._finished = True
            return []
        if not (lazy and self.round):
            self.round += 1
        self.seen.update(cells)
        self.record_latency_predictions(self.round, cells)
        self._pending = list(cells)
        return [Proposal(cell=cell, round=self.round, predicted=self.predicted.get(cell)) for cell in cells]

    def tell(self, proposal: Proposal, result: EvalResult | None) -> None:
        if not self._pending:
            raise RuntimeError(f"told {proposal.cell} but no proposal is waiting for a result")
        if proposal.cell != self._pending[0]:
            raise RuntimeError(
                f"told {proposal.cell} but the next proposal waiting is {self._pending[0]}: tell in batch order"
            )
        self._pending.pop(0)
        self.told += 1
        self.costs.observe(proposal.cell, result)
        if result is not None and not self.costs.meets_limits(result):
            result = None  # over a measured limit: learnt from as a failure, never as a result
        self.observe(proposal.cell, result, batch_done=not self._pending)

    def spent(self, compute: int) -> None:
        self.compute += compute

    accepts_enqueued = True

    def enqueue(self, cells: list[Any]) -> None:
        self.queue.extend(cells)
        self._finished = False

    def _dequeue(self, n: int) -> list[Any]:
        """Up to ``n`` enqueued cells not proposed yet (nor over a limit), in the order they were enqueued."""
        taken: list[Any] = []
        while self.queue and len(taken) < n:
            cell = self.queue.pop(0)
            if not self.excluded(cell, set(taken)):
                taken.append(cell)
        if taken:
            self.seen.update(taken)
        return taken

    def warm_start(self, cell: Any, result: EvalResult | None) -> None:
        """Learnt from like a told outcome, and never proposed; it does not count against the budget."""
        self.seen.add(cell)
        self.costs.observe(cell, result)
        if result is not None and not self.costs.meets_limits(result):
            result = None
        self.observe(cell, result, batch_done=True)

    def propose(self, n: int) -> list[Any]:
        """Up to ``n`` distinct cells not in ``self.seen``; fewer (or none) if the space runs out."""
        raise NotImplementedError

    def observe(self, cell: Any, result: EvalResult | None, batch_done: bool) -> None:
        """One outcome, in batch order; ``batch_done`` on the batch's last one."""

    def random_unseen(self, extra_seen: set[Any] | None = None) -> Any | None:
        """A uniform random cell within the limits and not proposed yet (nor in ``extra_seen``), or None."""
        extra = extra_seen or set()
        return draw_unseen(lambda: self.space.random_cell(self.rng), lambda c: self.excluded(c, extra))

    def random_cells(self, n: int) -> list[Any]:
        """Up to ``n`` distinct uniform random cells, none proposed yet and all within the limits."""
        cells: list[Any] = []
        batch_seen: set[Any] = set()
        for _ in range(n):
            cell = self.random_unseen(batch_seen)
            if cell is None:
                break
            cells.append(cell)
            batch_seen.add(cell)
        return cells

    def excluded(self, cell: Any, extra_seen: set[Any]) -> bool:
        """Proposed already (in the study or ``extra_seen``), or over a limit: not to be proposed."""
        if cell in self.seen or cell in extra_seen:
            return True
        return bool(self.goal.limits) and not bool(self.costs.within([cell])[0])


class RandomSearch(BudgetedStrategy):
    """Uniform random cells without repeats; ``batch=None`` proposes the whole budget at once."""

    name = "random"
    proposals_depend_on_results = False

    def propose(self, n: int) -> list[Any]:
        return self.random_cells(n)
