"""Durable study storage (SQLite). Readers such as reports only need :class:`StudyStore`."""

from pnas.storage.sqlite import StoreError, StoreReadOnly, StudyInfo, StudyLocked, StudyStore, TrialRecord

__all__ = ["StoreError", "StoreReadOnly", "StudyInfo", "StudyLocked", "StudyStore", "TrialRecord"]
