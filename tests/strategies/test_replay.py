"""Studies replay from their decisions: a resumed round takes its picks from the store, fits nothing, and a
study keeps no predictor weights, so it stays small."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from strategy_support import Interrupted

import pnas
from pnas.checkpoints import add_checkpoint_listener, remove_checkpoint_listener
from pnas.cli.main import main
from pnas.evaluation.synthetic import SyntheticEvaluator
from pnas.evaluation.table import TableEvaluator
from pnas.space import Nb201Space, PnasSpace
from pnas.storage import StudyStore
from pnas.strategies.base import DECISION
from pnas.strategies.guided import ZERO_COST_ARTIFACT, GuidedSearch
from pnas.strategies.progressive import ProgressiveSearch
from pnas.study import optimize

SHORT = {"epochs": 20}
FAST = {"predictor_options": SHORT, "pool": 120}
MAKERS = {
    "guided": lambda: GuidedSearch(Nb201Space(), seed=4, budget=14, batch=2, initial=5, **FAST),
    "guided-thompson": lambda: GuidedSearch(Nb201Space(), seed=4, budget=12, initial=5, acquisition="thompson", **FAST),
    "pnas": lambda: ProgressiveSearch(
        PnasSpace(3), seed=2, beam=3, predictor="mlp", ensemble=2, predictor_options=SHORT
    ),
    "pnas-thompson": lambda: ProgressiveSearch(
        Nb201Space(), seed=2, beam=3, predictor="mlp", ensemble=2, acquisition="thompson", predictor_options=SHORT
    ),
}


def evaluator(name: str):
    return (
        TableEvaluator()
        if "nb201" in name or name.startswith("guided") or "thompson" in name
        else SyntheticEvaluator(seed=1)
    )


class Points:
    """Counts the checkpoints a run reaches; raises Interrupted at the n-th ``stop_at`` (a kill, in-process)."""

    def __init__(self, stop_at: str = "", n: int = 0) -> None:
        self.stop_at, self.n, self.seen = stop_at, n, {}

    def __call__(self, point: str) -> None:
        self.seen[point] = self.seen.get(point, 0) + 1
        if point == self.stop_at and self.seen[point] == self.n:
            raise Interrupted

    def __enter__(self) -> Points:
        add_checkpoint_listener(self)
        return self

    def __exit__(self, *exc: object) -> None:
        remove_checkpoint_listener(self)


def run(name: str, storage: str) -> list[tuple]:
    """Run (or resume) study ``name`` to its end; its trials and the digests of its decision records."""
    with optimize(MAKERS[name](), evaluator(name), storage=storage, study_name="s") as study:
        trials = [(t.number, t.cell, t.round, t.status, t.accuracy, t.predicted) for t in study.trials()]
        decisions = {
            t.round: study.store.load_artifact(study.info.id, DECISION.format(t.round)) for t in study.trials()
        }
    return trials + sorted((r, d[1]["predictions"]) for r, d in decisions.items() if d is not None)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, list[tuple]]:
    folder = tmp_path_factory.mktemp("uninterrupted")
    return {name: run(name, str(folder / f"{name}.db")) for name in MAKERS}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_a_finished_study_replays_every_round_from_the_store_without_fitting(tmp_path, uninterrupted, name):
    storage = str(tmp_path / "s.db")
    assert run(name, storage) == uninterrupted[name]
    with Points() as points:
        assert run(name, storage) == uninterrupted[name]
    assert points.seen.get("predictor_fit", 0) == 0


KILLS = {
    # a kill at a fit, one between a round's proposals being stored and trained, one at the next round's
    # fit once the stopped round trained, and one between two rounds trained anew
    name: [("predictor_fit", 2), ("result_commit", 2), ("predictor_fit", 1), ("between_rounds", 2)]
    for name in ("guided", "guided-thompson", "pnas-thompson")
}


@pytest.mark.parametrize("name", sorted(KILLS))
def test_a_study_stopped_anywhere_resumes_to_the_uninterrupted_study(tmp_path, uninterrupted, name):
    storage = str(tmp_path / "s.db")
    fits = 0
    for point, n in KILLS[name]:
        with pytest.raises(Interrupted), Points(point, n) as points:
            run(name, storage)
        fits += points.seen.get("predictor_fit", 0)
    with Points() as points:
        assert run(name, storage) == uninterrupted[name]
    fits += points.seen.get("predictor_fit", 0)
    with Points() as points:
        run(name, storage)
    assert points.seen.get("predictor_fit", 0) == 0
    rounds_fitted = sum(1 for item in uninterrupted[name] if len(item) == 2)
    assert fits <= rounds_fitted + 2  # only a round stopped at its fit is fitted again


def test_a_study_keeps_small_records_and_zero_cost_rows_but_no_predictor_weights(tmp_path, zero_cost_rows):
    storage = str(tmp_path / "s.db")
    zero_cost = {"predictor_options": {"epochs": 30, "features": "paths,zero-cost"}, "pool": 40, "screen": 6}
    optimize(
        GuidedSearch(Nb201Space(), seed=7, budget=10, initial=5, **zero_cost),
        TableEvaluator(),
        storage=storage,
        study_name="s",
    ).close()
    optimize(
        ProgressiveSearch(PnasSpace(2), seed=1, beam=3, predictor="mlp", ensemble=2),
        SyntheticEvaluator(),
        storage=storage,
        study_name="p",
    ).close()
    store = StudyStore(storage)
    sizes = {}
    for info in store.list_studies():
        names = [row[0] for row in store._db.execute("SELECT name FROM artifacts WHERE study_id = ?", (info.id,))]
        for name in names:
            sizes[info.name, name] = len(store.load_artifact(info.id, name)[0])
    store.close()
    rows = {key: size for key, size in sizes.items() if key[1].startswith(ZERO_COST_ARTIFACT.format(""))}
    assert rows and all(size < 1000 for size in rows.values())  # a few rows of a few columns per step
    records = {key: size for key, size in sizes.items() if key not in rows}
    assert ("s", DECISION.format(6)) in records and ("p", DECISION.format(2)) in records
    assert max(records.values()) < 100  # meta-only records: no tensors


def bytes_per_model(tmp_path, budget: int, *settings: str) -> float:
    """``pnas search --evaluator synthetic --strategy guided`` (the PNAS space's defaults): file bytes per model."""
    storage = tmp_path / "big.db"
    flags = ["--evaluator", "synthetic", "--strategy", "guided", "--budget", str(budget), *settings]
    result = CliRunner().invoke(main, ["search", *flags, "--study", "big", "--storage", str(storage), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["models"] == budget
    return storage.stat().st_size / budget


BOUND = 2 * 1024 * 1024 / 152
"""The issue's bound per model: a guided study of 152 models in the PNAS space is at most 2 MB."""


def test_a_guided_study_of_40_models_stays_well_within_the_bound_per_model(tmp_path):
    # a smaller pool and shorter fits than the defaults: they change the time, not what is stored
    cheap = ["--set", "strategy.pool=60", "--set", "predictor.epochs=20"]
    assert bytes_per_model(tmp_path, 40, *cheap) < BOUND / 2


@pytest.mark.slow
def test_a_guided_study_of_152_models_with_the_defaults_is_at_most_2_mb(tmp_path):
    assert bytes_per_model(tmp_path, 152) <= BOUND


def test_a_guided_round_that_began_with_an_enqueued_cell_replays_without_it(tmp_path):
    config = {
        "space": {"name": "nb201"},
        "strategy": {"name": "guided", "budget": 12, "batch": 2, "initial": 4, "pool": 60},
        "predictor": {"name": "feature-mlp", "epochs": 20},
    }
    table = TableEvaluator()
    wanted = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

    def run(path, stop_after=None):
        with pnas.create_study("s", path, config, load_if_exists=True) as study:
            told = 0
            while trials := study.ask():
                for trial in trials:
                    study.tell(trial, table.evaluate(trial.cell))
                    told += 1
                if told == 6:  # after a ranked round: the next one asks the enqueued cell beside one pick
                    study.enqueue(wanted)
                if stop_after is not None and told >= stop_after:
                    return None
            return [(t.number, t.round, t.cell, str(t.status), t.accuracy) for t in study.trials()]

    whole = run(tmp_path / "a.db")
    assert [(rnd, cell) for _, rnd, cell, *_ in whole if cell == wanted] == [(4, wanted)]
    assert run(tmp_path / "b.db", stop_after=10) is None
    assert run(tmp_path / "b.db") == whole
