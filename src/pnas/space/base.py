"""The search-space protocol: what every strategy and predictor may ask of a space.

A space owns its cell type (an immutable, hashable genotype with a text form)
and answers structural questions about it. Strategies never look inside a
cell; predictors see it only through :meth:`SearchSpace.encode`.

Levels order cells by complexity. The progressive search starts from
``initial_cells()`` (level 1) and climbs one level at a time with
``children()``; the other strategies sample whole cells of ``max_level``
with ``random_cell()`` / ``mutate()`` or build them from decisions.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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

    def with_max_level(self, level: int) -> SearchSpace:
        """The same space with cells of up to ``level`` (what a study had before it was grown)."""
        if level != self.max_level:
            raise ValueError(f"the {self.name} space has a fixed size of {self.max_level} levels, not {level}")
        return self

    def config(self) -> dict[str, Any]:
        """What identifies this space in a study's stored configuration."""
        return {"name": self.name, "max_level": self.max_level}
