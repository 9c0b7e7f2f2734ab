"""The command line's start (no torch until a command trains or builds a network) and its command group (an
installed plugin's code that raises while a command runs is one line naming the plugin; an exception of
pnas's own keeps its traceback)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.predictors import PREDICTORS
from pnas.registry import load_plugins


def _modules_after(code: str) -> set[str]:
    """The top-level packages imported by running ``code`` in a fresh interpreter (its last line of output)."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return set(out.strip().splitlines()[-1].split())


def test_importing_the_command_line_imports_no_torch():
    code = 'import sys, pnas.cli.main; sys.exit(1 if "torch" in sys.modules else 0)'
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["list"], ["list", "--json"], ["search", "--help"]])
def test_commands_that_neither_train_nor_build_networks_import_no_torch(args):
    code = (
        "from pnas.cli.main import main\n"
        "try:\n"
        f"    main({args!r}, prog_name='pnas')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code"
    )
    imported = _modules_after(code)
    assert "pnas" in imported
    assert not imported & {"torch", "scipy"}


FAILS_IN_FIT = """from pnas.predictors import PREDICTORS


class Failing:
    def fit(self, cells, accuracies):
        raise RuntimeError("not me")

    def predict(self, cells):
        return [0.5] * len(cells)


def build(space, **options):
    return Failing()


PREDICTORS.register("fails-in-fit", build, help="Fails in fit.")
"""

SEARCH = ["search", "--space", "nb201", "--evaluator", "table", "--beam", "3", "--study", "p"]


def test_a_plugin_that_raises_in_fit_is_one_line_naming_it(install_plugin, tmp_path):
    install_plugin("fails_in_fit", "pnas.predictors", FAILS_IN_FIT)
    assert load_plugins([PREDICTORS]) == []
    storage = str(tmp_path / "p.db")
    result = CliRunner().invoke(main, [*SEARCH, "--set", "predictor.name=fails-in-fit", "--storage", storage])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]  # after the first round's progress
    assert line.startswith("error: plugin 'fails_in_fit' (fails_in_fit, group pnas.predictors) failed: ")
    assert "RuntimeError: not me (fails_in_fit.py, line 6, in fit)" in line and "uninstall" in line


def test_an_exception_outside_any_plugin_keeps_its_traceback(scratch_registries, tmp_path):
    class Failing:
        def fit(self, cells, accuracies):
            raise RuntimeError("a bug")

        def predict(self, cells):
            return [0.5] * len(cells)

    PREDICTORS.register("fails-here", lambda space, **options: Failing())
    storage = str(tmp_path / "p.db")
    result = CliRunner().invoke(main, [*SEARCH, "--set", "predictor.name=fails-here", "--storage", storage])
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == "a bug"
