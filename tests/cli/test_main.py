"""The command line's start: no torch until a command trains or builds a network."""

from __future__ import annotations

import subprocess
import sys

import pytest


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
