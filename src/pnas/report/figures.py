"""The report's figures, with matplotlib's object API (no pyplot: no global state, safe in any thread).

Each function takes :class:`~pnas.report.data.StudyData` and returns a
``Figure``, or None when the studies hold nothing to plot (a look-up table
records no parameter counts; a random search has no predictor).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from pnas.report.data import StudyData, best_so_far, pareto_front, predictor_quality, pruned_stops, stopped_value
from pnas.storage import TrialRecord

SIZE = (6.4, 4.0)
DPI = 110


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _title(ax: Axes, study: str | None, what: str) -> None:
    """The study's name on its own line: long names must not push the rest out of the figure."""
    ax.set_title(what if study is None else f"{study}\n{what}", fontsize=10)


def _log_x(ax: Axes) -> None:
    """A log axis labelled at its decades only (the minor labels collide)."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


PRUNED_LABEL = "pruned: value when stopped"


def _draw_pruned(ax: Axes, xs: Sequence[float], values: Sequence[float], color: str, label: str) -> None:
    """Pruned children apart from the trained ones: crosses at the value each was stopped with."""
    ax.scatter(xs, values, s=14, marker="x", alpha=0.6, color=color, label=label)


def accuracy_by_round(study: StudyData) -> Figure | None:
    """Every trained child's validation accuracy: by round b (progressive), else by order of training; a
    pruned child (never a result) apart, as a grey cross at the value it was stopped with."""
    done, pruned = study.done, study.pruned
    if not done and not pruned:
        return None
    figure, ax = _figure()
    if study.has_rounds:
        rounds = sorted({t.round for t in done + pruned})
        for b in rounds:
            values = [t.accuracy for t in done if t.round == b and t.accuracy is not None]
            # a small deterministic spread so that equal accuracies stay visible
            xs = [b + 0.3 * ((i * 0.618) % 1 - 0.5) for i in range(len(values))]
            ax.scatter(xs, values, s=12, alpha=0.6, color="tab:blue", label="trained to the end" if pruned else None)
            if values:
                ax.hlines(max(values), b - 0.35, b + 0.35, color="tab:red", linewidth=1.5)
            stops = [v for t in pruned if t.round == b and (v := stopped_value(t)) is not None]
            if stops:
                xs = [b + 0.3 * ((i * 0.618 + 0.31) % 1 - 0.5) for i in range(len(stops))]
                _draw_pruned(ax, xs, stops, "tab:gray", PRUNED_LABEL)
        ax.set_xticks(rounds)
        ax.set_xlabel("round b (blocks per cell)")
        _title(ax, study.label, "validation accuracy of each child (red: the round's best)")
    else:
        drawn = {t.number for t in done + pruned}
        order = [t for t in study.in_training_order() if t.number in drawn]
        trained = [(i, float(t.accuracy)) for i, t in enumerate(order, start=1) if t.accuracy is not None]
        ax.scatter([i for i, _ in trained], [a for _, a in trained], s=12, alpha=0.7, color="tab:blue",
                   label="trained to the end" if pruned else None)  # fmt: skip
        cut = [(float(i), v) for i, t in enumerate(order, start=1) if (v := stopped_value(t)) is not None]
        if cut:
            _draw_pruned(ax, [i for i, _ in cut], [v for _, v in cut], "tab:gray", PRUNED_LABEL)
        ax.set_xlabel("child, in order of training")
        _title(ax, study.label, "validation accuracy of each child")
    if pruned:
        _legend_once(ax)
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    return figure


def _legend_once(ax: Axes) -> None:
    """A legend naming each label once (every round draws its own points)."""
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="lower right")


def predictor_rounds(study: StudyData) -> list[tuple[int, Figure]]:
    """One figure per round chosen by the predictor: its score against the child's real accuracy."""
    out = []
    for quality in predictor_quality(study):
        figure, ax = _figure()
        ax.scatter(quality.predicted, quality.actual, s=16, alpha=0.7, color="tab:purple")
        rho = "n/a" if quality.spearman is None else f"{quality.spearman:.3f}"
        tau = "n/a" if quality.kendall is None else f"{quality.kendall:.3f}"
        _title(
            ax, study.label, f"round {quality.round}: Spearman {rho}, Kendall {tau} ({len(quality.actual)} children)"
        )
        ax.set_xlabel("predictor's score before training")
        ax.set_ylabel("validation accuracy after training")
        ax.grid(alpha=0.3)
        out.append((quality.round, figure))
    return out


