"""Entry point: ``pnas <command>``. Each command lives in its own module below."""

from __future__ import annotations

import importlib
from typing import Any

import click

from pnas import __version__


class Commands(click.Group):
    """The ``pnas`` group: an installed plugin's code that raises while a command runs is one line naming it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            from pnas.cli.output import fail, plugin_failure

            line = plugin_failure(exc)
            if line is None:
                raise
            fail(line)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pnas")
def main() -> None:
    """Progressive Neural Architecture Search: search cells, inspect spaces and networks."""


COMMAND_MODULES = ["space", "describe", "search", "catalog", "report", "draw", "train", "export"]
"""Modules under pnas.cli that each attach their commands to :func:`main`."""


def _load_plugins() -> None:
    """Register every component before the commands build their options; a broken plugin is one warning line."""
    import warnings

    from pnas.search import load_components

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problems = load_components()
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)


_load_plugins()
for _name in COMMAND_MODULES:
    importlib.import_module(f"pnas.cli.{_name}")
