"""Durable study storage.

:class:`StudyStorage` is the contract every backend keeps (see
:mod:`pnas.storage.base`); :class:`StudyStore` keeps it in one SQLite file,
:class:`MemoryStore` in this process's memory. Code outside this package
opens a study file with :func:`open_storage` and holds the store as a
:class:`StudyStorage`, so it works with any backend.
"""

from __future__ import annotations

import os

from pnas.storage.base import StoreError, StoreReadOnly, StudyInfo, StudyLocked, StudyStorage, TrialRecord, TrialState
from pnas.storage.locking import StudyClaim
from pnas.storage.memory import MemoryStore
from pnas.storage.sqlite import StudyStore

__all__ = [
    "MemoryStore",
    "StoreError",
    "StoreReadOnly",
    "StudyClaim",
    "StudyInfo",
    "StudyLocked",
    "StudyStorage",
    "StudyStore",
    "TrialRecord",
    "TrialState",
    "open_storage",
]


def open_storage(path: str | os.PathLike[str] | None, *, read_only: bool = False) -> StudyStorage:
    """The store of the study file at ``path`` (None or ``":memory:"``: a new one in memory).

    A writer (the default, what a search uses) creates the file if it is
    missing; an existing file it may not write opens read-only. A reader
    (``read_only=True``: reports, ``pnas status``) needs an existing study
    file and never writes to it, nor leaves files beside it; a missing file
    is a :class:`StoreError`.
    """
    return StudyStore(path, create=not read_only)
