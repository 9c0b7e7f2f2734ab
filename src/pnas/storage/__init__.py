"""Durable study storage.

:class:`StudyStorage` is the contract every backend keeps (see
:mod:`pnas.storage.base`); :class:`StudyStore` keeps it in one SQLite file,
:class:`MemoryStore` in this process's memory. Readers such as reports only
need :class:`StudyStore`.
"""

from pnas.storage.base import StoreError, StoreReadOnly, StudyInfo, StudyLocked, StudyStorage, TrialRecord, TrialState
from pnas.storage.memory import MemoryStore
from pnas.storage.sqlite import StudyStore

__all__ = [
    "MemoryStore",
    "StoreError",
    "StoreReadOnly",
    "StudyInfo",
    "StudyLocked",
    "StudyStorage",
    "StudyStore",
    "TrialRecord",
    "TrialState",
]
