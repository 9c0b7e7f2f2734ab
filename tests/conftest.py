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


@pytest.fixture
def install_plugin(tmp_path, monkeypatch, scratch_registries):
    """A function ``(name, group, source)``: installs a plugin distribution of one module ``name``, with one
    entry point ``name`` in ``group``, into a folder on ``sys.path`` for the test's time (as ``pip install
    --target`` and ``PYTHONPATH`` would). Its module, what it registered and the plugin problems pnas
    noted at start are gone after the test."""
    import sys

    import pnas.search

    site = tmp_path / "site"
    installed: list[str] = []
    monkeypatch.setattr(pnas.search, "_plugin_problems", None)  # a later load_components looks again

    def install(name: str, group: str, source: str) -> None:
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {name}\n")
        (site / f"{name}.py").write_text(source)
        installed.append(name)
        monkeypatch.syspath_prepend(str(site))

    yield install
    for name in installed:
        sys.modules.pop(name, None)
