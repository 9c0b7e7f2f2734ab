"""``pnas report``: a study (or several, overlaid) as one self-contained HTML page with its figures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pnas.cli.main import main
from pnas.cli.output import emit_json, err_console, fail
from pnas.search import DEFAULT_STORAGE
from pnas.storage import StoreError

if TYPE_CHECKING:
    from pnas.report.data import StudyData


def parse_study(text: str, storage: str) -> tuple[str, str | None]:
    """``NAME`` (in --storage) or ``FILE:NAME`` -> (file, name)."""
    file, colon, name = text.rpartition(":")
    if colon and file and Path(file).is_file():
        return file, name or None
    return storage, text


def load_studies(specs: tuple[str, ...], storage: str) -> list[StudyData]:
    """The studies to report, read-only, each labelled so that two with one name stay apart."""
    from pnas.report.data import open_study

    wanted = [parse_study(s, storage) for s in specs] or [(storage, None)]
    studies = []
    for spec, (file, name) in zip(specs or [None], wanted):
        try:
            studies.append(open_study(file, name))
        except StoreError:
            given, colon, _ = (spec or "").rpartition(":")
            if colon and given:  # FILE:NAME whose file is missing, and no study of that name in --storage
                raise StoreError(
                    f"no study file at {given} (--study {spec}): give an existing study file before the colon"
                ) from None
            raise
    files = {file for file, _ in wanted}
    names = [s.name for s in studies]
    if len(files) > 1 or len(set(names)) < len(names):
        studies = [replace(s, label=f"{Path(file).name}:{s.name}") for s, (file, _) in zip(studies, wanted)]
    return studies


@main.command()
@click.option("--study", "studies", multiple=True, metavar="NAME | FILE:NAME",
              help="A study to report (repeatable: several are overlaid). Default: the storage's only study.")  # fmt: skip
@click.option("--storage", default=DEFAULT_STORAGE, show_default=True, help="The study file (read only).")
@click.option("--out", default="pnas-report", show_default=True, help="Folder for index.html, the PNGs and the data.")
@click.option("--top", type=click.IntRange(1, 50), default=5, show_default=True, help="Top cells drawn per study.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: the folder and the files written.")
def report(studies: tuple[str, ...], storage: str, out: str, top: int, as_json: bool) -> None:
    """Write a study's report: figures by round, the predictor's ranking, best so far, Pareto fronts,
    drawings of the top cells, a table, settings and failures; opens offline, from anywhere.

    Reading never blocks or slows a running search, and a copied or read-only study file works.
    """
    from pnas.report.html import check_out, write_report

    try:
        check_out(out)
    except ValueError as exc:
        fail(f"--out {out}: {exc}")
    try:
        loaded = load_studies(studies, storage)
        written = write_report(loaded, out, top=top)
    except (StoreError, ValueError, OSError) as exc:
        fail(str(exc))
        return
    page = written.out / "index.html"
    if as_json:
        emit_json({"out": str(written.out), "index": str(page), "figures": written.figures,
                   "studies": [s.label for s in loaded]})  # fmt: skip
    else:
        err_console.print(f"{len(written.figures)} figures for {', '.join(s.label for s in loaded)}")
        click.echo(str(page))
