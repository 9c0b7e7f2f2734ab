"""Training runs in-process: resume to the same weights, workers change nothing, folders refused as they should be."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from pnas.space import PNASNET5_CELL, Cell
from pnas.training import (
    CheckpointError,
    NetworkChoices,
    RunError,
    RunFolder,
    TrainConfig,
    TrainReporter,
    make_spec,
    train_run,
)
from pnas.training.checkpoint import FORMAT, load_checkpoint, save_checkpoint

CELL = Cell.parse("sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)")
TINY = TrainConfig(
    epochs=2, train_subset=192, batch_size=32, lr=0.05, device="cpu", threads=1, cutout=4, label_smoothing=0.1
)
SMALL_NET = NetworkChoices(cells_per_stack=1, filters=4, drop_path=0.2)


def spec(**changes):
    return make_spec(CELL, TINY.replace(**changes), SMALL_NET)


def weights(folder):
    return torch.load(RunFolder(folder).checkpoint_path, weights_only=True)["model"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train") / "run"
    result = train_run(spec(), RunFolder(folder))
    return folder, result


def test_a_run_writes_its_result_log_and_checkpoint(finished):
    folder, result = finished
    assert result["epochs"] == 2 and 0 <= result["test_accuracy"] <= 1 and result["test_images"] == 10_000
    assert isinstance(result["params"], int) and isinstance(result["mult_adds"], int) and result["params"] > 0
    assert json.loads((folder / "result.json").read_text()) == result
    rows = (folder / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss") and len(rows) == 3
    assert result["train_images"] == 192 and result["cell"] == str(CELL)


def test_a_finished_run_is_reported_without_writing(finished):
    folder, result = finished
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert train_run(spec(device="auto", threads=2, workers=1), RunFolder(folder)) == result  # runtime may differ
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


class StopInEpoch(TrainReporter):
    """Stops training in the middle of an epoch, as a kill would (the real kill -9 is in tests/cli)."""

    def __init__(self, epoch):
        self.stop_epoch, self.epoch = epoch, 0

    def epoch_started(self, epoch, epochs, steps):
        self.epoch = epoch

    def step(self, step, loss, accuracy, images_per_second):
        if self.epoch == self.stop_epoch and step == 3:
            raise KeyboardInterrupt


def test_a_run_stopped_mid_epoch_resumes_to_the_uninterrupted_weights(finished, tmp_path):
    folder, result = finished
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        train_run(spec(), RunFolder(resumed), StopInEpoch(2))
    assert torch.load(RunFolder(resumed).checkpoint_path, weights_only=True)["epoch"] == 1
    assert not (resumed / "result.json").exists() and len((resumed / "log.csv").read_text().splitlines()) == 2
    again = train_run(spec(), RunFolder(resumed))
    assert same_weights(weights(folder), weights(resumed))
    assert again["test_accuracy"] == result["test_accuracy"] and again["epochs"] == 2
    assert len((resumed / "log.csv").read_text().splitlines()) == 3


def test_data_loading_workers_change_nothing(finished, tmp_path):
    folder, result = finished
    with_workers = tmp_path / "workers"
    again = train_run(spec(workers=2), RunFolder(with_workers))
    assert same_weights(weights(folder), weights(with_workers))
    assert again["test_accuracy"] == result["test_accuracy"]


def test_another_configuration_is_refused_and_nothing_is_overwritten(finished):
    folder, _ = finished
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(RunError, match="lr: 0.05 in the run, 0.1 now"):
        train_run(spec(lr=0.1), RunFolder(folder))
    with pytest.raises(RunError, match="network.filters"):
        train_run(make_spec(CELL, TINY, NetworkChoices(cells_per_stack=1, filters=6)), RunFolder(folder))
    other = make_spec(Cell.parse("sep3x3(h1)+identity(h2)"), TINY, SMALL_NET)
    with pytest.raises(RunError, match="network.cell"):
        train_run(other, RunFolder(folder))
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_other_data_is_refused_and_the_same_data_elsewhere_is_not(finished):
    folder, result = finished
    same = spec()
    assert same.fingerprint is not None and same.fingerprint["content"]["dataset"] == "fashion-mnist"
    moved = dict(same.fingerprint, files={"elsewhere/train-images.gz": "x"})
    assert train_run(dataclasses.replace(same, fingerprint=moved), RunFolder(folder)) == result
    content = dict(same.fingerprint["content"], train=dict(same.fingerprint["content"]["train"], sha256="0" * 64))
    other = dict(same.fingerprint, content=content)
    with pytest.raises(RunError, match="trained on other data"):
        train_run(dataclasses.replace(same, fingerprint=other), RunFolder(folder))


def test_a_folder_with_other_files_or_a_file_is_refused(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="holds other files"):
        train_run(spec(), RunFolder(tmp_path / "busy"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunError, match="is a file"):
        train_run(spec(), RunFolder(tmp_path / "file"))
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_a_checkpoint_of_another_network_or_a_newer_format_is_refused(finished, tmp_path):
    folder, _ = finished
    run = RunFolder(folder)
    state = torch.load(run.checkpoint_path, weights_only=True)
    wider = make_spec(CELL, TINY, NetworkChoices(cells_per_stack=1, filters=6))
    with pytest.raises(CheckpointError, match="another network .*filters"):
        load_checkpoint(run.checkpoint_path, wider.network.to_json())
    newer = tmp_path / "newer.pt"
    save_checkpoint(newer, state)
    doc = torch.load(newer, weights_only=True)
    doc["format"] = FORMAT + 1
    torch.save(doc, newer)
    with pytest.raises(CheckpointError, match="newer than the format"):
        load_checkpoint(newer, spec().network.to_json())
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable pnas checkpoint"):
        load_checkpoint(garbage, spec().network.to_json())


def test_a_second_process_on_the_same_folder_is_refused(tmp_path):
    run = RunFolder(tmp_path / "locked")
    holder = RunFolder(tmp_path / "locked")
    holder.lock()
    try:
        with pytest.raises(RunError, match="being trained by another process"):
            train_run(spec(), run)
    finally:
        holder.unlock()


def test_tensorboard_gets_every_epoch_where_it_is_installed(tmp_path, monkeypatch):
    import sys
    import types

    written = []

    class SummaryWriter:
        def __init__(self, log_dir, purge_step=None):
            written.append(("open", log_dir, purge_step))

        def add_scalar(self, key, value, step):
            written.append((key, step))

        def flush(self):
            pass

        def close(self):
            written.append(("close",))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=SummaryWriter))
    train_run(spec(epochs=1, train_subset=64), RunFolder(tmp_path / "tb"))
    assert written[0] == ("open", str(tmp_path / "tb"), 1) and written[-1] == ("close",)
    assert {key for key, *_ in written[1:-1]} == {"train_loss", "train_accuracy", "lr", "images_per_second"}


def test_a_named_network_is_sized_for_the_data():
    named = make_spec(
        "pnasnet5-cifar", TINY.replace(epochs=1, train_subset=64), NetworkChoices(cells_per_stack=1, filters=4)
    )
    assert (named.network.in_channels, named.network.image_size, named.network.num_classes) == (1, 28, 10)
    assert named.network.drop_path == 0.4 and named.network.cell == PNASNET5_CELL
    assert (named.network.filters, named.network.cells_per_stack, named.network.aux_head) == (4, 1, True)
    cell = make_spec(CELL, TINY.replace(aux_weight=0), NetworkChoices())
    assert (cell.network.filters, cell.network.cells_per_stack, cell.network.drop_path) == (48, 3, 0.2)
    assert not cell.network.aux_head


FAST = {"image_size": 8, "train_subset": 96}
"""Runs of a second or so: 8 px images score the 10,000 test images quickly."""


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """A finished one-epoch run at 8 px."""
    folder = tmp_path_factory.mktemp("short") / "run"
    return folder, train_run(spec(epochs=1, **FAST), RunFolder(folder))


def copy_of(folder, tmp_path, name="copy"):
    import shutil

    return Path(shutil.copytree(folder, tmp_path / name))


def log_rows(folder):
    return (folder / "log.csv").read_text().splitlines()


def test_a_finished_run_trained_longer_keeps_its_epochs_and_restarts_the_cosine_over_the_added_ones(finished, tmp_path):
    folder, result = finished
    longer = copy_of(folder, tmp_path)
    extended = train_run(spec(epochs=3), RunFolder(longer))
    assert (
        extended["epochs"] == 3 and extended["restarts"] == [2] and extended["test_accuracy"] != result["test_accuracy"]
    )
    assert log_rows(longer)[:3] == log_rows(folder) and len(log_rows(longer)) == 4  # the first two epochs as they were
    stored = RunFolder(longer).read_spec()
    assert stored.restarts == (2,) and stored.training.epochs == 3 and json.loads(stored_text(longer))["format"] == 2
    assert train_run(spec(epochs=3), RunFolder(longer)) == extended  # now a finished run of 3 epochs
    with pytest.raises(RunError, match="holds a run of 3 epochs: --epochs 2 would shorten it"):
        train_run(spec(epochs=2), RunFolder(longer))
    # stopped in the added epoch, the same command ends with the weights of the uninterrupted extension
    stopped = copy_of(folder, tmp_path, "stopped")
    with pytest.raises(KeyboardInterrupt):
        train_run(spec(epochs=3), RunFolder(stopped), StopInEpoch(3))
    assert not (stopped / "result.json").exists()  # the 2-epoch result is not the run's any more
    assert train_run(spec(epochs=3), RunFolder(stopped))["test_accuracy"] == extended["test_accuracy"]
    assert same_weights(weights(longer), weights(stopped))


def stored_text(folder):
    return (folder / "train.json").read_text()


def test_the_schedule_of_an_extended_run_is_its_own_then_a_new_cosine():
    from pnas.training.loop import learning_rate, scheduled_rate

    planned = spec(epochs=3, lr_min=0.001)
    longer, steps = planned.extended(5), 7
    t = planned.training
    for step in range(3 * steps):  # the epochs trained before: their schedule unchanged
        assert scheduled_rate(longer, step, steps) == scheduled_rate(planned, step, steps)
    assert scheduled_rate(longer, 3 * steps, steps) == t.lr  # the restart
    assert scheduled_rate(longer, 4 * steps, steps) == learning_rate(t, steps, 2 * steps)  # halfway down again
    twice = longer.extended(6)
    assert twice.restarts == (3, 5) and twice.cycle(6) == (5, 6) and twice.cycle(4) == (3, 5)
    assert scheduled_rate(twice, 5 * steps, steps) == t.lr
    with pytest.raises(ValueError, match="more than the run's 5 epochs"):
        longer.extended(5)


def test_a_resume_that_only_scores_the_test_set_adds_no_training_seconds(short, tmp_path):
    folder, result = short
    rescored = copy_of(folder, tmp_path)
    (rescored / "result.json").unlink()  # killed while scoring the test set
    again = train_run(spec(epochs=1, **FAST), RunFolder(rescored))
    history = torch.load(RunFolder(rescored).checkpoint_path, weights_only=True)["history"]
    assert again["seconds"] == result["seconds"] == round(sum(row["seconds"] for row in history), 3)
    assert again["test_accuracy"] == result["test_accuracy"] and again["test_seconds"] > 0


def test_an_epochs_images_per_second_leave_out_its_first_steps_set_up(tmp_path, monkeypatch):
    import time
    import types

    from pnas.training import loop

    offset = [0.0]
    clock = types.SimpleNamespace(monotonic=lambda: time.monotonic() + offset[0])
    monkeypatch.setattr(loop, "time", clock)
    real_batches = loop._batches

    def slow_start(dataset, workers):  # 100 s of set-up before the first epoch's first batch, on the clock
        for i, batch in enumerate(real_batches(dataset, workers)):
            if i == 0 and dataset.epoch == 1:
                offset[0] += 100.0
            yield batch

    monkeypatch.setattr(loop, "_batches", slow_start)
    train_run(spec(epochs=1, **FAST), RunFolder(tmp_path / "run"))
    [row] = torch.load(RunFolder(tmp_path / "run").checkpoint_path, weights_only=True)["history"]
    assert row["seconds"] > 100  # the epoch took that long
    assert row["images_per_second"] > 20 * 96 / row["seconds"]  # and its speed is measured after its first step
