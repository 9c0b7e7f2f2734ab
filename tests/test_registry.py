"""Registries: a factory named by ``"module:attr"`` is imported when it is first asked for, not before."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from pnas.config import option
from pnas.registry import Registry


@dataclass(frozen=True)
class _Options:
    size: int = option(3, "A size.", low=1)


def test_a_factory_named_by_its_module_is_imported_on_first_use():
    registry: Registry[object] = Registry("thing")
    registry.register("frac", "fractions:Fraction", options=_Options, help="A fraction.")
    component = registry.component("frac")
    assert component.help == "A fraction." and list(component.specs) == ["size"]
    assert component.module == "fractions" and not component.builtin
    import fractions

    assert registry.get("frac") is fractions.Fraction
    assert registry.create("frac", 1, 3) == fractions.Fraction(1, 3)


def test_a_builtin_named_by_its_module_is_builtin_without_importing_it():
    code = (
        "import sys\n"
        "from pnas.strategies import STRATEGIES\n"
        "guided = STRATEGIES.component('guided')\n"
        "assert guided.builtin and guided.module == 'pnas.strategies.guided'\n"
        "assert 'pnas.strategies.guided' not in sys.modules and 'torch' not in sys.modules\n"
        "assert guided.factory.__name__ == 'GuidedSearch' and 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_factory_that_cannot_be_imported_is_an_error_naming_the_component():
    registry: Registry[object] = Registry("thing")
    registry.register("gone", "pnas.no_such_module:build", help="Missing.")
    registry.register("typo", "fractions:Fractoin", help="Misspelt.")
    with pytest.raises(ImportError, match="thing 'gone': cannot import its factory pnas.no_such_module:build"):
        registry.get("gone")
    with pytest.raises(ImportError, match="thing 'typo': cannot import its factory fractions:Fractoin"):
        registry.create("typo")
