"""``pnas report`` on small studies made here: every figure there, the numbers the store's, offline, read-only."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.colors import to_rgb
from PIL import Image
from synthetic_faults import FAULTY, faulty_synthetic

from pnas.cli.main import main
from pnas.report import figures
from pnas.report.data import open_study, pareto_front
from pnas.search import SearchConfig, run_search
from pnas.storage import StudyStore
from pnas.study import Study

SYNTHETIC = dict(space="pnas", blocks=2, evaluator="synthetic")


@pytest.fixture(scope="module")
def storage(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("report") / "s.db")
    failing = {**SYNTHETIC, "evaluator": FAULTY, "trainer": {"fail_on": "sep7x7"}}
    for name, config in {
        "pnas": SearchConfig(beam=3, predictor="mlp", ensemble=1, **SYNTHETIC),
        "random": SearchConfig(strategy="random", budget=12, **SYNTHETIC),
        "evolution": SearchConfig(strategy="evolution", budget=16, **failing,
                                  overrides={"executor": {"stop_after_failures": 0}}),
        "nb201": SearchConfig(space="nb201", strategy="random", budget=6, evaluator="synthetic"),
    }.items():  # fmt: skip
        with faulty_synthetic():
            run_search(config, storage=path, study=name).close()
    return path


def invoke(*args):
    return CliRunner().invoke(main, list(args))


class Page(HTMLParser):
    """The tags a person's browser would load: images and anything with a src or href."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.cells: list[list[str]] = []
        self._row: list[str] | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("src", "href"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])
        if tag == "tr":
            self._row = []
        if tag == "td":
            self._text = ""

    def handle_data(self, data):
        self._text += data

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None:
            self._row.append(self._text.strip())
        if tag == "tr" and self._row:
            self.cells.append(self._row)
            self._row = None


def _report(storage, out, *studies):
    args = ["report", "--storage", storage, "--out", str(out), "--json"]
    for study in studies:
        args += ["--study", study]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _page(out) -> Page:
    page = Page()
    page.feed((Path(out) / "index.html").read_text())
    return page


PROGRESSIVE_FIGURES = {"accuracy_by_round", "predictor_round_2", "best_vs_models", "best_vs_compute",
                       "accuracy_vs_params", "accuracy_vs_mult_adds"} | {f"cell_{i}" for i in range(1, 6)}  # fmt: skip


def test_the_progressive_report_has_every_figure_embedded_and_beside_it(storage, tmp_path):
    doc = _report(storage, tmp_path / "r", "pnas")
    assert {Path(f).stem for f in doc["figures"]} == PROGRESSIVE_FIGURES
    page = _page(tmp_path / "r")
    assert len(page.images) == len(doc["figures"]) and not page.links  # nothing loaded from anywhere
    for src, name in zip(page.images, doc["figures"]):
        assert src.startswith("data:image/png;base64,")
        embedded = base64.b64decode(src.split(",", 1)[1])
        assert embedded == (tmp_path / "r" / name).read_bytes()
        width, height = Image.open(io.BytesIO(embedded)).size
        assert width >= 300 and height >= 200


def test_the_numbers_are_the_stores(storage, tmp_path):
    _report(storage, tmp_path / "r", "pnas")
    store = StudyStore(storage, create=False)
    study = Study.load(store, "pnas")
    best, trials = study.best(5), study.trials()
    store.close()
    rows = [row for row in _page(tmp_path / "r").cells if len(row) == 7]
    assert [(r[1], float(r[3])) for r in rows] == [(t.cell, round(t.accuracy, 4)) for t in best]
    with open(tmp_path / "r" / "trials.csv") as f:
        listed = {r["cell"]: r for r in csv.DictReader(f)}
    assert set(listed) == {t.cell for t in trials if t.status in ("done", "failed")}
    assert all(float(listed[t.cell]["accuracy"]) == t.accuracy for t in trials if t.status == "done")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    [entry] = summary["studies"]
    assert entry["totals"]["models"] == sum(t.status == "done" for t in trials)
    assert [t["cell"] for t in entry["top"]] == [t.cell for t in best]
    [quality] = entry["predictor"]
    assert quality["round"] == 2 and -1 <= quality["spearman"] <= 1 and -1 <= quality["kendall"] <= 1


