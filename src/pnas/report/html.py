"""The report as files: ``index.html`` (self-contained), a PNG per figure, ``trials.csv`` and ``summary.json``.

The page embeds its figures as data URIs and its style inline: it opens from a
copied folder with no network and no other file. Every file is written to a
temporary name first and then renamed, so a page that is being rewritten
(``pnas search --report``) is never seen half-written.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnas import __version__
from pnas.capability import MissingCapability
from pnas.report import figures
from pnas.report.data import StudyData, predictor_quality
from pnas.space import SearchSpace, space_from_config
from pnas.study.reading import training_compute

DEFAULT_TOP = 5
"""Top cells drawn and listed per study."""

TRIAL_COLUMNS = ("study", "number", "cell", "round", "status", "accuracy", "report_accuracy", "predicted",
                 "params", "mult_adds", "examples", "training_mult_adds", "seconds", "worker", "error")  # fmt: skip


@dataclass
class Report:
    out: Path
    figures: list[str] = field(default_factory=list)
    """File names of the PNG figures written, in page order."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "study"


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _drawing_space(study: StudyData) -> SearchSpace | None:
    """The study's own space, which draws its cells; None (cells drawn by their text's look) when the
    space's plugin is not installed here."""
    try:
        return space_from_config(study.config.get("space") or {})
    except ValueError:
        return None


def check_out(out: str | Path) -> Path:
    """``out`` as a folder a report can be written into: a ValueError where it, or a folder above it, is a file."""
    out = Path(out)
    for path in (out, *out.parents):
        if path.exists():
            if not path.is_dir():
                raise ValueError(
                    f"{path} is a file, not a folder: give a folder to write the report into (it is made if missing)"
                )
            break
    return out


def write_report(studies: Sequence[StudyData], out: str | Path, *, top: int = DEFAULT_TOP) -> Report:
    """Write the report of ``studies`` into folder ``out`` (created if missing; earlier files replaced)."""
    from pnas.report.drawing import draw_cell

    if not studies:
        raise ValueError("a report needs at least one study")
    out = check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(out)
    several = len(studies) > 1
    sections: list[str] = []

    def figure_html(stem: str, figure: Any, alt: str) -> str:
        data = figures.png_bytes(figure)
        name = f"{stem}.png"
        _write(out / name, data)
        report.figures.append(name)
        encoded = base64.b64encode(data).decode()
        return f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}</figcaption></figure>'

    overlay = []
    for stem, overlaid in figures.OVERLAID.items():
        figure = overlaid(studies)
        if figure is not None:
            what = "best accuracy so far against " + (
                "models trained" if stem.endswith("models") else "training compute"
            )
            overlay.append(figure_html(stem, figure, what + (", one line per study" if several else "")))
    if overlay:
        sections.append("<section><h2>Best accuracy so far</h2>" + "".join(overlay) + "</section>")

    for study in studies:
        prefix = f"{_slug(study.label)}-" if several else ""
        parts = [f"<section><h2>Study {html.escape(study.label)}</h2>", _overview(study)]
        for stem, make in figures.PER_STUDY.items():
            figure = make(study)
            if figure is not None:
                parts.append(figure_html(prefix + stem, figure, stem.replace("_", " ")))
        for b, figure in figures.predictor_rounds(study):
            parts.append(
                figure_html(f"{prefix}predictor_round_{b}", figure, f"predictor's score against accuracy, round {b}")
            )
        best = study.best(top)
        parts.append(_top_table(study, best))
        space = _drawing_space(study)
        for rank, trial in enumerate(best, start=1):
            title = f"{study.label}: #{rank}, accuracy {trial.accuracy:.4f}"
            try:
                drawn = draw_cell(trial.cell, title=title, space=space)
            except MissingCapability:
                continue  # a space that cannot draw its cells: the table above lists them
            parts.append(figure_html(f"{prefix}cell_{rank}", drawn, f"cell #{rank}: {trial.cell}"))
        parts.append(_failures(study))
        parts.append(_settings(study))
        parts.append("</section>")
        sections.append("".join(parts))

    title = "pnas report: " + ", ".join(s.label for s in studies)
    page = PAGE.format(
        title=html.escape(title),
        made=time.strftime("%Y-%m-%d %H:%M:%S"),
        version=html.escape(__version__),
        body="\n".join(sections),
    )
    _write(out / "index.html", page.encode())
    _write(out / "trials.csv", _trials_csv(studies))
    _write(out / "summary.json", json.dumps(_summary(studies, top, report), indent=2).encode())
    return report


