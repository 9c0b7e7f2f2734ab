"""The Study API end to end on the shipped NAS-Bench-201 table: ask/tell, optimize, warm starts, durability."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from study_objectives import fails_on_skip_heavy, table, table_accuracy

import pnas
import pnas.storage
from pnas.search import SearchConfig, run_search
from pnas.storage.base import StoreError

STRATEGIES = {
    "pnas": {"name": "pnas", "beam": 4},
    "random": {"name": "random", "budget": 20},
    "evolution": {"name": "evolution", "budget": 30},
    "guided": {"name": "guided", "budget": 25},
}


def nb201(strategy: dict) -> dict:
    return {"space": {"name": "nb201"}, "strategy": dict(strategy)}


def cells(study) -> list[tuple[int, int, str, str, float | None]]:
    return [(t.number, t.round, t.cell, str(t.status), t.accuracy) for t in study.trials()]


def ask_tell_to_the_end(study) -> int:
    asked = 0
    while trials := study.ask():
        for trial in trials:
            asked += 1
            study.tell(trial, table_accuracy(trial))
    return asked


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_ask_tell_with_the_table_gives_the_trials_of_the_table_search(name, tmp_path):
    options = {k: v for k, v in STRATEGIES[name].items() if k != "name"}
    flat = {"beam": options["beam"]} if "beam" in options else {"budget": options["budget"]}
    with run_search(
        SearchConfig(space="nb201", evaluator="table", strategy=name, **flat), storage=tmp_path / "cli.db", study="s"
    ) as cli:
        expected = cells(cli)
    with pnas.create_study("s", tmp_path / "api.db", nb201(STRATEGIES[name])) as study:
        ask_tell_to_the_end(study)
        assert cells(study) == expected
        assert study.state == "complete"
        assert "evaluator" not in study.config  # the user evaluated the cells
    assert len(expected) > 0


def test_optimize_in_process_and_on_two_workers_give_the_same_study(tmp_path):
    config = nb201({"name": "evolution", "budget": 12, "batch": 4})
    with pnas.create_study("one", tmp_path / "s.db", config) as study:
        study.optimize(table_accuracy)
        one = cells(study)
    with pnas.create_study("two", tmp_path / "s.db", config) as study:
        study.optimize(table_accuracy, workers=2)
        assert cells(study) == one
    assert len(one) == 12 and all(row[3] == "done" for row in one)


def test_a_process_that_dies_between_ask_and_tell_loses_nothing(tmp_path):
    config = nb201(STRATEGIES["guided"])
    script = textwrap.dedent(
        f"""
        import json, os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import pnas
        from study_objectives import table_accuracy
        study = pnas.create_study("s", {str(tmp_path / "killed.db")!r}, {config!r})
        batch = study.ask()
        for trial in batch[: len(batch) // 2]:
            study.tell(trial, table_accuracy(trial))
        print(json.dumps([str(t.cell) for t in batch[len(batch) // 2 :]]), flush=True)
        os._exit(0)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    untold = json.loads(out.stdout.strip().splitlines()[-1])
    assert untold
    with pnas.create_study("s", tmp_path / "killed.db", config, load_if_exists=True) as study:
        assert [t.status for t in study.trials() if t.cell in untold] == ["running"] * len(untold)
        again = study.ask()
        assert [str(t.cell) for t in again][: len(untold)] == untold
        for trial in again:
            study.tell(trial, table_accuracy(trial))
        study.optimize(table_accuracy)
        resumed = cells(study)
    with pnas.create_study("s", tmp_path / "whole.db", config) as study:
        study.optimize(table_accuracy)
        assert cells(study) == resumed


def test_telling_twice_the_same_value_does_nothing_and_another_value_is_refused(tmp_path):
    with pnas.create_study("s", tmp_path / "s.db", nb201(STRATEGIES["random"])) as study:
        trial = study.ask()[0]
        study.tell(trial, 0.5)
        study.tell(trial, 0.5)
        with pytest.raises(ValueError, match="already told accuracy 0.5"):
            study.tell(trial, 0.25)
        assert study.trials()[0].accuracy == 0.5


@pytest.mark.parametrize("value", [83.2, -0.1, float("nan"), "0.8"])
def test_a_value_that_is_not_a_fraction_is_refused(value, tmp_path):
    with pnas.create_study("s", None, nb201(STRATEGIES["random"])) as study:
        trial = study.ask()[0]
        with pytest.raises((ValueError, TypeError), match="fraction|accuracy"):
            study.tell(trial, value)


def test_trial_failed_raised_by_the_objective_or_told_is_recorded_and_the_search_goes_on(tmp_path):
    with pnas.create_study("s", None, nb201({"name": "random", "budget": 40})) as study:
        first = study.ask()
        study.tell(first[0], pnas.TrialFailed("out of memory"))
        for trial in first[1:]:
            try:
                study.tell(trial, fails_on_skip_heavy(trial))
            except pnas.TrialFailed as exc:
                study.tell(trial, exc)
        failed = study.trials("failed")
        assert failed[0].error == "out of memory"
        assert len(failed) > 1 and study.totals()["models"] == 40 - len(failed)
    with pnas.create_study("t", None, nb201({"name": "random", "budget": 40})) as study:
        study.optimize(fails_on_skip_heavy)
        assert {t.error for t in study.trials("failed")} == {"ChildFailed: too many skips for this loop"}


def test_a_given_result_is_never_evaluated_again(tmp_path):
    known = "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pnas.create_study("s", tmp_path / "s.db", nb201(STRATEGIES["pnas"])) as study:
        study.add_trial(known, table()[known])
        asked = []
        study.optimize(lambda trial: asked.append(str(trial.cell)) or table_accuracy(trial))
        assert known not in asked and asked
        assert study.trials()[0].cell == known and study.trials()[0].round == 0  # round 0: given
        study.add_trial(known, table()[known])  # the same again: nothing happens
        with pytest.raises(ValueError, match="already a trial"):
            study.add_trial(known, 0.1)


def test_given_results_replay_at_the_point_they_were_given(tmp_path):
    """A budget strategy learns from a given result; a resumed study replays it where it came."""
    config = nb201({"name": "evolution", "budget": 10, "batch": 2, "population": 4, "sample": 2})
    given = sorted(table(), key=table().get)[-3:]  # three of the table's best cells

    def run(path, stop_after=None):
        with pnas.create_study("s", path, config, load_if_exists=True) as study:
            told = 0
            while trials := study.ask():
                for trial in trials:
                    study.tell(trial, table_accuracy(trial))
                    told += 1
                if told == 2:
                    for cell in given:
                        study.add_trial(cell, table()[cell])
                if stop_after is not None and told >= stop_after:
                    return None
            return cells(study)

    whole = run(tmp_path / "a.db")
    assert run(tmp_path / "b.db", stop_after=4) is None
    assert run(tmp_path / "b.db") == whole
    assert sum(1 for number, rnd, *_ in whole if rnd == 0) == 3


def test_enqueued_cells_are_asked_first_and_the_progressive_search_refuses_them(tmp_path):
    wanted = sorted(table())[:3]
    with pnas.create_study("s", tmp_path / "s.db", nb201({"name": "random", "budget": 10})) as study:
        for cell in wanted:
            study.enqueue(cell)
        first = study.ask()
        assert [str(t.cell) for t in first[:3]] == wanted
        for trial in first:
            study.tell(trial, table_accuracy(trial))
    with pnas.create_study("s", tmp_path / "s.db", nb201({"name": "random", "budget": 10}), load_if_exists=True) as s:
        assert [t.cell for t in s.trials()][:3] == wanted
    with pnas.create_study("p", None, nb201(STRATEGIES["pnas"])) as study:
        with pytest.raises(ValueError, match="cannot take enqueued cells"):
            study.enqueue(wanted[0])


def test_load_study_reads_a_copy_on_read_only_media(tmp_path):
    with pnas.create_study("s", tmp_path / "s.db", nb201(STRATEGIES["random"])) as study:
        study.optimize(table_accuracy)
        expected = study.summary()
    folder = tmp_path / "ro"
    folder.mkdir()
    copy = folder / "s.db"
    copy.write_bytes((tmp_path / "s.db").read_bytes())
    copy.chmod(stat.S_IRUSR)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert pnas.list_studies(copy) == ["s"]
        with pnas.load_study("s", copy) as study:
            summary = study.summary()
            assert summary["totals"] == expected["totals"] and summary["rounds"] == expected["rounds"]
            if os.geteuid() != 0:  # root writes anyway; the store still opened it read-only
                assert study.store.read_only
            with pytest.raises(StoreError):
                study.add_trial(sorted(table())[0], 0.5)
        assert sorted(p.name for p in folder.iterdir()) == ["s.db"]
    finally:
        folder.chmod(stat.S_IRWXU)


def test_status_json_is_the_summary(tmp_path):
    from pnas.cli.main import main

    with pnas.create_study("s", tmp_path / "s.db", nb201(STRATEGIES["guided"])) as study:
        study.optimize(table_accuracy)
    result = CliRunner().invoke(main, ["status", "--study", "s", "--storage", str(tmp_path / "s.db"), "--json"])
    assert result.exit_code == 0, result.output
    with pnas.load_study("s", tmp_path / "s.db") as study:
        assert json.loads(result.output) == json.loads(json.dumps(study.summary()))
        assert {"b", "done", "failed", "pending"} <= set(study.summary()["rounds"][0])


def test_creating_a_study_twice_or_with_a_bad_configuration_says_what_to_do(tmp_path):
    pnas.create_study("s", tmp_path / "s.db", nb201(STRATEGIES["random"])).close()
    with pytest.raises(StoreError, match="load_if_exists=True"):
        pnas.create_study("s", tmp_path / "s.db", nb201(STRATEGIES["random"]))
    with pytest.raises(pnas.ConfigError, match="unknown strategy 'evolutoin'.*evolution"):
        pnas.create_study("t", tmp_path / "s.db", nb201({"name": "evolutoin"}))
    with pytest.raises(pnas.ConfigError, match="--population is an option of|strategy.population"):
        pnas.create_study("t", tmp_path / "s.db", nb201({"name": "random", "population": 3}))
    with pytest.raises(pnas.ConfigMismatch, match="budget|created with other settings"):
        pnas.create_study("s", tmp_path / "s.db", nb201({"name": "evolution"}), load_if_exists=True)
    assert issubclass(pnas.ConfigError, ValueError)
    assert pnas.list_studies(tmp_path / "s.db") == ["s"]


def test_a_configuration_file_is_read_like_pnas_search_reads_it(tmp_path):
    (tmp_path / "c.toml").write_text('[space]\nname = "nb201"\n[strategy]\nname = "random"\nbudget = 7\n')
    with pnas.create_study("s", None, tmp_path / "c.toml") as study:
        study.optimize(table_accuracy)
        assert study.totals()["models"] == 7


def test_a_trials_network_is_the_one_the_train_evaluator_builds():
    from types import SimpleNamespace

    import torch

    from pnas.evaluation.trainer import TrainingEvaluator
    from pnas.space import Cell

    cell = "sep3x3(h1)+identity(h2); max3x3(b1)+sep5x5(h1)"
    evaluator = TrainingEvaluator(filters=4, cells_per_stack=2)
    evaluator.data = lambda: SimpleNamespace(channels=1, num_classes=10, image_size=14)  # Fashion-MNIST's shape
    expected = evaluator.build(Cell.parse(cell))
    net = pnas.build_network(cell, **evaluator.config())
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in expected.state_dict().items()}
    assert net(torch.zeros(2, 1, 14, 14)).shape == (2, 10)
    with pytest.raises(ValueError, match="unknown training option"):
        pnas.build_network(cell, filtres=4)


def test_import_pnas_leaves_torch_out():
    code = "import sys, pnas; assert 'torch' not in sys.modules, 'import pnas imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_command_line_runs_a_users_objective(tmp_path):
    config = SearchConfig(
        space="nb201",
        evaluator="objective",
        strategy="random",
        budget=6,
        trainer={"objective_function": "study_objectives:table_accuracy"},
    )
    with run_search(config, storage=tmp_path / "s.db", study="s") as study:
        assert [t.accuracy for t in study.trials()] == [table()[t.cell] for t in study.trials()]
        assert study.config["evaluator"] == {
            "name": "objective",
            "objective_function": "study_objectives:table_accuracy",
        }
    with pytest.raises(ValueError, match="cannot be imported by worker processes"):
        with pnas.create_study("t", None, nb201({"name": "random", "budget": 4})) as other:
            other.optimize(lambda trial: 0.5, workers=2)


def test_something_that_is_not_a_cell_of_the_space_is_refused_before_anything_is_written(tmp_path):
    with pnas.create_study("s", tmp_path / "s.db", nb201(STRATEGIES["random"])) as study:
        for wrong in (12, "sep3x3(h1)+identity(h2)", None):
            with pytest.raises(ValueError, match="not a cell of the nb201 space"):
                study.add_trial(wrong, 0.5)
        assert study.trials() == []
    with pnas.create_study("s", tmp_path / "s.db", nb201(STRATEGIES["random"]), load_if_exists=True) as study:
        assert len(study.ask()) == 20


def test_a_given_result_the_progressive_search_picks_later_replays_the_same(tmp_path):
    config = nb201({"name": "pnas", "beam": 3})
    with pnas.create_study("whole", None, config) as study:
        study.optimize(table_accuracy)
        later_pick = next(t.cell for t in study.trials() if t.round == 3)

    def drive(study, stop_after_round=None):
        while trials := study.ask():
            for trial in trials:
                study.tell(trial, table_accuracy(trial))
            if trials[0].round == 1 and not study.trials()[0].extra.get("given"):
                study.add_trial(later_pick, table()[later_pick])
            if stop_after_round is not None and trials[0].round == stop_after_round:
                return

    with pnas.create_study("s", tmp_path / "a.db", config) as study:
        drive(study)
        whole = cells(study)
    with pnas.create_study("s", tmp_path / "b.db", config) as study:
        drive(study, stop_after_round=3)
    with pnas.create_study("s", tmp_path / "b.db", config, load_if_exists=True) as study:
        drive(study)
        assert cells(study) == whole
        assert study.totals()["given"] == 1


def test_after_a_failed_run_the_same_handle_continues_and_the_lock_goes_with_close(tmp_path):
    from pnas.study import ChildrenFailing

    def broken(trial):
        raise RuntimeError("no GPU")

    store = pnas.storage.open_storage(tmp_path / "s.db")
    study = pnas.create_study("s", store, nb201({"name": "random", "budget": 12}))
    with pytest.raises(ChildrenFailing, match="no GPU"):
        study.optimize(broken)
    assert not store.is_driven(study.info.id)
    study.optimize(lambda trial: np.float32(table_accuracy(trial)))
    assert study.totals()["models"] == 12 and study.state == "complete"
    again = pnas.create_study("t", store, nb201({"name": "random", "budget": 3}))
    again.ask()
    again.close()
    assert not store.is_driven(again.info.id)
    study.add_trial(sorted(table())[0], 0.5)  # a finished study stays complete
    assert study.state == "complete"
    with pnas.load_study("s", tmp_path / "s.db") as reader:
        with pytest.raises(StoreError, match="load_if_exists=True"):
            reader.ask()
    store.close()
