"""Answer cells from a table of recorded accuracies instead of training them.

A benchmark table such as NAS-Bench-201 (Dong and Yang, ICLR 2020) holds the
real accuracy of every cell of a space, so strategies can be compared over
many seeds in seconds without a GPU. The table is a CSV file with a
``cellstr`` column (the cell's text form in its space) and one column per
metric, in percent; other columns are optional and ignored unless asked for.

The package ships the 12-epoch NAS-Bench-201 table (``pnas/data/nb201_12epoch.csv``,
MIT, see ``pnas/data/NB201_README.md``), the table of every space that declares it
(:attr:`pnas.space.base.SearchSpace.benchmark_table`: NAS-Bench-201's space and its
subclasses); ``table=PATH`` loads another table of the same format (another
fidelity, or one a user made).

Results are fractions like every accuracy in the project. A looked-up cell
costs nothing here, so ``EvalResult.examples`` and ``seconds`` are 0 (which also
keeps results bit-identical between runs): model counts, not compute, are what
a table comparison measures. Every NAS-Bench-201 cell was trained with the same
schedule, so a model count is proportional to the training examples it stands for.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pnas.config import option
from pnas.evaluation.base import EVALUATORS, ChildFailed, EvalResult, Evaluator, ProgressCallback, ReportCallback
from pnas.space import create_space

SHIPPED_TABLE = "nb201_12epoch.csv"
"""NAS-Bench-201's table inside the package (:attr:`pnas.space.Nb201Space.benchmark_table`)."""

CELL_COLUMN = "cellstr"


class InvalidTable(ValueError):
    """A table file that cannot be used; the message names the file (and the line or column)."""


@dataclass(frozen=True)
class Table:
    """A loaded table: every cell's numeric columns, in the file's units (percent)."""

    source: str
    columns: tuple[str, ...]
    """Every column of the file except ``cellstr``, in file order."""
    rows: dict[Any, dict[str, float]]
    """cell -> {column: value}; a blank or non-numeric entry is left out of its row."""
    size: int = 0
    """The file's size in bytes."""
    sha256: str = ""
    """The sha256 of the file's bytes."""

    def require(self, column: str) -> None:
        """InvalidTable naming the available columns if ``column`` is not in the file."""
        if column not in self.columns:
            raise InvalidTable(
                f"table {self.source} has no column {column!r}; available: {', '.join(self.columns) or '(none)'}"
            )

    def fingerprint(self) -> dict[str, Any]:
        """What :meth:`TableEvaluator.data_fingerprint` returns: the file's name (not its folder), size and
        hash, and its row count and columns."""
        name = Path(self.source).name
        return {
            "kind": "table",
            "content": {"sha256": self.sha256, "rows": len(self.rows), "columns": list(self.columns)},
            "files": {name: [self.size, self.sha256[:16]]},
            "file_count": 1,
            "files_sha256": hashlib.sha256(f"{name}\0{self.size}\0{self.sha256[:16]}\n".encode()).hexdigest(),
        }

    def fractions(self, column: str) -> dict[Any, float]:
        """cell -> value / 100 for every cell that has a value in ``column``."""
        self.require(column)
        return {cell: row[column] / 100.0 for cell, row in self.rows.items() if column in row}


def _shipped_path(name: str = SHIPPED_TABLE) -> Path:
    return Path(str(resources.files("pnas") / "data" / name))


def _resolve(path: str | os.PathLike[str] | None, space: str) -> Path:
    if path is None:
        shipped = create_space(space).benchmark_table
        if shipped is None:
            raise create_space(space).missing("benchmark table", "give the table's file with --table")
        return _shipped_path(shipped)
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise InvalidTable(
            f"table file {str(path)!r} not found: give a CSV with a 'cellstr' column and metric columns in percent"
        )
    return resolved.resolve()


def read_table(path: str | os.PathLike[str] | None = None, space: str = "nb201") -> Table:
    """Load (once per process and file version) the table at ``path`` (default: the shipped one).

    ``space`` names the search space whose text form the ``cellstr`` column uses (and whose
    :attr:`~pnas.space.base.SearchSpace.benchmark_table` is the default table).
    """
    resolved = _resolve(path, space)
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
    return {space.format(c): c for c in space.all_cells() or ()}


@lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int, space_name: str) -> Table:
    space = create_space(space_name)
    canonical = _canonical_cells(space_name)
    data = _read_bytes(path)
    reader = csv.reader(io.StringIO(_decode_text(path, data), newline=""))
    records = _records(reader, path)
    header = [name.strip() for name in next(records, None) or []]
    if not header:
        raise InvalidTable(f"table {path} is empty: it needs a header line with a {CELL_COLUMN!r} column")
    if CELL_COLUMN not in header:
        raise InvalidTable(f"table {path} has no {CELL_COLUMN!r} column; its columns are: {', '.join(header)}")
    cell_index = header.index(CELL_COLUMN)
    columns = tuple(name for i, name in enumerate(header) if i != cell_index)
    rows: dict[Any, dict[str, float]] = {}
    for record in records:
        line_number = reader.line_num
        if not record or all(not field.strip() for field in record):
            continue
        if len(record) != len(header):
            raise InvalidTable(f"table {path}, line {line_number}: {len(record)} fields, the header has {len(header)}")
        text = record[cell_index].strip()
        cell = canonical.get(text)
        if cell is None:
            try:
                cell = space.parse(text)
            except ValueError as exc:
                raise InvalidTable(f"table {path}, line {line_number}: bad cell {text!r}: {exc}") from None
        if cell in rows:
            raise InvalidTable(f"table {path}, line {line_number}: cell {text!r} appears twice")
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
    if not rows:
        raise InvalidTable(f"table {path} has no rows: only a header line")
    return Table(source=path, columns=columns, rows=rows, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidTable(f"table {path} cannot be read ({exc.strerror or exc})") from None


def _decode_text(path: str, data: bytes) -> str:
    """The file's text (UTF-8, a spreadsheet's byte-order mark dropped); otherwise InvalidTable naming the line."""
    body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        offset = exc.start + len(data) - len(body)
        raise InvalidTable(
            f"table {path}, line {line}: not UTF-8 text (byte {body[exc.start]:#04x} at offset {offset}); "
            "save the table as UTF-8 CSV"
        ) from None


def _records(reader: Any, path: str) -> Iterator[list[str]]:
    """The reader's records; a malformed one (an unclosed quote, a NUL byte) is an InvalidTable naming its line.

    ``reader.line_num`` after a record is the physical line it ended on, so a quoted field spanning
    lines does not shift the numbers of later lines."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidTable(f"table {path}, line {reader.line_num}: {exc}") from None
        yield record


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
        self._costs: Any = None
        self._use(read_table(self.table_path, space))

    def _use(self, table: Table) -> None:
        """Take ``table`` after checking that it has this evaluator's columns, as accuracies in percent."""
        self.table = table
        table.require(self.metric)
        if self.report_metric is not None:
            table.require(self.report_metric)
        for column in filter(None, (self.metric, self.report_metric)):
            values = [row[column] for row in table.rows.values() if column in row]
            if not values:
                raise InvalidTable(f"table {table.source} has no numeric value in column {column!r}")
            if not all(0.0 <= v <= 100.0 for v in values):
                raise InvalidTable(
                    f"table {table.source}, column {column!r}: values must be accuracies in percent (0..100), "
                    f"found {min(values)}..{max(values)}"
                )

    def shared_data(self) -> dict[str, Any] | None:
        """A table the user gave, as plain data (rows keyed by cell text); the shipped table is on every
        machine that has pnas, so it is not sent."""
        if self.table_path is None:
            return None
        t = self.table
        rows = {str(cell): row for cell, row in t.rows.items()}
        return {"source": t.source, "columns": list(t.columns), "rows": rows, "size": t.size, "sha256": t.sha256}

    @classmethod
    def from_shared_data(cls, config: dict[str, Any], data: dict[str, Any]) -> TableEvaluator:
        """The evaluator of ``config`` on a table another process read (see :meth:`shared_data`)."""
        evaluator = cls.__new__(cls)
        evaluator.table_path = config.get("table")
        evaluator.metric = config.get("metric", "cifar10-val")
        evaluator.report_metric = config.get("report_metric", "cifar10-test")
        evaluator.space_name = config.get("space", "nb201")
        evaluator._costs = None
        space = create_space(evaluator.space_name)
        canonical = _canonical_cells(evaluator.space_name)
        rows = {canonical.get(text) or space.parse(text): row for text, row in data["rows"].items()}
        columns = tuple(data["columns"])
        evaluator._use(Table(data["source"], columns, rows, size=data["size"], sha256=data["sha256"]))
        return evaluator

    def cost_model(self) -> Any:
        """The benchmark's network sized for the searched column's data set, as the space declares it
        (:meth:`~pnas.space.base.SearchSpace.benchmark_cost_model`; NAS-Bench-201's); None for a space
        that declares none."""
        if self._costs is None:
            self._costs = create_space(self.space_name).benchmark_cost_model(self.metric) or False
        return self._costs or None

    def evaluate(
        self, cell: Any, progress: ProgressCallback | None = None, *, report: ReportCallback | None = None
    ) -> EvalResult:
        if isinstance(cell, str):
            cell = create_space(self.space_name).parse(cell)
        row = self.table.rows.get(cell)
        if row is None:
            raise CellNotInTable(f"cell {cell} is not in table {self.table.source}")
        if self.metric not in row:
            raise CellNotInTable(f"table {self.table.source} has no {self.metric!r} value for cell {cell}")
        held_out = None
        if self.report_metric is not None and self.report_metric in row:
            held_out = row[self.report_metric] / 100.0
        costs = self.cost_model()
        params, mult_adds = costs(cell) if costs is not None else (None, None)
        return EvalResult(
            accuracy=row[self.metric] / 100.0,
            report_accuracy=held_out,
            params=params,
            mult_adds=mult_adds,
            examples=0,
            seconds=0.0,
        )

    def data_fingerprint(self) -> dict[str, Any]:
        """The table file's name, size and sha256, and its row count and columns (:meth:`Table.fingerprint`)."""
        return self.table.fingerprint()

    def config(self) -> dict[str, Any]:
        return {
            "table": self.table_path,
            "metric": self.metric,
            "report_metric": self.report_metric,
            "space": self.space_name,
        }


@dataclass(frozen=True)
class TableOptions:
    table: str | None = option(
        None, "CSV with a cellstr column and metric columns in percent (default: the shipped NAS-Bench-201 table)."
    )
    metric: str = option("cifar10-val", "Table column searched on.")
    report_metric: str | None = option("cifar10-test", "Table column kept for reporting only.")
    space: str = option("nb201", "The space whose text form the cellstr column uses (the study's space).")


EVALUATORS.register(
    "table", TableEvaluator, options=TableOptions, help="Look cells up in a benchmark table instead of training them."
)
