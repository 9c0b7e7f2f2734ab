"""A run folder: what was asked for (``train.json``), where training is (``checkpoint.pt``), what came out.

Layout of ``DIR``::

    train.json      the network, the protocol and the data: the run's identity (written first)
    checkpoint.pt   the state after the last finished epoch (see pnas.training.checkpoint)
    log.csv         one row per finished epoch, rewritten from the checkpoint's history
    result.json     written once, at the end: test accuracy, sizes, time, versions
    events.*        TensorBoard events, where tensorboard is installed

A run folder belongs to one run: the same command resumes or reports it, another network or
protocol is refused before anything in it is written.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pnas.evaluation.base import fingerprint_difference
from pnas.nets import NetworkConfig
from pnas.training.checkpoint import CheckpointError, load_checkpoint, write_atomic
from pnas.training.config import DataInfo, TrainConfig

SPEC_FORMAT = 2
"""Format 2 adds ``restarts`` (a run trained longer than it was planned); a run without them is written as 1."""
SPEC = "train.json"
CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
LOG = "log.csv"
LOG_FIELDS = ("epoch", "train_loss", "train_accuracy", "val_accuracy", "lr", "seconds", "images_per_second")


class RunError(ValueError):
    """A run folder that cannot be used as asked; the message says why and what to do."""


@dataclass(frozen=True)
class RunSpec:
    """A run's identity: the network, the protocol, the data as the network sees it."""

    network: NetworkConfig
    training: TrainConfig
    data: DataInfo
    fingerprint: dict[str, Any] | None = None
    """The decoded data set's fingerprint (pnas.evaluation.data.dataset_fingerprint): a run resumes on the
    same data only, wherever its files lie."""
    restarts: tuple[int, ...] = ()
    """The epochs after which the learning rate restarted because the run was trained longer than planned
    (see :meth:`extended`); empty for a run trained as it was asked."""

    def to_json(self) -> dict[str, Any]:
        doc = {
            "format": 2 if self.restarts else 1,
            "network": self.network.to_json(),
            "training": self.training.to_json(),
            "data": self.data.to_json(),
            "data_fingerprint": self.fingerprint,
        }
        return doc | ({"restarts": list(self.restarts)} if self.restarts else {})

    def extended(self, epochs: int) -> RunSpec:
        """This run trained on to ``epochs`` (more than its own): the epochs it has keep their schedule, and
        the added ones follow a new cosine from ``lr`` down to ``lr_min`` over their own steps (a warm
        restart, as in SGDR, Loshchilov and Hutter 2017); drop-path stays at its full rate. Recomputing the
        cosine over the new total instead would change the schedule of epochs already trained."""
        if epochs <= self.training.epochs:
            raise ValueError(f"an extension trains more than the run's {self.training.epochs} epochs, got {epochs}")
        restarts = (*self.restarts, self.training.epochs)
        return replace(self, training=self.training.replace(epochs=epochs), restarts=restarts)

    def cycle(self, epoch: int) -> tuple[int, int]:
        """The learning-rate cycle epoch ``epoch`` (1-based) belongs to: (epochs before it, epochs at its end)."""
        ends = (*self.restarts, self.training.epochs)
        start = max((end for end in ends if end < epoch), default=0)
        return start, min(end for end in ends if end >= epoch)

    @classmethod
    def from_json(cls, doc: dict[str, Any], source: str = "train.json") -> RunSpec:
        if not isinstance(doc, dict) or not isinstance(doc.get("format"), int):
            raise RunError(f"{source} is not a pnas run description (no format field)")
        if doc["format"] > SPEC_FORMAT:
            raise RunError(
                f"{source} has run format {doc['format']}, newer than the format {SPEC_FORMAT} this version of pnas "
                "reads: upgrade pnas"
            )
        try:
            network = NetworkConfig(**doc["network"])
            training, data = TrainConfig.from_json(doc["training"]), DataInfo.from_json(doc["data"])
            restarts = tuple(int(epoch) for epoch in doc.get("restarts", []))
            return cls(network, training, data, doc.get("data_fingerprint"), restarts)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunError(f"{source} is damaged ({type(exc).__name__}: {exc})") from None

    def differences(self, other: RunSpec) -> list[str]:
        """What differs between two runs, ignoring settings that only decide where and how fast they train."""
        mine, theirs = self._identity(), other._identity()
        return [
            f"{key}: {mine.get(key)!r} in the run, {theirs.get(key)!r} now"
            for key in sorted(set(mine) | set(theirs))
            if mine.get(key) != theirs.get(key)
        ]

    def _identity(self) -> dict[str, Any]:
        """Every setting that decides the result, as flat keys (``network.filters``, ``lr``, ``data.dataset``)."""
        data = {"dataset": self.data.dataset, "num_classes": self.data.num_classes}
        return {
            **{f"network.{k}": v for k, v in self.network.to_json().items()},
            **self.training.deciding(),
            **{f"data.{k}": v for k, v in data.items()},
        }