def test_baselines_have_their_figures_and_failures_with_reasons(storage, tmp_path):
    doc = _report(storage, tmp_path / "r", "evolution")
    stems = {Path(f).stem for f in doc["figures"]}
    assert {"accuracy_by_round", "best_vs_models", "accuracy_vs_params", "cell_1"} <= stems
    assert not any(s.startswith("predictor_round") for s in stems)  # evolution has no predictor
    text = (tmp_path / "r" / "index.html").read_text()
    evolution = open_study(storage, "evolution")
    assert evolution.failed and all(t.cell in text for t in evolution.failed)
    assert "fail_on" in text  # each failure's reason


def test_a_nas_bench_201_study_has_its_cells_drawn_as_graphs(storage, tmp_path):
    doc = _report(storage, tmp_path / "r", "nb201")
    assert {f"cell_{i}.png" for i in range(1, 6)} <= set(doc["figures"])
    text = (tmp_path / "r" / "index.html").read_text()
    assert all(t.cell in text for t in open_study(storage, "nb201").best(5))


def test_two_studies_are_overlaid_and_get_a_section_each(storage, tmp_path):
    doc = _report(storage, tmp_path / "r", "pnas", f"{storage}:random")
    assert len(doc["studies"]) == 2
    studies = [open_study(storage, "pnas"), open_study(storage, "random")]
    assert len(figures.best_vs_models(studies).axes[0].lines) == 2  # one line per study
    text = (tmp_path / "r" / "index.html").read_text()
    assert text.count("<h2>Study ") == 2


