"""Answer cells from a table of recorded accuracies instead of training them.

A benchmark table such as NAS-Bench-201 (Dong and Yang, ICLR 2020) holds the
real accuracy of every cell of a space, so strategies can be compared over
many seeds in seconds without a GPU. The table is a CSV file with a
``cellstr`` column (the cell's text form in its space) and one column per
metric, in percent; other columns are optional and ignored unless asked for.

The package ships the 12-epoch NAS-Bench-201 table (``pnas/data/nb201_12epoch.csv``,
MIT, see ``pnas/data/NB201_README.md``); ``table=PATH`` loads another table of
the same format (another fidelity, or one a user made).

Results are fractions like every accuracy in the project. A looked-up cell
costs nothing here, so ``EvalResult.examples`` and ``seconds`` are 0 (which also
keeps results bit-identical between runs): model counts, not compute, are what
a table comparison measures. Every NAS-Bench-201 cell was trained with the same
schedule, so a model count is proportional to the training examples it stands for.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pnas.evaluation.base import EVALUATORS, ChildFailed, EvalResult, Evaluator, ProgressCallback
from pnas.space import create_space

SHIPPED_TABLE = "nb201_12epoch.csv"
"""The table inside the package, used when no path is given."""

CELL_COLUMN = "cellstr"


@dataclass(frozen=True)
class Table:
    """A loaded table: every cell's numeric columns, in the file's units (percent)."""

    source: str
    columns: tuple[str, ...]
    """Every column of the file except ``cellstr``, in file order."""
    rows: dict[Any, dict[str, float]]
    """cell -> {column: value}; a blank or non-numeric entry is left out of its row."""

    def require(self, column: str) -> None:
        """ValueError naming the available columns if ``column`` is not in the file."""
        if column not in self.columns:
            raise ValueError(
                f"table {self.source} has no column {column!r}; available: {', '.join(self.columns) or '(none)'}"
            )

    def fractions(self, column: str) -> dict[Any, float]:
        """cell -> value / 100 for every cell that has a value in ``column``."""
        self.require(column)
        return {cell: row[column] / 100.0 for cell, row in self.rows.items() if column in row}


def _shipped_path() -> Path:
    return Path(str(resources.files("pnas") / "data" / SHIPPED_TABLE))


def _resolve(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        return _shipped_path()
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise ValueError(
            f"table file {str(path)!r} not found: give a CSV with a 'cellstr' column and metric columns in percent"
        )
    return resolved.resolve()


def read_table(path: str | os.PathLike[str] | None = None, space: str = "nb201") -> Table:
    """Load (once per process and file version) the table at ``path`` (default: the shipped one).

    ``space`` names the search space whose text form the ``cellstr`` column uses.
    """
    resolved = _resolve(path)
    stat = resolved.stat()
    return _read_cached(str(resolved), stat.st_mtime_ns, stat.st_size, space)


def load_table(path: str | os.PathLike[str] | None = None, space: str = "nb201") -> dict[Any, dict[str, float]]:
    """cell -> {column: value in percent, as in the file}. The shared dict: do not modify it."""
    return read_table(path, space).rows


@lru_cache(maxsize=4)
def _canonical_cells(space_name: str) -> dict[str, Any]:
    """Every cell of a small space keyed by its text: parsing 15k strings one by one is the
    slow part of loading a table, and tables usually spell cells canonically."""
    space = create_space(space_name)
    return {str(c): c for c in space.all_cells()} if hasattr(space, "all_cells") else {}


@lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int, space_name: str) -> Table:
    space = create_space(space_name)
    canonical = _canonical_cells(space_name)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise ValueError(f"table {path} is empty: it needs a header line with a 'cellstr' column") from None
        if CELL_COLUMN not in header:
            raise ValueError(f"table {path} has no {CELL_COLUMN!r} column; its columns are: {', '.join(header)}")
        cell_index = header.index(CELL_COLUMN)
        columns = tuple(name for i, name in enumerate(header) if i != cell_index)
        rows: dict[Any, dict[str, float]] = {}
        for line_number, record in enumerate(reader, start=2):
            if not record or all(not field.strip() for field in record):
                continue
            if len(record) != len(header):
                raise ValueError(f"table {path}, line {line_number}: {len(record)} fields, the header has {len(header)}")
            text = record[cell_index].strip()
            cell = canonical.get(text)
            if cell is None:
                try:
                    cell = space.parse(text)
                except ValueError as exc:
                    raise ValueError(f"table {path}, line {line_number}: bad cell {text!r}: {exc}") from None
            if cell in rows:
                raise ValueError(f"table {path}, line {line_number}: cell {text!r} appears twice")
            values: dict[str, float] = {}
            for i, field in enumerate(record):
                if i == cell_index:
                    continue
                try:
                    value = float(field)
                except ValueError:
                    continue
                if math.isfinite(value):
                    values[header[i]] = value
            rows[cell] = values
    return Table(source=path, columns=columns, rows=rows)


class CellNotInTable(ChildFailed, ValueError):
    """A cell the table has no row (or no metric value) for: the child fails, the search goes on."""


class TableEvaluator(Evaluator):
    """Looks a cell up: ``metric`` becomes the accuracy, ``report_metric`` the report accuracy."""

    name = "table"

    def __init__(
        self,
        table: str | None = None,
        metric: str = "cifar10-val",
        report_metric: str | None = "cifar10-test",
        space: str = "nb201",
    ) -> None:
        self.table_path = None if table is None else str(table)
        self.metric = metric
        self.report_metric = report_metric
        self.space_name = space
        self.table = read_table(self.table_path, space)
        self.table.require(metric)
        if report_metric is not None:
            self.table.require(report_metric)
        for column in filter(None, (metric, report_metric)):
            values = [row[column] for row in self.table.rows.values() if column in row]
            if values and not all(0.0 <= v <= 100.0 for v in values):
                raise ValueError(
                    f"table {self.table.source}, column {column!r}: values must be accuracies in percent (0..100), "
                    f"found {min(values)}..{max(values)}"
                )

    def evaluate(self, cell: Any, progress: ProgressCallback | None = None) -> EvalResult:
        if isinstance(cell, str):
            cell = create_space(self.space_name).parse(cell)
        row = self.table.rows.get(cell)
        if row is None:
            raise CellNotInTable(f"cell {cell} is not in table {self.table.source}")
        if self.metric not in row:
            raise CellNotInTable(f"table {self.table.source} has no {self.metric!r} value for cell {cell}")
        report = None
        if self.report_metric is not None and self.report_metric in row:
            report = row[self.report_metric] / 100.0
        return EvalResult(
            accuracy=row[self.metric] / 100.0,
            report_accuracy=report,
            examples=0,
            seconds=0.0,
        )

    def config(self) -> dict[str, Any]:
        return {
            "table": self.table_path,
            "metric": self.metric,
            "report_metric": self.report_metric,
            "space": self.space_name,
        }


EVALUATORS.register("table", TableEvaluator)
