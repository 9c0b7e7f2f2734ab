"""The OS locks a process holds on study files, shared by every store of the process.

Three kinds, all on byte ranges the kernel drops when their process dies (so
a killed run never blocks its resume):

* A driver's lock on a study (:data:`PROCESS_LOCKS`, taken through
  :meth:`pnas.storage.sqlite.StudyStore.lock_study`): one byte per study id in
  ``<storage>.lock`` beside the real file, whatever path reaches it.
* A claim on a study's name (:class:`StudyClaim`), taken by a driver before
  its slow start, so that two drivers started at once on a new study do not
  both create it: a byte of the same lock file, from :data:`NAME_LOCKS` on.
* SQLite's shared lock on a quiet WAL store, held for the immutable readers
  of this process (:data:`READER_PINS`).

The state is process-wide because POSIX record locks belong to a process, not
to a descriptor or a store; a forked child starts with none of it.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import IO

from pnas.storage.base import StoreError, StudyLocked

__all__ = ["NAME_LOCKS", "PROCESS_LOCKS", "READER_PINS", "ProcessLocks", "ReaderPins", "StudyClaim", "lock_path"]


def lock_path(path: str | os.PathLike[str]) -> str:
    """The lock file of a study file: one per file, whichever path (symbolic links included) reaches it."""
    return os.path.realpath(path) + ".lock"


class ProcessLocks:
    """The study locks this process holds, for every store of it.

    POSIX record locks belong to a process, not to a descriptor: a second
    descriptor of the same lock file would be granted the driver's byte, its
    unlock would release the driver's lock, and closing it would drop every
    lock the process holds on the file. So the process keeps one descriptor
    per lock file, shared by its stores, and knows which store holds which
    study; other descriptors of a lock file are opened only to ask about it
    while this process holds nothing there.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._files: dict[str, IO[bytes]] = {}  # lock path -> the one open descriptor
        self._holders: dict[str, dict[int, object]] = {}  # lock path -> study id -> the store driving it

    def take(self, path: str, study_id: int, store: object, name: str, where: Path) -> None:
        with self._mutex:
            holders = self._holders.get(path, {})
            holder = holders.get(study_id)
            if holder is store:
                return
            if holder is not None:
                raise StudyLocked(
                    f"study {name!r} in {where} is being driven by another store of this process; "
                    "close it or wait for its run to finish"
                )
            handle = self._files.get(path)
            if handle is None:
                try:
                    handle = open(path, "a+b")
                except OSError as exc:
                    raise StoreError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
            try:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, study_id, os.SEEK_SET)
            except OSError:
                if not holders:
                    handle.close()
                raise StudyLocked(
                    f"study {name!r} in {where} is being driven by another running process; "
                    "wait for it to finish or stop it (a killed process releases its lock by itself)"
                ) from None
            self._files[path] = handle
            self._holders.setdefault(path, {})[study_id] = store

    def is_held(self, path: str, study_id: int) -> bool:
        with self._mutex:
            if study_id in self._holders.get(path, {}):
                return True
            handle = self._files.get(path)
            if handle is None:
                try:
                    handle = open(path, "rb")
                except OSError:  # no lock file (nobody ever drove it from here), or one we may not read
                    return False
            try:  # a shared lock conflicts with another process's exclusive one
                fcntl.lockf(handle, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, study_id, os.SEEK_SET)
            except OSError:
                return True
            else:
                fcntl.lockf(handle, fcntl.LOCK_UN, 1, study_id, os.SEEK_SET)
                return False
            finally:
                if handle is not self._files.get(path):
                    handle.close()

    def release(self, path: str, store: object) -> None:
        with self._mutex:
            holders = self._holders.get(path)
            if not holders:
                return
            handle = self._files[path]
            for study_id in [i for i, holder in holders.items() if holder is store]:
                fcntl.lockf(handle, fcntl.LOCK_UN, 1, study_id, os.SEEK_SET)
                del holders[study_id]
            if not holders:
                handle.close()
                del self._files[path], self._holders[path]

    def forget(self) -> None:
        """In a forked child: it holds none of its parent's locks."""
        self._mutex = threading.Lock()
        self._files, self._holders = {}, {}


PROCESS_LOCKS = ProcessLocks()
os.register_at_fork(after_in_child=PROCESS_LOCKS.forget)


# SQLite's lock bytes in its unix VFS: a shared lock reads part of the shared range and EXCLUSIVE writes all
# of it; a writer waiting for EXCLUSIVE holds the pending byte, and no new shared lock is taken meanwhile.
_PENDING_BYTE = 0x40000000
_SHARED_FIRST, _SHARED_SIZE = _PENDING_BYTE + 2, 510


