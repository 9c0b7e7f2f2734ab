"""The search-space protocol: what every strategy and predictor may ask of a space.

A space owns its cell type (an immutable, hashable genotype with a text form)
and answers structural questions about it. Strategies never look inside a
cell; predictors see it only through :meth:`SearchSpace.encode`.

Levels order cells by complexity. The progressive search starts from
``initial_cells()`` (level 1) and climbs one level at a time with
``children()``; the other strategies sample whole cells of ``max_level``
with ``random_cell()`` / ``mutate()`` or build them from decisions.

What else a space can do is declared here and overridden by the spaces that can
(:mod:`pnas.capability`): its default evaluator, a shipped benchmark table, a
list of all its cells, a path encoding, a proxy network for zero-cost features,
a drawing. The rest of the project asks the space, never its registered name,
so a space a plugin registers (a subclass of a built-in one under any name)
works wherever the built-in does.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pnas.capability import MissingCapability

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TokenSpec:
    """Shape of a space's token encoding, so predictors can size embeddings.

    A cell encodes as a sequence of blocks; every block has ``inputs_per_block``
    input tokens (values in ``range(input_vocab)``) followed by ``ops_per_block``
    operator tokens (values in ``range(op_vocab)``).
    """

    input_vocab: int
    op_vocab: int
    inputs_per_block: int
    ops_per_block: int

    @property
    def tokens_per_block(self) -> int:
        return self.inputs_per_block + self.ops_per_block


EncodedBlock = tuple[tuple[int, ...], tuple[int, ...]]
"""One block: (input tokens, operator tokens)."""


class SearchSpace(ABC):
    """A space of cells. Implementations are cheap, stateless and pickle-free."""

    name: str
    max_level: int
    token_spec: TokenSpec
    children_append_one_block: bool = False
    """True when every child of a cell is the cell plus one block appended at the
    end of its encoding, which lets predictors share the parent's prefix."""

    # --- capabilities (see the module docstring) ---------------------------------
    default_evaluator: str = "train"
    """The evaluator a search in this space uses when none is named (NAS-Bench-201: its table)."""
    title: str = ""
    """The space's name for people, in messages ("NAS-Bench-201"); empty: its registered name."""
    level_noun: str = "level"
    """What one level of a cell is called in messages (PNAS cells: "block")."""
    draw_options: tuple[str, ...] = ()
    """Options :meth:`draw` takes (PNAS cells: ``concat``)."""
    benchmark_table: str | None = None
    """A file in ``pnas/data`` holding every cell's recorded accuracies: the table evaluator's
    table when none is given (NAS-Bench-201's 12-epoch table)."""

    # --- levels -------------------------------------------------------------
    @abstractmethod
    def level(self, cell: Any) -> int:
        """Complexity level of a cell (blocks, or edges that are not `none`)."""

    @abstractmethod
    def initial_cells(self) -> list[Any]:
        """Every distinct cell of level 1, in a fixed order."""

    @abstractmethod
    def children(self, cell: Any) -> list[Any]:
        """Every distinct cell one level above ``cell`` that extends it, fixed order."""

    # --- sampling -----------------------------------------------------------
    @abstractmethod
    def decision_sizes(self) -> list[int]:
        """Number of choices at each step when a cell of ``max_level`` is built
        token by token (used by RL controllers and uniform sampling)."""

    @abstractmethod
    def from_decisions(self, choices: Sequence[int]) -> Any:
        """The cell built by one choice per entry of :meth:`decision_sizes`."""

    def random_cell(self, rng: random.Random) -> Any:
        """A cell of the whole space, drawn by uniform independent decisions."""
        return self.from_decisions([rng.randrange(n) for n in self.decision_sizes()])

    @abstractmethod
    def mutate(self, cell: Any, rng: random.Random) -> Any:
        """A valid cell that differs from ``cell`` by one small change."""

    # --- encodings ----------------------------------------------------------
    @abstractmethod
    def encode(self, cell: Any) -> list[EncodedBlock]:
        """Token encoding of ``cell`` for predictors (see :class:`TokenSpec`)."""

    @abstractmethod
    def parse(self, text: str) -> Any:
        """Read a cell from its text form; ValueError naming the problem if bad."""

    def format(self, cell: Any) -> str:
        """The cell's canonical text form."""
        return str(cell)

    def appended_blocks(self, cell: Any) -> list[EncodedBlock]:
        """The encoded block each child of ``cell`` appends, in :meth:`children` order; only meaningful
        when :attr:`children_append_one_block`. This default encodes every child; a space that can tell
        without doing so (the PNAS space) overrides it."""
        return [self.encode(child)[-1] for child in self.children(cell)]

    def with_max_level(self, level: int) -> SearchSpace:
        """The same space with cells of up to ``level`` (what a study had before it was grown)."""
        if level != self.max_level:
            raise ValueError(f"the {self.name} space has a fixed size of {self.max_level} levels, not {level}")
        return self

    def config(self) -> dict[str, Any]:
        """What identifies this space in a study's stored configuration."""
        return {"name": self.name, "max_level": self.max_level}

    # --- optional capabilities: a space without one says so in one line ------------
    def missing(self, capability: str, hint: str = "") -> MissingCapability:
        """The error for a capability this space lacks (raise it)."""
        return MissingCapability("space", self.name, capability, hint)

    def all_cells(self) -> list[Any] | None:
        """Every cell, for a space small enough to list (a table is read faster through it); None otherwise."""
        return None

    def path_names(self, *, max_length: int | None = None) -> list[str]:
        """The name of every entry of :meth:`path_encodings`, in index order (:mod:`pnas.space.paths`)."""
        raise self.missing("path encoding", "use the tokens or zero-cost features")

    def path_encodings(self, cells: Sequence[Any], *, max_length: int | None = None) -> np.ndarray:
        """``[len(cells), len(path_names())]`` float32 0/1 flags: which operator paths each cell has."""
        raise self.missing("path encoding", "use the tokens or zero-cost features")

    def proxy_network(self, cell: Any, *, in_channels: int, num_classes: int) -> Any:
        """A small untrained ``nn.Module`` of the cell that zero-cost proxies score (built with the
        caller's random state: :func:`pnas.predictors.features.proxy_network` seeds it)."""
        raise self.missing("proxy network", "zero-cost features need one; use the paths or tokens features")

    def draw(self, cell: Any, ax: Any = None, title: str | None = None, **options: Any) -> Any:
        """The cell's drawing as a matplotlib Figure (``ax``'s own when given; see :mod:`pnas.report.drawing`)."""
        raise self.missing("drawing")

    def benchmark_cost_model(self, metric: str) -> Any:
        """The parameters and mult-adds of the benchmark network behind a table column (``metric``, such
        as ``cifar10-val``), or None: the table evaluator's cost model."""
        return None
