"""The NAS-Bench-201 space (Dong and Yang, ICLR 2020): a 4-node cell, 6 edges, 5 ops.

Edges in the benchmark's order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2. The cell
string is ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (the op on each edge into
node 1, 2, 3, from the node after the ``~``).

Complexity level = number of edges that are not ``none``, so the progressive
search climbs from the 24 one-edge cells (levels 1..6 hold 24, 240, 1280,
3840, 6144, 4096 cells). For predictors each active edge is a block with
input tokens (source node, target node) and one operator token.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pnas.space.base import EncodedBlock, SearchSpace, TokenSpec

if TYPE_CHECKING:
    import numpy as np

NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""(source, target) of each edge, in cell-string order."""


@dataclass(frozen=True)
class Nb201Cell:
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) != len(NB201_EDGES):
            raise ValueError(f"a NAS-Bench-201 cell has 6 edges, got {len(self.ops)}")
        for op in self.ops:
            if op not in NB201_OPS:
                raise ValueError(f"unknown NAS-Bench-201 operator {op!r}: choose one of {', '.join(NB201_OPS)}")

    @property
    def level(self) -> int:
        return sum(op != "none" for op in self.ops)

    def __str__(self) -> str:
        o = self.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    @classmethod
    def parse(cls, text: str) -> Nb201Cell:
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise ValueError(f"NAS-Bench-201 cell string needs 3 node groups joined by '+', got {text!r}")
        ops = []
        for target, group in enumerate(nodes, start=1):
            edges = [e for e in group.strip().strip("|").split("|")]
            if len(edges) != target:
                raise ValueError(f"node {target} needs {target} incoming edges in {text!r}")
            for source, edge in enumerate(edges):
                match = re.fullmatch(r"([a-z0-9_]+)~([0-9]+)", edge.strip())
                if not match or int(match.group(2)) != source:
                    raise ValueError(f"malformed edge {edge!r} in {text!r}: expected 'op~{source}'")
                ops.append(match.group(1))
        return cls(tuple(ops))


class Nb201Space(SearchSpace):
    name = "nb201"
    max_level = len(NB201_EDGES)
    token_spec = TokenSpec(input_vocab=4, op_vocab=len(NB201_OPS), inputs_per_block=2, ops_per_block=1)
    title = "NAS-Bench-201"
    default_evaluator = "table"  # every cell's accuracy is recorded: a search needs no training
    benchmark_table = "nb201_12epoch.csv"
    proxy_sizes = {"channels": 16, "cells_per_stage": 1}
    """The proxy network of zero-cost features: the benchmark's skeleton, one cell per stage."""

    def config(self) -> dict[str, Any]:
        return {"name": self.name}  # its size is fixed

    def level(self, cell: Nb201Cell) -> int:
        return cell.level

    def initial_cells(self) -> list[Nb201Cell]:
        return self.children(Nb201Cell(("none",) * 6))

    def children(self, cell: Nb201Cell) -> list[Nb201Cell]:
        out = []
        for edge, op in enumerate(cell.ops):
            if op != "none":
                continue
            for new_op in NB201_OPS[1:]:
                ops = list(cell.ops)
                ops[edge] = new_op
                out.append(Nb201Cell(tuple(ops)))
        return out

    def all_cells(self) -> list[Nb201Cell]:
        cells = []
        for index in range(len(NB201_OPS) ** 6):
            digits = []
            for _ in range(6):
                index, d = divmod(index, len(NB201_OPS))
                digits.append(NB201_OPS[d])
            cells.append(Nb201Cell(tuple(digits)))
        return cells

    def decision_sizes(self) -> list[int]:
        return [len(NB201_OPS)] * len(NB201_EDGES)

    def from_decisions(self, choices: Sequence[int]) -> Nb201Cell:
        if len(choices) != 6:
            raise ValueError(f"need 6 decisions, got {len(choices)}")
        for c in choices:
            if not 0 <= c < len(NB201_OPS):
                raise ValueError(f"decision {c} out of range({len(NB201_OPS)})")
        return Nb201Cell(tuple(NB201_OPS[c] for c in choices))

    def mutate(self, cell: Nb201Cell, rng: random.Random) -> Nb201Cell:
        """Change the op of one edge (AmoebaNet-style op mutation)."""
        edge = rng.randrange(6)
        ops = list(cell.ops)
        ops[edge] = rng.choice([op for op in NB201_OPS if op != ops[edge]])
        return Nb201Cell(tuple(ops))

    def encode(self, cell: Nb201Cell) -> list[EncodedBlock]:
        return [((src, dst), (NB201_OPS.index(op),)) for (src, dst), op in zip(NB201_EDGES, cell.ops) if op != "none"]

    def parse(self, text: str) -> Nb201Cell:
        return Nb201Cell.parse(text)

    # --- capabilities ---------------------------------------------------------
    def path_names(self, *, max_length: int | None = None) -> list[str]:
        from pnas.space.paths import nb201_path_names

        return nb201_path_names(max_length)

    def path_encodings(self, cells: Sequence[Any], *, max_length: int | None = None) -> np.ndarray:
        from pnas.space.paths import nb201_path_encodings

        return nb201_path_encodings(cells, max_length)

    def proxy_network(self, cell: Nb201Cell, *, in_channels: int, num_classes: int) -> Any:
        from pnas.nets.nb201 import build_nb201_network

        return build_nb201_network(cell, in_channels=in_channels, num_classes=num_classes, **self.proxy_sizes)

    def draw(self, cell: Nb201Cell, ax: Any = None, title: str | None = None, **options: Any) -> Any:
        from pnas.report.drawing import draw_nb201_cell

        return draw_nb201_cell(cell, ax, title)

    def benchmark_cost_model(self, metric: str) -> Any:
        """NAS-Bench-201's network sized for the column's data set (CIFAR-10 and -100: 32 px;
        ImageNet16-120: 120 classes at 16 px)."""
        from pnas.nets.nb201 import Nb201CostModel, nb201_dataset_sizes

        classes, size = nb201_dataset_sizes(metric)
        return Nb201CostModel(num_classes=classes, image_size=size)
