"""pnas: Progressive Neural Architecture Search (Liu et al., ECCV 2018) as a library and a tool.

The Study API (see docs/api.md)::

    import pnas
    study = pnas.create_study("mine", "studies.db", {"strategy": {"name": "evolution", "budget": 50}})
    for trial in study.ask():                      # the strategy's next batch
        study.tell(trial, my_training(trial.cell))  # its validation accuracy in [0, 1]
    study.optimize(my_training_of_a_trial)         # or: every batch, until the search ends

Names are imported on first use, so ``import pnas`` stays free of torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from pnas.config import ConfigError
    from pnas.evaluation.base import EvalResult
    from pnas.evaluation.trainer import build_network
    from pnas.study.api import Study, create_study, list_studies, load_study
    from pnas.study.opening import ConfigMismatch
    from pnas.study.trial import Trial, TrialFailed, TrialPruned

__version__ = "0.1.0"

_LAZY = {
    "ConfigError": "pnas.config",
    "ConfigMismatch": "pnas.study.opening",
    "EvalResult": "pnas.evaluation.base",
    "Study": "pnas.study.api",
    "Trial": "pnas.study.trial",
    "TrialFailed": "pnas.study.trial",
    "TrialPruned": "pnas.study.trial",
    "build_network": "pnas.evaluation.trainer",
    "create_study": "pnas.study.api",
    "list_studies": "pnas.study.api",
    "load_study": "pnas.study.api",
}

__all__ = [
    "ConfigError",
    "ConfigMismatch",
    "EvalResult",
    "Study",
    "Trial",
    "TrialFailed",
    "TrialPruned",
    "__version__",
    "build_network",
    "create_study",
    "list_studies",
    "load",
    "load_study",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load(path: str | Path) -> Any:
    """The trained network (a ``torch.nn.Module``) of a finished ``pnas train`` run folder or a
    ``pnas export`` folder, in eval mode.

    It carries ``preprocess`` (an image, its path or a uint8 array -> input tensor 1xCxHxW),
    ``classes`` and ``data_info``; see :func:`pnas.export.load`.
    """
    from pnas.export import load as load_model

    return load_model(path)
