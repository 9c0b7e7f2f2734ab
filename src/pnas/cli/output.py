"""Output conventions shared by every command.

``--json`` prints exactly one JSON document on stdout; everything else
(progress, logs, tables meant for people) goes to stderr or, without
``--json``, to stdout as text.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
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


def plugin_failure(exc: BaseException) -> str | None:
    """One line for an exception raised in an installed plugin's code (the plugin whose code is the
    innermost in its traceback), or None where no plugin's code is in it: a bug of pnas's own keeps its
    traceback."""
    plugins: dict[str, str] = {}  # a plugin's top-level module -> the plugin, as load_plugins names it
    for distribution in importlib.metadata.distributions():
        for entry in distribution.entry_points:
            top = entry.value.split(":")[0].split(".")[0].strip()
            if entry.group.startswith("pnas.") and top != "pnas":
                plugins.setdefault(top, f"plugin {entry.name!r} ({entry.value}, group {entry.group})")
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:  # the exception, then the ones it was raised from
        seen.add(id(error))
        culprit = None
        frame = error.__traceback__
        while frame is not None:
            module = str(frame.tb_frame.f_globals.get("__name__", "")).split(".")[0]
            if module in plugins:
                culprit = module, frame
            frame = frame.tb_next
        if culprit is not None:
            module, frame = culprit
            code = frame.tb_frame.f_code
            where = f"{os.path.basename(code.co_filename)}, line {frame.tb_lineno}, in {code.co_name}"
            said = " ".join(f"{type(error).__name__}: {error}".split())
            return (
                f"{plugins[module]} failed: {said} ({where}); fix the plugin, uninstall it or choose another component"
            )
        error = error.__cause__ or error.__context__
    return None


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` and the word that agrees with it: ``1 child``, ``2 children``, ``0 cells``."""
    if n == 1:
        return f"{n:,} {singular}"
    return f"{n:,} {plural or singular + 's'}"