def _overview(study: StudyData) -> str:
    t = study.totals()
    source = html.escape(study.path or "memory")
    return (
        f"<p>Strategy <b>{html.escape(study.strategy)}</b>, state <b>{html.escape(study.state)}</b>, "
        f"from <code>{source}</code>: {t['models']:,} models trained, {t['failed']:,} failed, "
        + (f"{t['pruned']:,} pruned (stopped early: no result, drawn apart as crosses), " if t.get("pruned") else "")
        + f"{t['pending']:,} pending; {t['examples']:,} training examples, {t['train_seconds']:.0f} s of training, "
        f"{t['training_mult_adds']:.3g} forward mult-adds over the images trained.</p>"
    )


def _top_table(study: StudyData, best: Sequence[Any]) -> str:
    rows = "".join(
        f"<tr><td>{rank}</td><td><code>{html.escape(t.cell)}</code></td><td>{t.round}</td>"
        f"<td>{_number(t.accuracy)}</td><td>{_number(t.params)}</td><td>{_number(t.mult_adds)}</td>"
        f"<td>{_number(t.seconds, 1)}</td></tr>"
        for rank, t in enumerate(best, start=1)
    )
    head = "<tr><th>rank</th><th>cell</th><th>round</th><th>accuracy</th><th>params</th><th>mult-adds</th><th>training s</th></tr>"
    return f'<h3>Top cells</h3><table class="top">{head}{rows}</table>'


def _failures(study: StudyData) -> str:
    failed = study.failed
    if not failed:
        return "<h3>Failed children</h3><p>none</p>"
    items = "".join(
        f"<li><code>{html.escape(t.cell)}</code> (round {t.round}): {html.escape(t.error or 'unknown error')}</li>"
        for t in failed
    )
    return f"<h3>Failed children ({len(failed)})</h3><ul>{items}</ul>"


def _settings(study: StudyData) -> str:
    versions = "; ".join(f"{k} {', '.join(v)}" for k, v in study.versions().items()) or "no child trained yet"
    quality = "".join(
        f"<li>round {q.round}: Spearman {_number(q.spearman, 3)}, Kendall {_number(q.kendall, 3)}, "
        f"{len(q.actual)} {'child' if len(q.actual) == 1 else 'children'}</li>"
        for q in predictor_quality(study)
    )
    config = html.escape(json.dumps(study.config, indent=2, sort_keys=True))
    return (
        f"<h3>Settings and versions</h3><p>Trained with {html.escape(versions)}.</p>"
        + (f"<p>Predictor's rank correlation per round:</p><ul>{quality}</ul>" if quality else "")
        + f"<details><summary>the study's configuration</summary><pre>{config}</pre></details>"
    )


def _trials_csv(studies: Sequence[StudyData]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(TRIAL_COLUMNS)
    for study in studies:
        for t in study.trials:
            if t.status not in ("done", "failed"):
                continue
            row = {**{c: getattr(t, c, None) for c in TRIAL_COLUMNS}, "study": study.label,
                   "training_mult_adds": training_compute(t)}  # fmt: skip
            writer.writerow(["" if row[c] is None else row[c] for c in TRIAL_COLUMNS])
    return buffer.getvalue().encode()


def _summary(studies: Sequence[StudyData], top: int, report: Report) -> dict[str, Any]:
    return {
        "pnas": __version__,
        "figures": report.figures,
        "studies": [
            {
                "study": s.name,
                "label": s.label,
                "storage": s.path,
                "state": s.state,
                "strategy": s.strategy,
                "config": s.config,
                "totals": s.totals(),
                "summary": s.summary,
                "versions": s.versions(),
                "predictor": [
                    {"round": q.round, "children": len(q.actual), "spearman": q.spearman, "kendall": q.kendall}
                    for q in predictor_quality(s)
                ],
                "top": [
                    {
                        "rank": i,
                        "cell": t.cell,
                        "round": t.round,
                        "accuracy": t.accuracy,
                        "params": t.params,
                        "mult_adds": t.mult_adds,
                        "seconds": t.seconds,
                    }  # fmt: skip
                    for i, t in enumerate(s.best(top), start=1)
                ],
                "failed": [{"cell": t.cell, "round": t.round, "error": t.error} for t in s.failed],
            }
            for s in studies
        ],
    }


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
figure img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.85em; color: #555; max-width: 700px; word-break: break-all; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }}
td:nth-child(2) {{ text-align: left; }}
code, pre {{ font-size: 0.85em; }}
section {{ border-top: 2px solid #888; margin-top: 2em; }}
</style></head>
<body>
<h1>{title}</h1>
<p>Made {made} by pnas {version}. Validation accuracies are fractions in [0, 1].</p>
{body}
</body></html>
"""
