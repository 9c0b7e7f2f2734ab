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
        (["--dataset", "cifar10", "--data-dir", "{tmp}"], ["cifar10", "{tmp}"]),
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
