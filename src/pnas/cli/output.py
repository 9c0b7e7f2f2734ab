"""Output conventions shared by every command.

``--json`` prints exactly one JSON document on stdout; everything else
(progress, logs, tables meant for people) goes to stderr or, without
``--json``, to stdout as text.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console

err_console = Console(stderr=True)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def _default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "to_json"):
        return value.to_json()
    return str(value)


def fail(message: str, code: int = 2) -> None:
    """One clear line on stderr and a non-zero exit."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` and the word that agrees with it: ``1 child``, ``2 children``, ``0 cells``."""
    if n == 1:
        return f"{n:,} {singular}"
    return f"{n:,} {plural or singular + 's'}"
