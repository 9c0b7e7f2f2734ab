"""Full-size training of a found cell: a run folder that resumes after any kill, and its result.

>>> from pnas.training import TrainConfig, NetworkChoices, make_spec, train_run, RunFolder
>>> spec = make_spec(Cell.parse("sep3x3(h1)+identity(h2)"), TrainConfig(epochs=10), NetworkChoices(filters=16))
>>> result = train_run(spec, RunFolder("runs/mine"))   # result["test_accuracy"]
"""

from pnas.training.checkpoint import CheckpointError
from pnas.training.config import DataInfo, TrainConfig
from pnas.training.loop import TrainingFailed, TrainReporter, deployed_size, exported_network, train_run
from pnas.training.run import RunError, RunFolder, RunSpec
from pnas.training.source import NetworkChoices, cell_from_study, make_spec, parse_cell

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
