"""Opening a study: create it, or check a stored one against the settings and data it is resumed with.

A refused or failed resume must leave the store exactly as it was, and a finished study run again
must not write at all (it may sit on read-only media), so what opening decides to write (grown
settings, the data's fingerprint, the objectives' reference, the state ``running``) is put off until
the study really starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pnas.evaluation.base import CostModel, fingerprint_difference
from pnas.storage.base import StoreError, StudyInfo, StudyStorage
from pnas.strategies.base import Strategy
from pnas.study.layout import config_changes

DATA_FINGERPRINT = "data-fingerprint"
"""The artifact that records what data a study was made with (see ``Evaluator.data_fingerprint``)."""

OBJECTIVES_ARTIFACT = "objectives"
"""The artifact that fixes a study's hypervolume reference point when it is created."""


class ConfigMismatch(StoreError):
    """The settings differ from the stored study's."""


class DataMismatch(ConfigMismatch):
    """The study is resumed on other data than it was made with."""


class Messages(Protocol):
    def message(self, text: str) -> None: ...


@dataclass
class Opening:
    """What opening a study decided, and the writes it put off until the study really starts."""

    store: StudyStorage
    info: StudyInfo
    resumed: bool
    grown: dict[str, Any] | None = None
    grown_note: str = ""
    fingerprint: dict[str, Any] | None = None
    objectives: dict[str, Any] | None = None
    """The study's objectives and hypervolume reference, written once when the study is created."""
    started: bool = False

    def start(self, reporter: Messages | None = None) -> None:
        """Write what was put off and mark the study running: called before the first child is trained."""
        if self.started:
            return
        self.started = True
        self._write_deferred(reporter)
        self.store.set_study_state(self.info.id, "running")

    def finish(self, reporter: Messages | None = None) -> None:
        """Mark the study complete, writing what was put off if nothing had to be trained."""
        self._write_deferred(reporter)
        info = self.store.get_study(self.info.name)
        if info is None or info.state != "complete":
            self.store.set_study_state(self.info.id, "complete")

    def check_data(self, fingerprint: dict[str, Any] | None) -> None:
        """Refuse other data than the study was made with; a new study (or one made before fingerprints
        were kept) records it when it starts."""
        if fingerprint is None:
            return
        stored = self.store.load_artifact(self.info.id, DATA_FINGERPRINT)
        if stored is None:
            self.fingerprint = fingerprint
            return
        difference = fingerprint_difference(stored[1], fingerprint)
        if difference is not None:
            raise DataMismatch(
                f"study {self.info.name!r} in {self.store.path or 'memory'} was made with other data: {difference}; "
                "resume it on the data it was made with, or pick a new --study name"
            )

    def record_objectives(self, strategy: Strategy, cost_model: CostModel | None) -> None:
        """Fix the goal's hypervolume reference once, when a study with costs is first run."""
        if strategy.goal.uses_costs and self.store.load_artifact(self.info.id, OBJECTIVES_ARTIFACT) is None:
            self.objectives = objectives_record(strategy, cost_model)

    def _write_deferred(self, reporter: Messages | None) -> None:
        if self.grown is not None:
            self.store.update_study_config(self.info.id, self.grown)
            if reporter is not None:
                reporter.message("study settings grown: " + self.grown_note)
            self.grown = None
            updated = self.store.get_study(self.info.name)
            assert updated is not None
            self.info = updated
        if self.fingerprint is not None:
            self.store.save_artifact(self.info.id, DATA_FINGERPRINT, b"", self.fingerprint)
            self.fingerprint = None
        if self.objectives is not None:
            self.store.save_artifact(self.info.id, OBJECTIVES_ARTIFACT, b"", self.objectives)
            self.objectives = None


def open_study(store: StudyStorage, name: str, config: dict[str, Any]) -> Opening:
    """Create the study, or check the stored one against ``config`` (a :class:`ConfigMismatch` names
    what differs; growing settings are allowed and written when the study starts)."""
    info = store.get_study(name)
    if info is None:
        return Opening(store, store.create_study(name, config), False)
    refused, allowed = config_changes(info.config, config)
    if refused:
        raise ConfigMismatch(
            f"study {name!r} in {store.path or 'memory'} was created with other settings ("
            + "; ".join(refused)
            + "); use the original settings to resume it, or pick a new --study name"
        )
    opening = Opening(store, info, True)
    if allowed:
        opening.grown, opening.grown_note = config, "; ".join(allowed)
    return opening


def objectives_record(strategy: Strategy, cost_model: CostModel | None) -> dict[str, Any]:
    """What a study records of its goal when created: its objectives, and the cost bounds its
    hypervolume is measured from (fixed from then on, so the hypervolume never falls)."""
    record: dict[str, Any] = {"objectives": list(strategy.goal.objectives), "reference": {}}
    if cost_model is not None:
        params, mult_adds = cost_model.bound(strategy.space.max_level)
        record["reference"] = {"params": int(params), "mult_adds": int(mult_adds)}
    return record
