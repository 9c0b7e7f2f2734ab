"""Objectives the Study API tests run, importable by worker processes (as a user's would be)."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

import pnas


@cache
def table() -> dict[str, float]:
    """The shipped NAS-Bench-201 table's default column (what the table evaluator reads), as fractions."""
    with (resources.files("pnas") / "data" / "nb201_12epoch.csv").open(newline="") as handle:
        return {row["cellstr"]: float(row["cifar10-val"]) / 100 for row in csv.DictReader(handle)}


def table_accuracy(trial: pnas.Trial) -> float:
    return table()[str(trial.cell)]


def fails_on_skip_heavy(trial: pnas.Trial) -> float:
    """Refuses cells with three or more skip connections, as a user's loop might refuse what it cannot train."""
    if str(trial.cell).count("skip_connect") >= 3:
        raise pnas.TrialFailed("too many skips for this loop")
    return table_accuracy(trial)


def reported_curve(trial: pnas.Trial) -> float:
    """Reports a curve rising to the table's accuracy over 5 steps, and stops when the study says so."""
    final = table_accuracy(trial)
    for step in range(1, 5):
        trial.report(final * (0.6 + 0.1 * step) - 0.02 * (sum(map(ord, str(trial.cell))) % 5), step)
        if trial.should_prune():
            raise pnas.TrialPruned()
    return final