class RunFolder:
    """Paths and reads of one run folder; writes are atomic renames."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock: int | None = None

    @property
    def spec_path(self) -> Path:
        return self.path / SPEC

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def result_path(self) -> Path:
        return self.path / RESULT

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    def is_run(self) -> bool:
        return self.spec_path.is_file()

    def require_run(self) -> None:
        if not self.path.exists():
            raise RunError(f"{self.path} does not exist: give the folder a pnas train run wrote (its --out)")
        if not self.is_run():
            raise RunError(f"{self.path} is not a pnas training run (it has no {SPEC}): give the --out of a pnas train")

    def read_spec(self) -> RunSpec:
        self.require_run()
        try:
            doc = json.loads(self.spec_path.read_text())
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.spec_path} cannot be read ({exc})") from None
        return RunSpec.from_json(doc, str(self.spec_path))

    def write_spec(self, spec: RunSpec) -> None:
        write_atomic(self.spec_path, lambda f: f.write(json.dumps(spec.to_json(), indent=2).encode() + b"\n"))

    def read_result(self) -> dict[str, Any] | None:
        if not self.result_path.is_file():
            return None
        try:
            result: dict[str, Any] = json.loads(self.result_path.read_text())
            return result
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.result_path} cannot be read ({exc}); delete it to evaluate the run again") from None

    def write_result(self, result: dict[str, Any]) -> None:
        write_atomic(self.result_path, lambda f: f.write(json.dumps(result, indent=2).encode() + b"\n"))

    def load_checkpoint(self, spec: RunSpec) -> dict[str, Any] | None:
        """The last checkpoint, checked against the run's network; None before the first epoch ends."""
        if not self.checkpoint_path.is_file():
            return None
        return load_checkpoint(self.checkpoint_path, spec.network.to_json())

    def write_log(self, history: list[dict[str, Any]]) -> None:
        """The per-epoch CSV, rewritten whole from the checkpoint's history (so it never runs ahead of it)."""
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=LOG_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in LOG_FIELDS})
        write_atomic(self.log_path, lambda f: f.write(text.getvalue().encode()))

    def lock(self) -> None:
        """Hold the run for this process; a second process training the same folder is refused.

        The lock is on the folder itself (flock), so it leaves no file behind and goes with the process.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(
                f"{self.path} is being trained by another process; wait for it or pick another --out"
            ) from None
        self._lock = fd

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def check_usable_for(self, spec: RunSpec) -> bool:
        """Whether ``spec`` may train here: True to resume, extend or report the run there, False for a
        new folder. More epochs than the run's extend it (:meth:`RunSpec.extended`); fewer are refused.

        Raises RunError for a folder with other content, or a run with another network or protocol.
        """
        if not self.path.exists():
            return False
        if not self.path.is_dir():
            raise RunError(f"--out {self.path} is a file, not a folder: pick a folder for the run")
        if not self.is_run():
            leftovers = [p.name for p in self.path.iterdir()]
            if leftovers:
                raise RunError(
                    f"--out {self.path} holds other files ({', '.join(sorted(leftovers)[:3])}) and is not a pnas run: "
                    "pick a new or empty folder"
                )
            return False
        stored = self.read_spec()
        planned, asked = stored.training.epochs, spec.training.epochs
        if asked < planned:
            raise RunError(
                f"{self.path} holds a run of {planned} epochs: --epochs {asked} would shorten it; give --epochs "
                f"{planned} to resume or report it, more to train it longer, or pick another --out"
            )
        differences = stored.differences(replace(spec, training=spec.training.replace(epochs=planned)))
        if differences:
            raise RunError(
                f"{self.path} holds a run with other settings ({'; '.join(differences[:4])}"
                f"{'; ...' if len(differences) > 4 else ''}): use the original settings to resume it, "
                "or pick another --out"
            )
        if stored.fingerprint is not None and spec.fingerprint is not None:
            changed = fingerprint_difference(stored.fingerprint, spec.fingerprint)
            if changed is not None:
                raise RunError(
                    f"{self.path} holds a run trained on other data ({changed}): resume it on the data it was "
                    "trained on, or pick another --out"
                )
        return True


__all__ = ["CheckpointError", "RunError", "RunFolder", "RunSpec"]
