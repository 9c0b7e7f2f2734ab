"""``pnas train`` through the command line: kill -9 and resume, a study's cell, repeats, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from click.testing import CliRunner

from pnas.cli.main import main

CELL = "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)"
TINY = ["--epochs", "3", "--train-subset", "320", "--batch-size", "32", "-N", "1", "-F", "6", "--lr", "0.05",
        "--device", "cpu", "--threads", "1", "--aux-weight", "0"]  # fmt: skip
PNAS = [sys.executable, "-c", "from pnas.cli.main import main; main()"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and lines[-1].startswith("error: "), result.output
    return lines[-1]


def weights(folder):
    return torch.load(folder / "checkpoint.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of TINY: its folder and its result."""
    out = tmp_path_factory.mktemp("reference") / "run"
    result = invoke("train", CELL, *TINY, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_killed_during_an_epoch_the_same_command_resumes_to_the_uninterrupted_weights(reference, tmp_path):
    reference_folder, reference_result = reference
    out = tmp_path / "killed"
    command = [*PNAS, "train", CELL, *TINY, "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "result.json").exists()
    stopped_at = torch.load(out / "checkpoint.pt", weights_only=True)["epoch"]
    assert 1 <= stopped_at < 3
    resumed = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["epochs"] == 3 and result["test_accuracy"] == reference_result["test_accuracy"]
    theirs, ours = weights(reference_folder), weights(out)
    assert all(torch.equal(theirs[k], ours[k]) for k in theirs)
    assert len((out / "log.csv").read_text().splitlines()) == 4  # a header and one row per epoch, none twice
    again = invoke("train", CELL, *TINY, "--out", out, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout) == result


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    storage = tmp_path_factory.mktemp("study") / "s.db"
    made = invoke("search", "--evaluator", "synthetic", "--blocks", "1", "--storage", storage, "--study", "syn")
    assert made.exit_code == 0, made.output
    return storage


def test_a_study_cell_by_rank_and_repeats_with_their_spread(study, tmp_path):
    best = json.loads(invoke("best", "--storage", study, "--study", "syn", "--top", "2", "--json").stdout)
    args = ["--study", "syn", "--storage", study, "--rank", "2", *TINY, "--epochs", "1", "--train-subset", "128"]
    result = invoke("train", *args, "--repeat", "2", "--seed", "4", "--out", tmp_path / "rep", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["cell"] == best[1]["cell"] and summary["repeats"] == 2 and summary["seeds"] == [4, 5]
    runs = [json.loads((tmp_path / "rep" / f"seed-{s}" / "result.json").read_text()) for s in (4, 5)]
    accuracies = [r["test_accuracy"] for r in runs]
    assert summary["test_accuracies"] == accuracies
    assert summary["test_accuracy"] == pytest.approx(sum(accuracies) / 2)
    assert summary["test_accuracy_std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2**0.5)
    assert json.loads((tmp_path / "rep" / "result.json").read_text()) == summary


def test_a_rank_the_study_does_not_have_is_refused(study, tmp_path):
    line = one_error_line(
        invoke("train", "--study", "syn", "--storage", study, "--rank", "999", "--out", tmp_path / "r")
    )
    assert "has 136 trained cells, so it has no rank 999" in line
    line = one_error_line(invoke("train", "--study", "nope", "--storage", study, "--out", tmp_path / "r"))
    assert "nope" in line
    line = one_error_line(
        invoke("train", "--study", "syn", "--storage", tmp_path / "missing.db", "--out", tmp_path / "r")
    )
    assert "no such study file" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (["foo(h1)+bar(h9)"], "is neither a cell nor a named network"),
        ([], "nothing to train"),
        ([CELL, "--study", "x"], "either TARGET"),
        ([CELL, "--dataset", "folder", "--data-dir", "/nonexistent"], "not found"),
    ],
)
def test_bad_input_is_one_line_and_creates_nothing(args, says, tmp_path):
    line = one_error_line(invoke("train", *args, "--epochs", "1", "--out", tmp_path / "bad"))
    assert says in line
    assert not (tmp_path / "bad").exists()


def test_another_configuration_in_a_finished_run_folder_is_refused(reference):
    out, result = reference
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    line = one_error_line(invoke("train", CELL, *TINY, "--out", out, "--cutout", "8"))
    assert "cutout: 0 in the run, 8 now" in line
    line = one_error_line(invoke("train", "sep3x3(h1)+identity(h2)", *TINY, "--out", out))
    assert "network.cell" in line
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    same = invoke("train", CELL, *TINY, "--out", out, "--threads", "2", "--json")  # a runtime setting may differ
    assert same.exit_code == 0 and json.loads(same.stdout) == result


@pytest.mark.slow  # about 5 s: tests/training covers the extension itself, this its words on the command line
def test_a_finished_run_is_trained_longer_with_more_epochs_and_never_shortened(tmp_path):
    small = [a for a in TINY if a not in ("--epochs", "3")] + ["--image-size", "8", "--train-subset", "64"]
    out = tmp_path / "run"
    assert invoke("train", CELL, *small, "--epochs", "1", "--out", out).exit_code == 0
    longer = invoke("train", CELL, *small, "--epochs", "2", "--out", out, "--json")
    assert longer.exit_code == 0, longer.output
    assert (
        "training the run of 1 epoch on to 2: epoch 2 follows a new cosine from --lr (a warm restart)" in longer.stderr
    )
    result = json.loads(longer.stdout)
    assert result["epochs"] == 2 and result["restarts"] == [1]
    line = one_error_line(invoke("train", CELL, *small, "--epochs", "1", "--out", out))
    assert "holds a run of 2 epochs: --epochs 1 would shorten it; give --epochs 2 to resume or report it" in line
