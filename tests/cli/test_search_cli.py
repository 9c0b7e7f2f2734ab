"""``pnas search`` / ``status`` / ``best`` through the command line."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from pnas.cli.main import main
from pnas.predictors import PREDICTORS
from pnas.storage import StudyStore

SMALL = [
    "--space",
    "pnas",
    "--blocks",
    "2",
    "--beam",
    "3",
    "--evaluator",
    "synthetic",
    "--predictor",
    "mlp",
    "--ensemble",
    "1",
    "--study",
    "s",
]


def invoke(*args):
    result = CliRunner().invoke(main, list(args))
    return result


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    storage = str(tmp_path_factory.mktemp("cli") / "s.db")
    result = invoke("search", *SMALL, "--storage", storage, "--json")
    assert result.exit_code == 0, result.output
    return storage, json.loads(result.stdout)


def test_search_json_is_one_document_with_rounds_and_best(finished):
    _, doc = finished
    assert [r["b"] for r in doc["rounds"]] == [1, 2]
    assert doc["rounds"][0]["done"] == 136 and doc["rounds"][1]["done"] == 3
    assert 0 <= doc["best"]["accuracy"] <= 1 and doc["best"]["cell"]
    assert doc["totals"]["models"] == 139 and isinstance(doc["totals"]["examples"], int)


def test_status_json(finished):
    storage, _ = finished
    result = invoke("status", "--study", "s", "--storage", storage, "--json")
    doc = json.loads(result.stdout)
    assert {"b", "done", "failed", "pending", "best_accuracy", "spearman"} <= set(doc["rounds"][1])
    assert doc["rounds"][1]["spearman"] is not None and -1 <= doc["rounds"][1]["spearman"] <= 1
    assert doc["best"]["accuracy"] == max(r["best_accuracy"] for r in doc["rounds"])
    # with one study in the file, --study may be left out
    again = json.loads(invoke("status", "--storage", storage, "--json").stdout)
    assert again["best"] == doc["best"]


def test_best_json_is_a_sorted_list(finished):
    storage, _ = finished
    rows = json.loads(invoke("best", "--study", "s", "--storage", storage, "--top", "4", "--json").stdout)
    assert len(rows) == 4 and all({"cell", "accuracy"} <= set(r) for r in rows)
    assert [r["accuracy"] for r in rows] == sorted((r["accuracy"] for r in rows), reverse=True)


def test_running_a_finished_search_again_reports_it(finished):
    storage, doc = finished
    result = invoke("search", *SMALL, "--storage", storage)
    assert result.exit_code == 0
    assert "139 models trained" in result.stdout and doc["best"]["cell"] in result.stdout
    assert (
        result.stdout.splitlines()[1].startswith("round  done") and f"[round 2]  {doc['best']['cell']}" in result.stdout
    )


def test_changed_settings_are_refused(finished):
    storage, _ = finished
    result = invoke("search", *[a if a != "3" else "4" for a in SMALL], "--storage", storage)
    assert result.exit_code != 0 and "strategy.beam: 3 -> 4" in result.output


def test_an_evolution_study_grows_with_a_larger_budget_alone(tmp_path):
    evo = [
        "--strategy",
        "evolution",
        "--evaluator",
        "synthetic",
        "--blocks",
        "2",
        "--study",
        "evo",
        "--storage",
        str(tmp_path / "s.db"),
        "--json",
    ]
    assert invoke("search", *evo, "--budget", "12").exit_code == 0
    grown = invoke("search", *evo, "--budget", "24", "--workers", "1")
    assert grown.exit_code == 0, grown.output
    doc = json.loads(grown.stdout)
    assert doc["totals"]["models"] == 24
    assert doc["config"]["strategy"]["population"] == 4  # as created (budget 12), not budget 24's default of 6


@pytest.mark.parametrize(
    "args, message",
    [
        (["--predictor", "oracle"], "'oracle' is not one of 'feature-mlp', 'lstm', 'mlp', 'random'"),
        (["--set", "strategy.name=oracle"], "unknown strategy 'oracle'"),
        (["--storage", "{tmp}/missing/s.db"], "does not exist"),
        (["--storage", "{tmp}/notes.txt"], "not a pnas study file"),
    ],
)
def test_errors_are_one_clear_line(tmp_path, args, message):
    (tmp_path / "notes.txt").write_text("not a database")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    storage = [] if "--storage" in args else ["--storage", str(tmp_path / "s.db")]
    result = invoke("search", *SMALL, *storage, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_status_of_a_missing_study_names_the_ones_there(finished):
    storage, _ = finished
    result = invoke("status", "--study", "nope", "--storage", storage)
    assert result.exit_code != 0 and "no study named 'nope'" in result.output and "s" in result.output


@pytest.mark.parametrize(
    "args, messages",
    [
        (
            ["--dataset", "cifar10", "--data-dir", "{tmp}"],
            ["loading cifar10: 3,000 training images and 2,000 validation images at 14x14 px...", "{tmp}"],
        ),
        (["--dataset", "imagenet-22k"], ["'imagenet-22k' is not one of", "fashion-mnist"]),
    ],
)
def test_data_set_errors_stop_before_any_study_is_written(tmp_path, args, messages):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    storage = tmp_path / "s.db"
    result = invoke("search", "--storage", str(storage), "--blocks", "2", *args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    for message in messages:
        assert message.replace("{tmp}", str(tmp_path)) in result.output
    assert not storage.exists() or not StudyStore(storage).list_studies()


def test_status_without_a_study_file_says_how_to_make_one(tmp_path):
    missing = tmp_path / "none.db"
    result = invoke("status", "--storage", str(missing))
    assert result.exit_code != 0 and "run `pnas search` first" in result.output
    assert not missing.exists()


def test_list_names_every_registry():
    from pnas.evaluation.data import DATASETS
    from pnas.study import REGISTRIES

    doc = json.loads(invoke("list", "--json").stdout)
    for key, section in {"spaces": "space", "strategies": "strategy", "predictors": "predictor",
                         "evaluators": "evaluator", "executors": "executor"}.items():  # fmt: skip
        assert [c["name"] for c in doc[key]] == REGISTRIES[section].names()
        assert all(c["help"] for c in doc[key])
    assert [c["name"] for c in doc["datasets"]] == DATASETS.names()
    assert {"pnasnet5-large", "pnasnet5-mobile", "pnasnet5-cifar"} <= {c["name"] for c in doc["networks"]}
    assert {"sep3x3", "identity"} <= {c["name"] for c in doc["operators"]}
    evolution = next(c for c in doc["strategies"] if c["name"] == "evolution")
    assert {"population", "sample", "budget"} <= {o["name"] for o in evolution["options"]}


@pytest.mark.parametrize(
    "option, value", [("--seed", "-1"), ("--cells-per-stack", "100000"), ("--filters", "1"), ("--max-retries", "-1")]
)
def test_out_of_range_options_name_themselves(tmp_path, option, value):
    result = invoke("search", *SMALL, "--storage", str(tmp_path / "s.db"), option, value)
    assert result.exit_code == 2 and option in result.output
    assert not (tmp_path / "s.db").exists()


def test_the_synthetic_stand_in_has_its_own_default_study_name(tmp_path):
    result = invoke(
        "search", "--evaluator", "synthetic", "--blocks", "1", "--storage", str(tmp_path / "s.db"), "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["study"] == "pnas-synthetic-pnas"


def test_a_search_whose_children_all_fail_alike_stops_in_one_line_and_resumes_when_fixed(tmp_path, faulty_synthetic):
    storage = str(tmp_path / "s.db")
    failing = [arg for arg in SMALL if arg not in ("--evaluator", "synthetic")]  # named by --set instead
    sets = ["--set", f"evaluator.name={faulty_synthetic}", "--set", "evaluator.fail_on="]
    result = invoke("search", *failing, *sets, "--storage", storage, "--stop-after-failures", "3")
    assert result.exit_code != 0 and "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if "stopped" in line]
    assert "first 3 children all failed with the same error" in line and "fail_on" in line
    status = json.loads(invoke("status", "--storage", storage, "--json").stdout)
    assert status["state"] == "interrupted" and status["totals"]["failed"] == 3
    fixed = invoke("search", *SMALL, "--storage", storage, "--json")  # the same study, without the fault
    assert fixed.exit_code == 0, fixed.output
    doc = json.loads(fixed.stdout)
    assert doc["totals"]["failed"] == 0 and doc["totals"]["models"] == 139


def test_a_search_stopped_by_its_first_failing_child_says_so_in_the_singular(tmp_path, faulty_synthetic):
    failing = [arg for arg in SMALL if arg not in ("--evaluator", "synthetic")]
    sets = ["--set", f"evaluator.name={faulty_synthetic}", "--set", "evaluator.fail_on="]
    result = invoke("search", *failing, *sets, "--storage", str(tmp_path / "s.db"), "--stop-after-failures", "1")
    assert result.exit_code != 0 and "stopped: the first child failed: SetupBroken" in result.output


def test_status_shows_which_children_run_where_while_a_search_runs(tmp_path):
    import os
    import subprocess
    import sys
    import time

    storage = str(tmp_path / "s.db")
    pnas = os.path.join(os.path.dirname(sys.executable), "pnas")
    args = [pnas, "search", *SMALL, "--storage", storage, "--workers", "2", "--set", "evaluator.delay=0.5"]
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, running = time.monotonic() + 60, []
        while not running and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.5)
            result = invoke("status", "--storage", storage, "--json")
            if result.exit_code == 0:
                running = json.loads(result.stdout)["running"]
        assert running, "no running child was shown"
        assert all(r["worker"] and r["worker"].rsplit(":", 1)[1].isdigit() for r in running)
        assert 1 <= len(running) <= 2 and all(r["round"] == 1 for r in running)
        text = invoke("status", "--storage", storage).output
        assert "running now:" in text and running[0]["worker"].split(":")[0] in text
    finally:
        driver.kill()
        driver.wait()


def test_the_ray_executor_without_ray_says_how_to_install_it_in_one_line(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    storage = str(tmp_path / "s.db")
    result = invoke("search", *SMALL, "--storage", storage, "--executor", "ray")
    assert result.exit_code != 0 and "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.strip()]
    assert 'pip install "pnas[ray]"' in line


def _help_of(flag: str) -> str:
    """The help of one flag of ``pnas search --help``, on one line."""
    lines = invoke("search", "--help").output.splitlines()
    names = [line[2:].split("  ")[0].replace(",", " ").split() if line.startswith("  -") else [] for line in lines]
    start = next(i for i, words in enumerate(names) if flag in words)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("  -"))
    return " ".join(" ".join(lines[start:end]).split())


def test_search_help_gives_each_components_default_where_they_differ():
    acquisition = _help_of("--acquisition")
    assert "(strategy guided: default ei; strategy pnas: default mean)" in acquisition
    assert "[default:" not in acquisition  # no one default that would be the guided search's alone
    epochs = _help_of("--epochs")
    assert "evaluator train: default 3;" in epochs and "predictor lstm: default 40;" in epochs
    assert "[default: 1] (strategy: guided, pnas)" in _help_of("--kappa")  # one default where they agree


def test_search_help_of_seed_names_every_component_it_seeds():
    from pnas.study import REGISTRIES

    seed = _help_of("--seed")
    for section, registry in REGISTRIES.items():
        seeded = [c.name for c in registry.components() if "seed" in c.specs]
        if seeded:
            assert f"{section}: {', '.join(seeded)}" in seed
    assert "evaluator: synthetic, train" in seed and "strategy: evolution, guided, pnas, random, reinforce" in seed


def test_best_pareto_lists_each_distinct_point_once_with_the_cells_that_share_it_and_honours_top(tmp_path):
    from pnas.search import SearchConfig, run_search

    storage = str(tmp_path / "s.db")
    with run_search(SearchConfig(space="nb201", strategy="random", budget=200), storage=storage, study="p") as study:
        front = study.pareto()  # cells that build the same network have the same accuracy and size
    rows = json.loads(invoke("best", "--pareto", "--storage", storage, "--json").stdout)
    points = [(r["accuracy"], r["params"]) for r in rows]
    assert len(set(points)) == len(points) < len(front) and sum(r["shared_by"] for r in rows) == len(front)
    shared = next(r for r in rows if r["shared_by"] > 1)
    assert len(shared["same_point"]) == shared["shared_by"] - 1 and shared["cell"] not in shared["same_point"]
    assert [r["cell"] for r in rows] == [r["cell"] for r in sorted(rows, key=lambda r: -r["accuracy"])]
    top = json.loads(invoke("best", "--pareto", "--top", "2", "--storage", storage, "--json").stdout)
    assert top == rows[:2]
    text = invoke("best", "--pareto", "--storage", storage).stdout
    assert len(text.splitlines()) == len(rows) and "other cell at this point" in text
    cut = invoke("best", "--pareto", "--top", "2", "--storage", storage).stdout.splitlines()
    assert len(cut) == 3 and cut[-1] == f"{len(rows) - 2} more points on the front: raise --top to list them"
    assert len(json.loads(invoke("best", "--storage", storage, "--json").stdout)) == 5  # without --pareto: 5


def test_a_log_says_what_happens_before_the_first_child_in_words_that_agree(capsys):
    from pnas.cli.search import ProgressReporter
    from pnas.evaluation.base import EvalResult
    from pnas.execution.base import Outcome

    with ProgressReporter() as reporter:  # stderr is not a terminal here: a log
        reporter.batch_started(1, 1, 1)
        reporter.child_event("c", {"type": "workers", "starting": 1})
        reporter.child_event("c", {"type": "start", "worker": "host:1"})
        reporter.child_finished(Outcome("c", EvalResult(0.5, seconds=1.0), None, "host:1", 0.0, 1.0))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "round 1: 1 child, 1 to train"
    assert lines[1].startswith("starting 1 worker process (") and lines[2].startswith("workers ready after ")
    assert lines[3].startswith("round 1 child 1/1: accuracy 0.5000 in 1.0 s on host:1")


def test_a_terminal_shows_a_bar_per_round_with_failed_pruned_and_the_best_so_far(monkeypatch):
    import io

    from rich.console import Console

    import pnas.cli.search as cli
    from pnas.evaluation.base import EvalResult
    from pnas.execution.base import Outcome

    screen = io.StringIO()
    monkeypatch.setattr(cli, "err_console", Console(file=screen, force_terminal=True, width=160, color_system=None))
    with cli.ProgressReporter() as reporter:
        reporter.batch_started(1, 3, 3)
        reporter.child_event("a", {"type": "workers", "starting": 2})
        reporter.child_finished(Outcome("a", EvalResult(0.5), None, "host:1", 0.0, 1.0))
        reporter.child_finished(Outcome("b", None, "ValueError: no", "host:2", 0.0, 1.0))
        reporter.child_finished(Outcome("c", EvalResult(0.25), None, "host:1", 0.0, 1.0))
    last = screen.getvalue().split("\r")[-1]
    assert "round 1" in last and "3/3" in last and "failed 1  pruned 0  best 0.5000" in last and "eta" in last
    assert "starting 2 worker processes" in screen.getvalue()


def test_print_config_with_a_value_a_component_refuses_is_one_line():
    result = invoke("search", "--objectives", "accuracy,foo", "--print-config")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "error: unknown objective 'foo': choose from accuracy, params, mult_adds, latency (comma-separated)"
    ]


@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"strategy": "evolution"},
        {"strategy": "evolution", "population": 10, "workers": 3},
        {"strategy": "random", "beam": 4},
        {"strategy": "guided", "space": "nb201", "budget": 30},
        {"strategy": "reinforce", "blocks": 2},
        {"space": "nb201", "objectives": "accuracy,params"},
    ],
)
def test_print_config_fed_back_with_config_gives_the_same_study(tmp_path, flags):
    import tomllib

    from pnas.config import SECTIONS, to_toml
    from pnas.search import SearchConfig, printable_config, resolve, search_layers

    trainer = {k: flags.pop(k) for k in ("objectives",) if k in flags}
    layers, origin = search_layers(SearchConfig(**flags, trainer=trainer))
    expected = resolve(layers, origin=origin).config
    printed = printable_config(layers, origin=origin)
    text = to_toml(printed.config, printed.derived)
    assert resolve([tomllib.loads(text)]).config == expected
    shown = tomllib.loads(text)["strategy"]  # the defaults that decide results are shown, stored or not
    assert shown["objectives"] == expected["strategy"].get("objectives", "accuracy")
    assert shown.get("acquisition") == {"pnas": "mean", "guided": "ei"}.get(shown["name"])
    derived = printed.derived.get("strategy", {})
    assert all(f"\n# {key} = " in text and key not in tomllib.loads(text)["strategy"] for key in derived)
    if flags.get("strategy") == "evolution":
        assert {"batch", "sample"} <= set(derived)
    (tmp_path / "c.toml").write_text(text)
    again = invoke(
        "search", "--config", str(tmp_path / "c.toml"), "--storage", str(tmp_path / "s.db"), "--print-config"
    )
    assert again.exit_code == 0 and again.stdout == text
    assert set(tomllib.loads(text)) == {s for s in SECTIONS if s in expected}


def test_a_second_driver_through_a_hard_link_is_refused_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    path = tmp_path / "s.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from pnas.storage import StudyClaim; "
         f"c = StudyClaim({str(path)!r}, 's'); print('claimed', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "claimed"  # a driver of study s is starting
        os.link(path, tmp_path / "hard.db")
        result = invoke("search", *SMALL, "--storage", str(tmp_path / "hard.db"))
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "being driven by another running process" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--strategy", "random", "--population", "3"],
        ["--set", "strategy.name=oracle"],
        ["--evaluator", "synthetic", "--noise", "nan"],
        ["--dataset", "cifar10", "--data-dir", "{tmp}/none"],
    ],
    ids=["option-of-another-strategy", "unknown-strategy", "nan", "no-data"],
)
def test_a_refused_search_leaves_nothing_in_its_folder(tmp_path, monkeypatch, args):
    folder = tmp_path / "here"
    folder.mkdir()
    monkeypatch.chdir(folder)  # the default storage, ./pnas-studies.db
    result = invoke("search", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert list(folder.iterdir()) == []


def test_a_predictor_scoring_nan_stops_the_search_in_one_line_naming_it(tmp_path):
    class NanPredictor:
        def __init__(self, space, *, seed=0, ensemble=1):
            pass

        def fit(self, cells, accuracies):
            pass

        def predict(self, cells):
            return np.full(len(cells), np.nan)

    PREDICTORS.register("test-nan", NanPredictor)
    try:
        args = [arg for arg in SMALL if arg not in ("--predictor", "mlp", "--ensemble", "1")]  # named by --set
        result = invoke("search", *args, "--set", "predictor.name=test-nan", "--storage", str(tmp_path / "s.db"))
    finally:
        PREDICTORS.unregister("test-nan")
    assert result.exit_code != 0 and "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert "predictor 'test-nan' gave" in line and "NaN" in line and "round 2" in line
