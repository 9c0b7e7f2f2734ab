"""Durable study storage (SQLite). Readers such as reports only need :class:`StudyStore`."""

from pnas.storage.sqlite import StoreError, StudyInfo, StudyLocked, StudyStore, TrialRecord

__all__ = ["StoreError", "StudyInfo", "StudyLocked", "StudyStore", "TrialRecord"]