class ReaderPins:
    """SQLite's shared lock on a quiet WAL store, held for the immutable readers of this process.

    With it, a writer of any process can still open the store and commit to
    its ``-wal``, but cannot take the exclusive lock a last connection needs
    to checkpoint and delete that ``-wal``, nor write the file in rollback
    mode; so the file changes only while a ``-wal`` is there to say so.

    It is an open-file-description lock (Linux): unlike the process-wide
    POSIX locks that SQLite itself takes, it neither is taken over by nor
    releases SQLite's locks of this process. But closing any descriptor of
    a file drops the POSIX locks that SQLite connections of this process hold
    on it, so the descriptor of a file stays open until no store of this
    process has the file open (:meth:`opened`, :meth:`closed`). Where such
    locks do not exist, :meth:`pin` says so and immutable readers go without
    (a writer starting during a read is then noticed only by its ``-wal``).
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._fds: dict[str, int] = {}
        self._pins: dict[str, int] = {}
        self._stores: dict[str, int] = {}  # how many stores of this process have the file open

    @staticmethod
    def _lock(fd: int, kind: int, start: int = _SHARED_FIRST, size: int = _SHARED_SIZE) -> None:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", kind, os.SEEK_SET, start, size, 0))

    def _try_shared(self, fd: int) -> bool:
        """Take the shared lock as SQLite does: only while no writer holds (or waits on) the pending byte."""
        try:
            self._lock(fd, fcntl.F_RDLCK, _PENDING_BYTE, 1)
        except OSError:
            return False
        try:
            self._lock(fd, fcntl.F_RDLCK)
            return True
        except OSError:
            return False
        finally:
            self._lock(fd, fcntl.F_UNLCK, _PENDING_BYTE, 1)

    def pin(self, path: str, timeout: float = 30.0) -> bool:
        """Hold the shared lock for one more reader; False when there is no such lock, or a writer kept it exclusive."""
        if not hasattr(fcntl, "F_OFD_SETLK"):
            return False
        with self._mutex:
            if self._pins.get(path):
                self._pins[path] += 1
                return True
            fd = self._fds.get(path)
            if fd is None:
                try:
                    fd = self._fds[path] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    return False
            deadline = time.monotonic() + timeout
            while not self._try_shared(fd):  # an exclusive lock lasts a checkpoint or a commit: wait it out
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.001)
            self._pins[path] = 1
            return True

    def unpin(self, path: str) -> None:
        with self._mutex:
            if path not in self._pins:  # pinned by the parent of this forked process: not ours to release
                return
            self._pins[path] -= 1
            if not self._pins[path]:
                del self._pins[path]
                self._lock(self._fds[path], fcntl.F_UNLCK)

    def opened(self, path: str) -> None:
        with self._mutex:
            self._stores[path] = self._stores.get(path, 0) + 1

    def closed(self, path: str) -> None:
        """A store of ``path`` closed; the last one closes the descriptor (its connection is gone by now)."""
        with self._mutex:
            if path not in self._stores:  # opened by the parent of this forked process
                return
            self._stores[path] -= 1
            if self._stores[path]:
                return
            del self._stores[path]
            fd = self._fds.pop(path, None)
            if fd is not None:
                os.close(fd)

    def forget(self) -> None:
        """In a forked child: the locks and stores are its parent's (the descriptors stay open, unused)."""
        self._mutex = threading.Lock()
        self._fds, self._pins, self._stores = {}, {}, {}


READER_PINS = ReaderPins()
os.register_at_fork(after_in_child=READER_PINS.forget)


NAME_LOCKS = 1 << 40
"""Lock bytes from here on claim study names (below: study ids), so one claim never meets a study's lock."""


class StudyClaim:
    """The claim a driver takes on a study's name before its slow start (building, loading data).

    Two drivers started at once on a study that does not exist yet would both
    create it; the claim makes the second one fail at once instead, whatever
    path it reached the file by. A byte of the same lock file as the study
    locks, so the kernel drops it with its process. A file that cannot be
    locked (on read-only media, or in memory) gives an empty claim: nobody can
    write through it anyway; so does an existing file that no driver has
    started on (a copied study, another program's file), which gets no lock
    file beside it.
    """

    def __init__(self, path: str | os.PathLike[str] | None, name: str) -> None:
        self._lock: str | None = None
        if path is None or str(path) == ":memory:":
            return
        real, lock = os.path.realpath(path), lock_path(path)
        if os.path.exists(real) and not os.path.exists(lock):
            return  # a file no driver has started on (a copy, another program's): leave nothing beside it
        if not os.access(os.path.dirname(real) or ".", os.W_OK) and not os.path.exists(lock):
            return
        key = NAME_LOCKS + (zlib.crc32(name.encode()) & 0x7FFFFFFF)
        try:
            PROCESS_LOCKS.take(lock, key, self, name, Path(path))
        except StoreError as exc:
            if isinstance(exc, StudyLocked):
                raise
            return  # a lock file we may not create: nothing to claim on
        self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            PROCESS_LOCKS.release(self._lock, self)
            self._lock = None

    def __enter__(self) -> StudyClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
