"""Studies: one search, durable, driven through ask/tell or ``optimize``, read by every command.

* :mod:`pnas.study.api`: the public handle :class:`Study` and ``create_study`` / ``load_study`` /
  ``list_studies``.
* :mod:`pnas.study.driver`: asking and telling, replay on resume, running an evaluator over batches.
* :mod:`pnas.study.reading`: trials, results, rounds, totals and the one JSON summary.
* :mod:`pnas.study.opening`: creating a study, or checking a stored one against new settings and data.
* :mod:`pnas.study.layout`: the stored configuration's sections, earlier layouts, allowed changes.
* :mod:`pnas.study.pruning`: every value children report, and when a child may be stopped.
* :mod:`pnas.study.trial`: the :class:`Trial` handed out, :class:`TrialFailed` and :class:`TrialPruned`.
"""

from pnas.study.api import (
    Components,
    Reporter,
    Study,
    create_study,
    list_studies,
    load_study,
    open_configured,
    optimize,
)
from pnas.study.artifacts import StudyArtifacts
from pnas.study.driver import ChildrenFailing, FailureStreak, is_machinery_failure
from pnas.study.layout import REGISTRIES, config_changes, declared_options, study_config, upgrade_layout
from pnas.study.opening import DATA_FINGERPRINT, OBJECTIVES_ARTIFACT, ConfigMismatch, DataMismatch, objectives_record
from pnas.study.pruning import ReportBoard
from pnas.study.reading import RoundSummary, StudyReader, spearman
from pnas.study.trial import Trial, TrialFailed, TrialPruned

__all__ = [
    "DATA_FINGERPRINT",
    "OBJECTIVES_ARTIFACT",
    "REGISTRIES",
    "ChildrenFailing",
    "Components",
    "ConfigMismatch",
    "DataMismatch",
    "FailureStreak",
    "ReportBoard",
    "Reporter",
    "RoundSummary",
    "Study",
    "StudyArtifacts",
    "StudyReader",
    "Trial",
    "TrialFailed",
    "TrialPruned",
    "config_changes",
    "create_study",
    "declared_options",
    "is_machinery_failure",
    "list_studies",
    "load_study",
    "objectives_record",
    "open_configured",
    "optimize",
    "spearman",
    "study_config",
    "upgrade_layout",
]