def test_a_read_only_copy_is_reported_and_left_as_it_was(storage, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    copy = folder / "s.db"
    shutil.copy(storage, copy)
    before = copy.read_bytes()
    copy.chmod(stat.S_IRUSR)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        _report(str(copy), tmp_path / "r", "pnas")
        assert sorted(os.listdir(folder)) == ["s.db"] and copy.read_bytes() == before
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_report_made_while_a_search_writes(tmp_path):
    storage = str(tmp_path / "s.db")
    pnas = os.path.join(os.path.dirname(sys.executable), "pnas")
    args = [pnas, "search", "--evaluator", "synthetic", "--blocks", "2", "--beam", "3", "--ensemble", "1",
            "--storage", storage, "--study", "live", "--set", "evaluator.delay=0.03"]  # fmt: skip
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and driver.poll() is None:
        if os.path.exists(storage):
            result = invoke("status", "--storage", storage, "--json")
            if result.exit_code == 0 and json.loads(result.stdout)["totals"]["models"] >= 10:
                break
        time.sleep(0.3)
    assert driver.poll() is None, "the search ended before a report could be made during it"
    doc = _report(storage, tmp_path / "r", "live")
    assert "accuracy_by_round.png" in doc["figures"]
    assert driver.wait(timeout=120) == 0, driver.stderr.read()[-2000:]


def test_search_with_report_rewrites_it_after_every_round(tmp_path):
    out = tmp_path / "live-report"
    result = invoke("search", "--evaluator", "synthetic", "--blocks", "2", "--beam", "2", "--ensemble", "1",
                    "--storage", str(tmp_path / "s.db"), "--study", "s", "--report", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["studies"][0]["state"] == "complete" and summary["studies"][0]["totals"]["models"] == 138


def test_a_missing_study_is_one_line(storage, tmp_path):
    result = invoke("report", "--storage", storage, "--study", "nope", "--out", str(tmp_path / "r"))
    assert result.exit_code != 0 and "no study named 'nope'" in result.output and "Traceback" not in result.output


def test_the_pareto_front_keeps_only_points_nothing_beats():
    costs = [1, 2, 2, 3, 4, 5]
    accuracies = [0.5, 0.4, 0.6, 0.6, 0.7, 0.65]
    assert pareto_front(costs, accuracies) == [0, 2, 4]


def assert_one_error_line(result):
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_an_out_that_is_a_file_is_one_line_and_the_file_is_kept(storage, tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    for out in (taken, taken / "report"):
        line = assert_one_error_line(invoke("report", "--storage", storage, "--study", "pnas", "--out", str(out)))
        assert f"--out {out}" in line and f"{taken} is a file, not a folder" in line
    assert taken.read_text() == "mine"


def test_a_study_in_a_missing_file_names_the_file(storage, tmp_path):
    missing = tmp_path / "gone.db"
    line = assert_one_error_line(
        invoke("report", "--storage", storage, "--study", f"{missing}:pnas", "--out", str(tmp_path / "r"))
    )
    assert f"no study file at {missing}" in line and "no study named" not in line
    assert not (tmp_path / "r").exists()


def test_the_compute_figure_counts_what_pruned_children_trained():
    from pnas.evaluation.synthetic import SyntheticEvaluator
    from pnas.pruners import MedianPruner
    from pnas.report.data import best_so_far, study_data
    from pnas.space import PnasSpace
    from pnas.strategies.random_search import RandomSearch
    from pnas.study import optimize
    from pnas.study.reading import training_compute

    study = optimize(RandomSearch(PnasSpace(2), seed=3, budget=20), SyntheticEvaluator(), pruner=MedianPruner())
    models, _, compute = best_so_far(study_data(study))
    assert study.trials("pruned") and models[-1] == len(study.trials("done"))
    done_only = sum(training_compute(t) or 0 for t in study.trials("done"))
    assert compute[-1] > done_only  # children pruned before the last complete one count


def _labelled(ax, label: str) -> list:
    return [c for c in ax.collections if c.get_label() == label]


def test_pruned_children_are_drawn_apart_and_labelled():
    from pnas.evaluation.synthetic import SyntheticEvaluator
    from pnas.pruners import MedianPruner, SuccessiveHalving
    from pnas.report.data import stopped_value, study_data
    from pnas.report.figures import PRUNED_LABEL
    from pnas.report.html import _overview
    from pnas.space import PnasSpace
    from pnas.strategies.progressive import ProgressiveSearch
    from pnas.strategies.random_search import RandomSearch
    from pnas.study import optimize
    from pnas.study.reading import training_compute

    ladder = ProgressiveSearch(PnasSpace(2), beam=2, predictor="random")
    by_rounds = study_data(optimize(ladder, SyntheticEvaluator(), pruner=SuccessiveHalving()), label="ladder")
    in_order = study_data(optimize(RandomSearch(PnasSpace(2), seed=3, budget=20), SyntheticEvaluator(),
                                   pruner=MedianPruner()), label="random")  # fmt: skip
    for data in (by_rounds, in_order):
        assert data.pruned and "pruned (stopped early" in _overview(data)
        ax = figures.accuracy_by_round(data).axes[0]
        crosses = _labelled(ax, PRUNED_LABEL)
        drawn = sorted(y for c in crosses for _, y in c.get_offsets())
        assert drawn == sorted(stopped_value(t) for t in data.pruned)
        assert all(np.allclose(c.get_facecolor()[0][:3], to_rgb("tab:gray")) for c in crosses)  # not the blue dots
        assert {t.get_text() for t in ax.get_legend().get_texts()} == {"trained to the end", PRUNED_LABEL}
        ax = figures.best_vs_compute([data]).axes[0]
        (crosses,) = _labelled(ax, f"{data.label}: {PRUNED_LABEL}")  # where their compute went, the line's colour
        assert len(crosses.get_offsets()) == len(data.pruned)
        assert max(x for x, _ in crosses.get_offsets()) <= sum(training_compute(t) or 0 for t in data.trials)
    plain = study_data(optimize(RandomSearch(PnasSpace(2), seed=3, budget=8), SyntheticEvaluator()), label="plain")
    ax = figures.accuracy_by_round(plain).axes[0]
    assert ax.get_legend() is None and not _labelled(ax, PRUNED_LABEL) and "pruned" not in _overview(plain)
