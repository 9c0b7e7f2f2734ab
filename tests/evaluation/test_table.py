"""The table evaluator: the shipped NAS-Bench-201 table, user tables, and clear errors."""

from __future__ import annotations

import csv
import json
import os
from importlib import resources

import pytest

from pnas.evaluation import EVALUATORS, ChildFailed
from pnas.evaluation.table import CellNotInTable, TableEvaluator, load_table, read_table
from pnas.space import Nb201Cell, Nb201Space

BEST = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


def shipped_row(cellstr: str) -> dict[str, str]:
    with (resources.files("pnas") / "data" / "nb201_12epoch.csv").open(newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["cellstr"] == cellstr)


def write_table(path, header: list[str], rows: list[list[object]]) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def test_shipped_table_holds_every_cell_with_all_metrics():
    table = read_table()
    assert len(table.rows) == 15625
    assert set(table.rows) == set(Nb201Space().all_cells())
    assert {"cifar10-val", "cifar10-test", "cifar100-val", "imagenet-test"} <= set(table.columns)
    test = table.fractions("cifar10-test")
    assert max(test.values()) == pytest.approx(0.8916)  # the table's best CIFAR-10 test accuracy (its README)
    assert all(0.0 <= v <= 1.0 for v in test.values())


def test_lookup_returns_the_file_values_as_fractions():
    row = shipped_row(BEST)
    result = TableEvaluator().evaluate(Nb201Cell.parse(BEST))
    assert result.accuracy == pytest.approx(float(row["cifar10-val"]) / 100)
    assert result.report_accuracy == pytest.approx(float(row["cifar10-test"]) / 100)
    assert result.examples == 0 and result.seconds == 0.0
    assert TableEvaluator().evaluate(BEST) == result  # the text form is accepted too


def test_other_metrics_and_no_report_metric():
    row = shipped_row(BEST)
    evaluator = TableEvaluator(metric="cifar100-val", report_metric=None)
    result = evaluator.evaluate(Nb201Cell.parse(BEST))
    assert result.accuracy == pytest.approx(float(row["cifar100-val"]) / 100)
    assert result.report_accuracy is None


def test_registered_and_rebuildable_from_its_spec():
    evaluator = EVALUATORS.create("table", metric="imagenet-val", report_metric="imagenet-test")
    json.dumps(evaluator.config())
    rebuilt = evaluator.spec().build()
    assert isinstance(rebuilt, TableEvaluator)
    assert rebuilt.config() == evaluator.config()
    assert rebuilt.evaluate(BEST) == evaluator.evaluate(BEST)


def test_load_table_gives_percent_per_cell():
    rows = load_table()
    cell = Nb201Cell.parse(BEST)
    assert rows[cell]["cifar10-test"] == pytest.approx(89.16)


def test_tables_are_loaded_once_per_process_and_reloaded_when_changed(tmp_path):
    assert read_table() is read_table()
    path = write_table(tmp_path / "t.csv", ["cellstr", "acc"], [[BEST, 50.0]])
    first = read_table(path)
    assert read_table(path) is first
    write_table(path, ["cellstr", "acc"], [[BEST, 60.0]])
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    assert read_table(path).rows[Nb201Cell.parse(BEST)]["acc"] == 60.0


def test_a_user_table_needs_only_cellstr_and_its_metric_columns(tmp_path):
    other = "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    path = write_table(tmp_path / "mine.csv", ["val", "cellstr", "test"], [[71.5, BEST, 70.0], [42.0, other, ""]])
    evaluator = TableEvaluator(table=path, metric="val", report_metric="test")
    assert evaluator.evaluate(BEST).accuracy == pytest.approx(0.715)
    assert evaluator.evaluate(BEST).report_accuracy == pytest.approx(0.70)
    assert evaluator.evaluate(other).report_accuracy is None  # a blank report value stays unknown
    assert evaluator.config()["table"] == path


def test_a_cell_missing_from_the_table_fails_that_child(tmp_path):
    path = write_table(tmp_path / "small.csv", ["cellstr", "val"], [[BEST, 80.0]])
    evaluator = TableEvaluator(table=path, metric="val", report_metric=None)
    missing = Nb201Cell(("skip_connect",) * 6)
    with pytest.raises(CellNotInTable, match="not in table") as info:
        evaluator.evaluate(missing)
    assert isinstance(info.value, ChildFailed) and isinstance(info.value, ValueError)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        TableEvaluator(table=str(tmp_path / "nope.csv"))


def test_missing_column_names_the_available_ones(tmp_path):
    path = write_table(tmp_path / "t.csv", ["cellstr", "val"], [[BEST, 80.0]])
    with pytest.raises(ValueError, match=r"no column 'cifar10-val'.*available: val"):
        TableEvaluator(table=path)
    with pytest.raises(ValueError, match=r"no column 'test'"):
        TableEvaluator(table=path, metric="val", report_metric="test")


def test_table_without_cellstr_is_refused(tmp_path):
    path = write_table(tmp_path / "t.csv", ["cell", "val"], [[BEST, 80.0]])
    with pytest.raises(ValueError, match="no 'cellstr' column.*cell, val"):
        TableEvaluator(table=path, metric="val")


def test_bad_rows_name_their_line(tmp_path):
    bad_cell = write_table(tmp_path / "a.csv", ["cellstr", "val"], [[BEST, 80.0], ["|conv~0|", 70.0]])
    with pytest.raises(ValueError, match="line 3: bad cell"):
        TableEvaluator(table=bad_cell, metric="val", report_metric=None)
    duplicate = write_table(tmp_path / "b.csv", ["cellstr", "val"], [[BEST, 80.0], [BEST, 70.0]])
    with pytest.raises(ValueError, match="line 3.*twice"):
        TableEvaluator(table=duplicate, metric="val", report_metric=None)


def test_values_must_be_percent(tmp_path):
    path = write_table(tmp_path / "t.csv", ["cellstr", "val"], [[BEST, 180.0]])
    with pytest.raises(ValueError, match="percent"):
        TableEvaluator(table=path, metric="val", report_metric=None)
