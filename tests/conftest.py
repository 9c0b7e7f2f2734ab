"""Fixtures shared across the test folders."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pytest
from synthetic_faults import faulty_synthetic as _faulty_synthetic


@pytest.fixture
def zero_cost_rows(monkeypatch) -> Iterator[list]:
    """Zero-cost rows as cheap stand-ins from the cell's text, and the list of cells a row was computed for.

    Tests of when rows are computed, kept and read back need not build a proxy network per cell;
    the real rows are tested in tests/nets/test_zero_cost.py and tests/predictors/test_features.py.
    """
    import pnas.predictors.features as features

    computed: list = []

    def stand_in(space, cell, probe=None):
        computed.append(cell)
        digest = hashlib.sha256(space.format(cell).encode()).digest()
        return np.array([digest[0], digest[1], digest[2]], dtype=np.float64)

    monkeypatch.setattr(features, "zero_cost_row", stand_in)
    features.CACHES.reset()  # rows of the real function must not answer for the stand-in, nor the other way round
    yield computed
    features.CACHES.reset()


@pytest.fixture
def faulty_synthetic():
    """The synthetic evaluator with its test switches as options, registered as ``synthetic-faulty``
    for the test's time (see tests/synthetic_faults.py)."""
    with _faulty_synthetic() as name:
        yield name


@pytest.fixture
def scratch_registries(monkeypatch) -> None:
    """Components a test registers (a plugin's space, data set, ...) are gone after it: every registry is
    restored to what it held before, so later tests see only the built-in and installed components."""
    from pnas.evaluation.data import DATASETS
    from pnas.study import REGISTRIES

    for registry in (*REGISTRIES.values(), DATASETS):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setattr(DATASETS, "_traits", dict(DATASETS._traits))
