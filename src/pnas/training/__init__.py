"""Full-size training of a found cell: a run folder that resumes after any kill, and its result.

>>> from pnas.training import TrainConfig, NetworkChoices, make_spec, train_run, RunFolder
>>> spec = make_spec(Cell.parse("sep3x3(h1)+identity(h2)"), TrainConfig(epochs=10), NetworkChoices(filters=16))
>>> result = train_run(spec, RunFolder("runs/mine"))   # result["test_accuracy"]

Names are imported on first use: the settings (:mod:`pnas.training.config`) without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pnas.lazy import lazy_exports

if TYPE_CHECKING:
    from pnas.training.checkpoint import CheckpointError
    from pnas.training.config import DataInfo, NetworkChoices, TrainConfig
    from pnas.training.loop import TrainingFailed, deployed_size, exported_network, train_run
    from pnas.training.reporting import TrainReporter
    from pnas.training.run import RunError, RunFolder, RunSpec
    from pnas.training.source import cell_from_study, make_spec, parse_cell

_LAZY = {
    "CheckpointError": "pnas.training.checkpoint",
    **dict.fromkeys(("DataInfo", "NetworkChoices", "TrainConfig"), "pnas.training.config"),
    **dict.fromkeys(("TrainingFailed", "deployed_size", "exported_network", "train_run"), "pnas.training.loop"),
    "TrainReporter": "pnas.training.reporting",
    **dict.fromkeys(("RunError", "RunFolder", "RunSpec"), "pnas.training.run"),
    **dict.fromkeys(("cell_from_study", "make_spec", "parse_cell"), "pnas.training.source"),
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "CheckpointError",
    "DataInfo",
    "NetworkChoices",
    "RunError",
    "RunFolder",
    "RunSpec",
    "TrainConfig",
    "TrainReporter",
    "TrainingFailed",
    "cell_from_study",
    "deployed_size",
    "exported_network",
    "make_spec",
    "parse_cell",
    "train_run",
]