def _best_so_far(studies: Sequence[StudyData], axis: str) -> Figure | None:
    figure, ax = _figure()
    plotted = False
    for study in studies:
        models, best, compute = best_so_far(study)
        if not models:
            continue
        xs = models if axis == "models" else compute
        if axis == "compute" and not any(xs):
            continue
        (line,) = ax.step(xs, best, where="post", label=f"{study.label} ({study.strategy})")
        plotted = True
        stops, values = pruned_stops(study) if axis == "compute" else ([], [])
        if stops:  # where each pruned child's compute was spent, at the value it was stopped with
            _draw_pruned(ax, stops, values, to_hex(line.get_color()), f"{study.label}: {PRUNED_LABEL}")
    if not plotted:
        return None
    if axis == "models":
        ax.set_xlabel("models trained")
    else:
        ax.set_xlabel("training compute: forward mult-adds x images trained")
        _log_x(ax)
    ax.set_ylabel("best validation accuracy so far")
    _title(ax, None, "best validation accuracy so far")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return figure


def best_vs_models(studies: Sequence[StudyData]) -> Figure | None:
    return _best_so_far(studies, "models")


def best_vs_compute(studies: Sequence[StudyData]) -> Figure | None:
    return _best_so_far(studies, "compute")


def _cost(trial: TrialRecord, cost: str) -> float | None:
    """The trial's ``params`` or ``mult_adds``, or the ``latency_ms`` its evaluator measured."""
    value = trial.extra.get("latency_ms") if cost == "latency_ms" else getattr(trial, cost)
    return None if value is None else float(value)


def _accuracy_vs(study: StudyData, cost: str, label: str) -> Figure | None:
    points = [
        (value, t.accuracy) for t in study.done if (value := _cost(t, cost)) is not None and t.accuracy is not None
    ]
    if not points:
        return None
    costs = [c for c, _ in points]
    accuracies = [float(a) for _, a in points]
    figure, ax = _figure()
    ax.scatter(costs, accuracies, s=12, alpha=0.5, color="tab:blue", label="trained children")
    front = pareto_front(costs, accuracies)
    ax.step([costs[i] for i in front], [accuracies[i] for i in front], where="post", color="tab:red",
            marker="o", markersize=4, label="Pareto front")  # fmt: skip
    _log_x(ax)
    ax.set_xlabel(label)
    ax.set_ylabel("validation accuracy")
    _title(ax, study.label, f"accuracy against {label}; red: the Pareto front")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return figure


def accuracy_vs_params(study: StudyData) -> Figure | None:
    return _accuracy_vs(study, "params", "parameters")


def accuracy_vs_mult_adds(study: StudyData) -> Figure | None:
    return _accuracy_vs(study, "mult_adds", "mult-adds per image")


def accuracy_vs_latency(study: StudyData) -> Figure | None:
    """Only for a study that measured latency (``--measure-latency``)."""
    return _accuracy_vs(study, "latency_ms", "latency at batch 1 (ms)")


PER_STUDY: dict[str, Callable[[StudyData], Figure | None]] = {
    "accuracy_by_round": accuracy_by_round,
    "accuracy_vs_params": accuracy_vs_params,
    "accuracy_vs_mult_adds": accuracy_vs_mult_adds,
    "accuracy_vs_latency": accuracy_vs_latency,
}
"""Figures drawn for each study, by file stem."""

OVERLAID: dict[str, Callable[[Sequence[StudyData]], Figure | None]] = {
    "best_vs_models": best_vs_models,
    "best_vs_compute": best_vs_compute,
}
"""Figures with one line per study (a strategy comparison when there are several)."""
